"""
Seeded generator of malformed and edge-case camera input for the depth_node fuzz test.

A case is one kind of input with its parameters drawn once (sizes, encoding, step,
intrinsics, ...); a round sends several messages of one case, differing only in stamp and pixel
content, so the node meets the same problem several times in a row. Each case says what the node
must do with it:

- ``error``: drop the frame with one error line naming ``reason``, publish nothing;
- ``accept``: process it like any camera frame (odd but valid input);
- ``either``: extreme but finite intrinsics: accepted with sane outputs, or refused with one line;
- ``unmatched``: images whose own camera_info never comes: dropped or paired with the latest
  camera_info, with throttled warnings, never an error;
- ``info_only``: camera_info messages (garbage included) without images: nothing to log.

Everything comes from one ``numpy.random.Generator``, so a seed gives the same messages.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from ros2_depth.image_encoding import encoding_layout, ImageEncodingError
from sensor_msgs.msg import CameraInfo, Image

FRAME = 'fuzz_camera_optical_frame'
COLOUR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
NON_COLOUR_ENCODINGS = (
    'mono16', 'rgb16', 'bgra16', '16UC1', '32FC1', '64FC4', '8UC3', '8SC1', '16SC3', '32SC2',
)
UNKNOWN_ENCODINGS = (
    'yuv422', 'UYVY', 'bayer_rggb8', 'nv12', 'jpeg', '', 'RGB8', 'rgb 8', ' rgb8', 'rgb8\n',
    '8FC1', '64FC5', '7UC1', '16UC0', 'rgb8\x1b[31m', 'mono8\nmono8', 'tiefe\u2713',
)
UINT32_MAX = 2 ** 32 - 1
Stamp = Tuple[int, int]


@dataclasses.dataclass(frozen=True)
class InfoSpec:
    """A camera_info's content: pinhole intrinsics in P (or K), binning, ROI and the rest."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    matrix: str = 'P'  # 'P': P and K set; 'K': P all zeros; 'none': both zeros
    k_override: Optional[Tuple[float, ...]] = None  # K's 9 values instead of the intrinsics
    binning: Tuple[int, int] = (0, 0)
    roi: Tuple[int, int, int, int] = (0, 0, 0, 0)  # x_offset, y_offset, width, height
    distortion_model: str = 'plumb_bob'
    d: Tuple[float, ...] = (0.0,) * 5
    frame_id: Optional[str] = None  # None: the image's frame_id


@dataclasses.dataclass(frozen=True)
class Case:
    """One kind of input, its parameters and what the node must do with it."""

    kind: str
    outcome: str  # 'error', 'accept', 'either', 'unmatched' or 'info_only'
    width: int
    height: int
    encoding: str = 'rgb8'
    step: Optional[int] = None  # None: the encoding's row bytes (or 3 x width if unknown)
    data_size: Optional[int] = None  # None: step x height
    bigendian: int = 0
    frame_id: str = FRAME
    info: Optional[InfoSpec] = None  # None: no camera_info at all
    info_stamp_offset_s: int = 0  # the camera_info's stamp, relative to the image's
    stamp_style: str = 'plain'  # 'plain', 'zero', 'negative', 'nanosec_overflow', 'max'
    reason: str = ''  # for 'error': words the node's error line contains
    batch: int = 1

    def row_bytes(self) -> int:
        """Return the bytes of one unpadded row for the encoding (3 per pixel if unknown)."""
        try:
            dtype, channels = encoding_layout(self.encoding)
        except ImageEncodingError:
            return 3 * self.width
        return self.width * channels * dtype.itemsize

    def describe(self) -> str:
        """Return a one-line description for reports."""
        info = self.info
        cam = 'no camera_info' if info is None else (
            f'info {info.width}x{info.height} fx={info.fx:.4g} fy={info.fy:.4g} '
            f'cx={info.cx:.4g} cy={info.cy:.4g} {info.matrix} bin={info.binning} roi={info.roi}')
        return (f'{self.kind} ({self.outcome}): {self.width}x{self.height} '
                f'{self.encoding!r} step={self.step} data={self.data_size} '
                f'bigendian={self.bigendian} frame={self.frame_id[:40]!r}, {cam}, '
                f'stamps {self.stamp_style}, x{self.batch}')


def _size(rng: np.random.Generator) -> Tuple[int, int]:
    return int(rng.integers(32, 161)), int(rng.integers(24, 121))


def _intrinsics(rng: np.random.Generator, width: int, height: int) -> Dict[str, float]:
    fx = float(width * rng.uniform(0.6, 1.6))
    return {
        'fx': fx,
        'fy': float(fx * rng.uniform(0.9, 1.1)),
        'cx': float((width - 1) / 2 + rng.uniform(-5, 5)),
        'cy': float((height - 1) / 2 + rng.uniform(-5, 5)),
    }


def _info(rng: np.random.Generator, width: int, height: int, **fields: object) -> InfoSpec:
    return InfoSpec(width=width, height=height, **{**_intrinsics(rng, width, height), **fields})


def _batch(rng: np.random.Generator, width: int = 0, height: int = 0) -> int:
    """Several messages for small images, two or three at 640x480 and above."""
    return int(rng.integers(2, 4)) if width * height >= 640 * 480 else int(rng.integers(8, 31))


def _pick(rng: np.random.Generator, items: Sequence) -> object:
    return items[int(rng.integers(len(items)))]


def _plain(kind: str, outcome: str, info_fields: Optional[Dict[str, object]] = None,
           **case_fields: object) -> Callable[[np.random.Generator], Case]:
    """Return a kind of small rgb8 frames with sane intrinsics but for the fields given."""
    def make(rng: np.random.Generator) -> Case:
        width, height = _size(rng)
        info = _info(rng, width, height, **(info_fields or {}))
        return Case(kind, outcome, width, height, info=info, batch=_batch(rng), **case_fields)

    return make


def good_case(rng: np.random.Generator, real_size: bool = False) -> Case:
    """Return a good camera frame: colour encoding, tight or padded rows, sane intrinsics."""
    width, height = (640, 480) if real_size else _size(rng)
    encoding = str(_pick(rng, COLOUR_ENCODINGS))
    case = Case('good', 'accept', width, height, encoding, info=_info(rng, width, height))
    if rng.random() < 0.3:
        case = dataclasses.replace(case, step=case.row_bytes() + int(rng.integers(1, 9)))
    return case


# Malformed input: the node drops each with one error line.

def _unknown_encoding(rng: np.random.Generator) -> Case:
    if rng.random() < 0.3:
        alphabet = string.ascii_letters + string.digits + string.punctuation + ' \t\n\u00e9'
        encoding = ''.join(_pick(rng, alphabet) for _ in range(int(rng.integers(1, 40))))
        if encoding in COLOUR_ENCODINGS:
            encoding += '?'
    else:
        encoding = str(_pick(rng, UNKNOWN_ENCODINGS))
    width, height = _size(rng)
    return Case('unknown_encoding', 'error', width, height, encoding,
                info=_info(rng, width, height), reason='encoding', batch=_batch(rng))


def _non_colour_encoding(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    return Case('non_colour_encoding', 'error', width, height,
                str(_pick(rng, NON_COLOUR_ENCODINGS)), info=_info(rng, width, height),
                reason='encoding', batch=_batch(rng))


def _step_too_small(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    case = Case('step_too_small', 'error', width, height, str(_pick(rng, COLOUR_ENCODINGS)),
                info=_info(rng, width, height), reason='is smaller than', batch=_batch(rng))
    return dataclasses.replace(case, step=int(rng.integers(0, case.row_bytes())))


def _step_without_its_data(rng: np.random.Generator) -> Case:
    """Return a padded step with data only for unpadded rows."""
    width, height = _size(rng)
    case = Case('step_without_its_data', 'error', width, height, 'rgb8',
                info=_info(rng, width, height), reason='needs exactly', batch=_batch(rng))
    pad = int(rng.integers(1, 64)) if rng.random() < 0.8 else UINT32_MAX - case.row_bytes()
    return dataclasses.replace(case, step=case.row_bytes() + pad,
                               data_size=case.row_bytes() * height)


def _truncated_data(rng: np.random.Generator) -> Case:
    real = rng.random() < 0.1
    width, height = (640, 480) if real else _size(rng)
    full = 3 * width * height
    data = int(_pick(rng, [0, 1, full - 1, full // 2, int(rng.integers(0, full))]))
    return Case('truncated_data', 'error', width, height, 'rgb8', data_size=data,
                info=_info(rng, width, height), reason='needs exactly',
                batch=_batch(rng, width, height))


def _overlong_data(rng: np.random.Generator) -> Case:
    real = rng.random() < 0.1
    width, height = (640, 480) if real else _size(rng)
    full = 3 * width * height
    data = full + int(_pick(rng, [1, 3 * width, full, int(rng.integers(1, 4096))]))
    return Case('overlong_data', 'error', width, height, 'rgb8', data_size=data,
                info=_info(rng, width, height), reason='needs exactly',
                batch=_batch(rng, width, height))


def _zero_size(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    width, height = _pick(rng, [(0, height), (width, 0), (0, 0)])
    return Case('zero_size', 'error', width, height, 'rgb8',
                data_size=int(_pick(rng, [0, 3, 3 * max(width, height)])),
                info=_info(rng, max(width, 1), max(height, 1)), reason='empty size',
                batch=_batch(rng))


def _tiny_size(rng: np.random.Generator) -> Case:
    width, height = _pick(rng, [(1, 1), (15, 15), (int(rng.integers(1, 16)), 100),
                                (100, int(rng.integers(1, 16))), (8, 6)])
    return Case('tiny_size', 'error', width, height, str(_pick(rng, COLOUR_ENCODINGS)),
                info=_info(rng, width, height), reason='too small', batch=_batch(rng))


def _over_max_pixels(rng: np.random.Generator, max_pixels: int) -> Case:
    """Return sizes above max_image_pixels (with a few bytes of data), or a real big frame."""
    if rng.random() < 0.15:  # a real frame just over the limit
        width = int(np.ceil(np.sqrt(max_pixels * 4 / 3))) + 8
        height = width * 3 // 4
        return Case('over_max_pixels', 'error', width, height, 'rgb8',
                    info=_info(rng, width, height), reason='max_image_pixels', batch=2)
    width = int(rng.integers(max_pixels // 1000 + 1, UINT32_MAX))
    height = int(rng.integers(max_pixels // width + 1, min(UINT32_MAX, 10 * max_pixels) + 1))
    if rng.random() < 0.5:
        width, height = height, width
    return Case('over_max_pixels', 'error', width, height, 'rgb8',
                data_size=int(rng.integers(0, 1000)), info=_info(rng, width, height),
                reason='max_image_pixels', batch=_batch(rng))


def _big_size_little_data(rng: np.random.Generator, max_pixels: int) -> Case:
    """Return a size within max_image_pixels that its few bytes of data cannot fill."""
    width, height = _pick(rng, [(1000, 1000), (1, max_pixels), (max_pixels, 1),
                                (int(rng.integers(200, 1000)), int(rng.integers(200, 1000)))])
    return Case('big_size_little_data', 'error', width, height, 'rgb8',
                data_size=int(rng.integers(0, 5000)), info=_info(rng, width, height),
                reason='needs exactly', batch=_batch(rng))


def _size_not_camera_info(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    other = _pick(rng, [(height, width), (width + 1, height), (width, height - 1),
                        (2 * width, 2 * height), (640, 480)])
    if other == (width, height):
        other = (width + 1, height)
    return Case('size_not_camera_info', 'error', width, height, 'rgb8',
                info=_info(rng, *other), reason='camera_info describes', batch=_batch(rng))


def _bad_focal_length(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    bad = float(_pick(rng, [np.nan, np.inf, -np.inf, 0.0, -0.0, -500.0, -1e-9]))
    field = str(_pick(rng, ['fx', 'fy']))
    matrix = str(_pick(rng, ['P', 'K']))
    info = dataclasses.replace(_info(rng, width, height, matrix=matrix), **{field: bad})
    return Case('bad_focal_length', 'error', width, height, 'rgb8', info=info,
                reason=f'camera_info {matrix} has focal lengths', batch=_batch(rng))


def _bad_principal_point(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    bad = float(_pick(rng, [np.nan, np.inf, -np.inf]))
    field = str(_pick(rng, ['cx', 'cy']))
    info = dataclasses.replace(_info(rng, width, height), **{field: bad})
    return Case('bad_principal_point', 'error', width, height, 'rgb8', info=info,
                reason='camera_info P has principal point', batch=_batch(rng))


def _bad_p_good_k(rng: np.random.Generator) -> Case:
    """P set but broken while K is fine: an error naming P, never a silent fall-back to K."""
    width, height = _size(rng)
    good = _info(rng, width, height)
    k = (good.fx, 0.0, good.cx, 0.0, good.fy, good.cy, 0.0, 0.0, 1.0)
    info = dataclasses.replace(good, fx=float(_pick(rng, [np.nan, -good.fx, 0.0])), k_override=k)
    if info.fx == 0.0:
        info = dataclasses.replace(info, fy=0.0)
    return Case('bad_p_good_k', 'error', width, height, 'rgb8', info=info,
                reason='camera_info P has', batch=_batch(rng))


def _roi_outside_sensor(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    sensor_w, sensor_h = width + int(rng.integers(0, 50)), height + int(rng.integers(0, 50))
    x_off = sensor_w - width + int(rng.integers(1, 200))
    y_off = int(rng.integers(0, sensor_h - height + 1))
    if rng.random() < 0.5:  # below the sensor instead of right of it
        x_off = int(rng.integers(0, sensor_w - width + 1))
        y_off = sensor_h - height + int(rng.integers(1, 200))
    info = _info(rng, sensor_w, sensor_h, roi=(x_off, y_off, width, height))
    return Case('roi_outside_sensor', 'error', width, height, 'rgb8', info=info,
                reason='ROI', batch=_batch(rng))


def _binning_to_nothing(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    binning = _pick(rng, [(width + 1, 1), (1, height + 1), (UINT32_MAX, UINT32_MAX)])
    return Case('binning_to_nothing', 'error', width, height, 'rgb8',
                info=_info(rng, width, height, binning=binning), reason='camera size',
                batch=_batch(rng))


def _camera_info_without_size(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    sizes = [{'width': 0}, {'height': 0}, {'width': 0, 'height': 0}]
    info = dataclasses.replace(_info(rng, width, height), **_pick(rng, sizes))
    return Case('camera_info_without_size', 'error', width, height, 'rgb8', info=info,
                reason='camera size', batch=_batch(rng))


# Odd but valid input: processed like any frame.

def _padded_rows(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    case = Case('padded_rows', 'accept', width, height, str(_pick(rng, COLOUR_ENCODINGS)),
                info=_info(rng, width, height), batch=_batch(rng))
    return dataclasses.replace(case, step=case.row_bytes() + int(rng.integers(1, 14)))


def _bigendian_flag(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    return Case('bigendian_8bit', 'accept', width, height, str(_pick(rng, COLOUR_ENCODINGS)),
                bigendian=1, info=_info(rng, width, height), batch=_batch(rng))


def _extreme_aspect(rng: np.random.Generator) -> Case:
    width, height = _pick(rng, [(16, 16), (2000, 16), (16, 2000), (16, 17), (1000, 20)])
    return Case('extreme_aspect', 'accept', width, height, 'mono8',
                info=_info(rng, width, height), batch=_batch(rng))


def _odd_stamps(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    style = str(_pick(rng, ['zero', 'negative', 'nanosec_overflow', 'max']))
    return Case('odd_stamps', 'accept', width, height, 'rgb8', info=_info(rng, width, height),
                stamp_style=style, batch=_batch(rng))


def _binning_and_roi(rng: np.random.Generator) -> Case:
    """Return a binned region of a bigger sensor, described correctly."""
    bx, by = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    width, height = _size(rng)
    roi = (int(rng.integers(0, 300)), int(rng.integers(0, 200)), width * bx, height * by)
    margin = rng.integers(0, 100, 2)
    sensor = (roi[0] + roi[2] + int(margin[0]), roi[1] + roi[3] + int(margin[1]))
    info = _info(rng, *sensor, binning=(bx, by), roi=roi)
    return Case('binning_and_roi', 'accept', width, height, 'rgb8', info=info, batch=_batch(rng))


def _garbage_k_and_distortion(rng: np.random.Generator) -> Case:
    """P is good; K, D and the distortion model (all unused for rectified images) are junk."""
    width, height = _size(rng)
    junk = (np.nan, np.inf, -np.inf, -1.0, 0.0, 1e308)
    d = tuple(float(_pick(rng, junk)) for _ in range(int(rng.integers(0, 20))))
    info = _info(rng, width, height, k_override=tuple(float(_pick(rng, junk)) for _ in range(9)),
                 d=d, distortion_model=str(_pick(rng, ['', 'rational_polynomial', 'fisheye?'])))
    return Case('garbage_k_and_distortion', 'accept', width, height, 'rgb8', info=info,
                batch=_batch(rng))


def _odd_frame_id(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    frame = str(_pick(rng, ['x' * 5000, 'kamera_\u00f6ptik', 'a b', '/leading/slash',
                            'tab\there']))
    return Case('odd_frame_id', 'accept', width, height, 'rgb8', frame_id=frame,
                info=_info(rng, width, height), batch=_batch(rng))


def _extreme_intrinsics(rng: np.random.Generator) -> Case:
    """Finite but absurd intrinsics: tiny or huge focal lengths, a far principal point."""
    width, height = _size(rng)
    field, value = _pick(rng, [('fx', 5e-324), ('fx', 1e-300), ('fy', 1e-30), ('fx', 1e300),
                               ('fy', 1.7e308), ('cx', 1e300), ('cy', -1e300), ('cx', 1e30),
                               ('cx', -1e6), ('fx', 1e-3)])
    info = dataclasses.replace(_info(rng, width, height), **{field: value})
    return Case('extreme_intrinsics', 'either', width, height, 'rgb8', info=info,
                batch=_batch(rng))


# Images whose camera_info does not come.

def _camera_info_of_another_stamp(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    return Case('camera_info_of_another_stamp', 'unmatched', width, height, 'rgb8',
                info=_info(rng, width, height),
                info_stamp_offset_s=int(_pick(rng, [-100, -1, 1, 100])),
                batch=int(rng.integers(3, 9)))


def _no_camera_info(rng: np.random.Generator) -> Case:
    width, height = _size(rng)
    return Case('no_camera_info', 'unmatched', width, height, 'rgb8', info=None,
                batch=int(rng.integers(3, 9)))


def _camera_infos_alone(rng: np.random.Generator) -> Case:
    return Case('camera_infos_alone', 'info_only', 0, 0, batch=_batch(rng))


_uncalibrated = _plain('uncalibrated', 'error', {'matrix': 'none'}, reason='neither P nor K')
_k_only = _plain('k_only', 'accept', {'matrix': 'K'}, encoding='bgr8')
_empty_frame_id = _plain('empty_frame_id', 'accept', frame_id='')
_frame_id_not_camera_info = _plain('frame_id_not_camera_info', 'accept',
                                   {'frame_id': 'some_other_frame'})


def _with_limit(kind: Callable, max_pixels: int) -> Callable:
    return lambda rng: kind(rng, max_pixels)


def case_kinds(max_pixels: int) -> Dict[str, Callable[[np.random.Generator], Case]]:
    """Return every kind's generator by name (max_pixels: the node's max_image_pixels)."""
    kinds = [
        _unknown_encoding, _non_colour_encoding, _step_too_small, _step_without_its_data,
        _truncated_data, _overlong_data, _zero_size, _tiny_size,
        _with_limit(_over_max_pixels, max_pixels),
        _with_limit(_big_size_little_data, max_pixels), _size_not_camera_info,
        _bad_focal_length, _bad_principal_point, _bad_p_good_k, _uncalibrated,
        _roi_outside_sensor, _binning_to_nothing, _camera_info_without_size,
        _padded_rows, _bigendian_flag, _extreme_aspect, _odd_stamps, _binning_and_roi, _k_only,
        _garbage_k_and_distortion, _odd_frame_id, _empty_frame_id, _frame_id_not_camera_info,
        _extreme_intrinsics, _camera_info_of_another_stamp, _no_camera_info, _camera_infos_alone,
    ]
    rng = np.random.default_rng(0)
    return {kind(rng).kind: kind for kind in kinds}


class StampSource:
    """Unique stamps (no two share the node's nanosecond key), in the styles the cases ask for."""

    def __init__(self) -> None:
        """Start at an ordinary recent time."""
        self._next = 1_800_000_000 * 10 ** 9
        self._used: set = set()
        self._odd = 0

    def take(self, style: str = 'plain', offset_s: int = 0) -> Tuple[Stamp, Stamp]:
        """Return (image stamp, camera_info stamp): the latter offset_s seconds away."""
        while True:
            self._odd += 1
            if style == 'zero':
                image = (0, self._odd)
            elif style == 'negative':
                image = (-self._odd, 999_999_999)
            elif style == 'nanosec_overflow':  # not normalised: nanosec beyond a second
                image = (1_000_000 + self._odd, 1_000_000_000 + self._odd)
            elif style == 'max':
                image = (2 ** 31 - 1, UINT32_MAX - self._odd)
            else:
                self._next += 1_000_000  # 1 ms apart
                image = divmod(self._next, 10 ** 9)
            info = (image[0] + offset_s, image[1])
            key = image[0] * 10 ** 9 + image[1]
            info_key = info[0] * 10 ** 9 + info[1]
            if key in self._used or info_key in self._used:
                continue
            self._used.update({key, info_key})
            return image, info


def camera_info_message(spec: InfoSpec, stamp: Stamp, frame_id: str) -> CameraInfo:
    """Build the CameraInfo a case describes."""
    msg = CameraInfo()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = frame_id if spec.frame_id is None else spec.frame_id
    msg.width, msg.height = spec.width, spec.height
    msg.distortion_model = spec.distortion_model
    msg.d = list(spec.d)
    k = [spec.fx, 0.0, spec.cx, 0.0, spec.fy, spec.cy, 0.0, 0.0, 1.0]
    p = [spec.fx, 0.0, spec.cx, 0.0, 0.0, spec.fy, spec.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    if spec.matrix != 'P':
        p = [0.0] * 12
    if spec.matrix == 'none':
        k = [0.0] * 9
    msg.k = list(spec.k_override) if spec.k_override is not None else k
    msg.p = p
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.binning_x, msg.binning_y = spec.binning
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = spec.roi
    return msg


def garbage_camera_info(rng: np.random.Generator, stamp: Stamp) -> CameraInfo:
    """Return a camera_info with every field random (NaN, Inf and extreme sizes included)."""
    values = (np.nan, np.inf, -np.inf, 0.0, -1.0, 1e-300, 1e300, 525.0, 319.5)
    msg = CameraInfo()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = str(_pick(rng, [FRAME, '', 'junk']))
    msg.width, msg.height = (int(v) for v in rng.integers(0, UINT32_MAX, 2, dtype=np.uint64))
    msg.d = [float(_pick(rng, values)) for _ in range(int(rng.integers(0, 10)))]
    msg.k = [float(_pick(rng, values)) for _ in range(9)]
    msg.p = [float(_pick(rng, values)) for _ in range(12)]
    msg.binning_x, msg.binning_y = (int(v) for v in rng.integers(0, UINT32_MAX, 2, np.uint64))
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = (
        int(v) for v in rng.integers(0, UINT32_MAX, 4, np.uint64))
    return msg


def image_message(case: Case, stamp: Stamp, rng: np.random.Generator) -> Image:
    """Build one Image of a case, with random pixel content."""
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
    msg.header.frame_id = case.frame_id
    msg.width, msg.height = case.width, case.height
    msg.encoding = case.encoding
    msg.is_bigendian = case.bigendian
    msg.step = case.row_bytes() if case.step is None else case.step
    size = msg.step * case.height if case.data_size is None else case.data_size
    msg.data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return msg


def round_messages(
    case: Case, stamps: StampSource, rng: np.random.Generator
) -> List[Tuple[Optional[CameraInfo], Optional[Image]]]:
    """Return a round's (camera_info, image) pairs (either may be None), in sending order."""
    pairs = []
    for _ in range(case.batch):
        image_stamp, info_stamp = stamps.take(case.stamp_style, case.info_stamp_offset_s)
        if case.outcome == 'info_only':
            pairs.append((garbage_camera_info(rng, image_stamp), None))
            continue
        info = None if case.info is None else camera_info_message(
            case.info, info_stamp, case.frame_id)
        pairs.append((info, image_message(case, image_stamp, rng)))
    return pairs


# Compressed payloads (sensor_msgs/CompressedImage, image_transport "compressed").

@dataclasses.dataclass(frozen=True)
class CompressedCase:
    """One CompressedImage payload and what the node must do with it (outcomes as for Case)."""

    kind: str
    outcome: str  # 'accept', 'error' or 'either' (damage the decoder may or may not notice)
    format: str  # noqa: A003 (the message field)
    data: bytes
    width: int  # the picture's size before any damage
    height: int
    reason: str = ''  # for 'error': words the error line contains


_JPEG_FORMATS = {3: ('rgb8; jpeg compressed bgr8', 'bgr8; jpeg compressed bgr8', 'jpeg'),
                 1: ('mono8; jpeg compressed mono8', 'mono8; jpeg compressed ', 'jpeg')}
_PNG_FORMATS = {3: ('rgb8; png compressed bgr8', 'bgr8; png compressed bgr8', 'png'),
                1: ('mono8; png compressed mono8', 'mono8; png compressed ', 'png')}


def _encoded(rng: np.random.Generator, codec: str) -> Tuple[bytes, str, int, int, int]:
    """Return (payload, a valid format, width, height, channels) of a random small picture."""
    import cv2  # the tests' own encoder, as compressed_image_transport uses

    width, height = _size(rng)
    channels = int(_pick(rng, [1, 3]))
    shape = (height, width) if channels == 1 else (height, width, 3)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    ok, data = cv2.imencode('.jpg' if codec == 'jpeg' else '.png', pixels)
    assert ok
    formats = (_JPEG_FORMATS if codec == 'jpeg' else _PNG_FORMATS)[channels]
    return data.tobytes(), str(_pick(rng, formats)), width, height, channels


def compressed_payload_case(rng: np.random.Generator) -> CompressedCase:
    """Return a random good, damaged or mislabelled jpeg/png payload with its expected outcome."""
    codec = str(_pick(rng, ['jpeg', 'png']))
    data, text, width, height, channels = _encoded(rng, codec)
    other = 'png' if codec == 'jpeg' else 'jpeg'
    kind = str(_pick(rng, ['good', 'good', 'truncated', 'garbage', 'wrong_codec',
                           'compressed_depth', 'unknown_format', 'wrong_channels', 'bit_flips']))
    case = CompressedCase(kind, 'error', text, data, width, height)
    if kind == 'good':
        return dataclasses.replace(case, outcome='accept')
    if kind == 'truncated':
        cut = int(rng.integers(len(data) // 2, len(data) - 2))
        return dataclasses.replace(case, data=data[:cut], reason='truncated')
    if kind == 'garbage':
        junk = rng.integers(0, 256, int(rng.integers(1, 5000)), dtype=np.uint8)
        junk[0] = int(rng.integers(0, 0x89))  # no jpeg or png signature
        return dataclasses.replace(case, data=junk.tobytes(), reason='neither jpeg nor png')
    if kind == 'wrong_codec':
        return dataclasses.replace(case, format=text.replace(codec, other) if ';' in text
                                   else other, reason='but the data is')
    if kind == 'compressed_depth':
        return dataclasses.replace(case, format=str(_pick(rng, [
            '16UC1; compressedDepth png', '32FC1; compressedDepth', '16UC1; compressedDepth'])),
            reason='compressedDepth')
    if kind == 'unknown_format':
        return dataclasses.replace(case, format=str(_pick(rng, [
            'tiff', 'rgb8; h264 compressed bgr8', 'rgb8; jpeg packed bgr8', 'bgr8; ; png',
            'webp', 'rgb8; qoi compressed bgr8'])), reason='unsupported compressed image format')
    if kind == 'wrong_channels':
        named = 'bgr8' if channels == 1 else 'mono8'
        return dataclasses.replace(case, format=f'{named}; {codec} compressed {named}',
                                   reason='but its format names')
    # bit_flips: damage inside the compressed stream, which a decoder may or may not notice
    damaged = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        index = int(rng.integers(len(data) // 2, len(data) - 16))
        damaged[index] ^= 1 << int(rng.integers(0, 8))
    return dataclasses.replace(case, outcome='either', data=bytes(damaged))
