"""
Building the node's output messages from numpy arrays.

This is the only module besides the node that imports message types. ``output_messages`` is the
computation of one frame's outputs, shared by depth_node (which publishes them) and
``ros2-depth process-bag`` (which writes them into a bag), so both give the same messages.
"""

from __future__ import annotations

import array
import dataclasses
from typing import Any, Collection, Dict, Optional, Sequence, Tuple

import numpy as np
from ros2_depth.camera_model import (
    distortion_from_info, fill_camera_info, PinholeCamera, undistorted_rays)
from ros2_depth.geometry import cloud_field_names, cloud_fields, fill_cloud
from ros2_depth.image_encoding import fill_image, SYSTEM_BIGENDIAN, to_rgb8
from ros2_depth.pipeline import DepthPipeline, DepthResult
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header


def image_message(header: Header, pixels: np.ndarray, encoding: str) -> Image:
    """Return an Image carrying `header` (stamp and frame_id of the input) and the given pixels."""
    msg = Image(header=header)
    return fill_image(msg, pixels, encoding)


def camera_info_message(header: Header, camera: PinholeCamera) -> CameraInfo:
    """Return a rectified CameraInfo for the given intrinsics."""
    return fill_camera_info(CameraInfo(header=header), camera)


def camera_info_copy(header: Header, info: CameraInfo) -> CameraInfo:
    """Return the input camera_info unchanged (distortion, R, P, binning, ROI) under `header`."""
    return CameraInfo(
        header=header, height=info.height, width=info.width,
        distortion_model=info.distortion_model, d=info.d, k=info.k, r=info.r, p=info.p,
        binning_x=info.binning_x, binning_y=info.binning_y, roi=info.roi,
    )


def cloud_message(
    header: Header, points: np.ndarray, names: Sequence[str] = ('x', 'y', 'z')
) -> PointCloud2:
    """
    Return an organized PointCloud2 of packed float32 fields (NaN x y z for missing points).

    `points` is (H, W, n) float32 with channel i holding field `names[i]` (x, y, z first;
    geometry.fill_cloud builds such a buffer with rgb and normals); the bytes are copied once.
    """
    names = tuple(names)
    if (points.ndim != 3 or points.shape[2] != len(names) or points.dtype != np.float32
            or names[:3] != ('x', 'y', 'z')):
        raise ValueError(
            f'points must be a float32 (H, W, {len(names)}) array for fields {list(names)} '
            f'(x, y, z first), got {points.dtype} {points.shape}'
        )
    points = np.ascontiguousarray(points)
    height, width, count = points.shape
    msg = PointCloud2(header=header, height=height, width=width)
    msg.fields = [PointField(name=n, offset=o, datatype=t, count=c)
                  for n, o, t, c in cloud_fields(names)]
    msg.is_bigendian = SYSTEM_BIGENDIAN
    msg.point_step = 4 * count
    msg.row_step = msg.point_step * width
    msg.is_dense = bool(np.isfinite(points[..., :3]).all())
    data = array.array('B')
    data.frombytes(memoryview(points).cast('B'))
    msg.data = data
    return msg


# The outputs of one frame, in the order the node publishes them: key -> what it is.
OUTPUTS = {
    'info': 'depth/camera_info: intrinsics of the output grid',
    'depth': 'depth/image: 32FC1 metres',
    'normals': 'normals/image: 32FC3 unit normals',
    'points': 'points: organized PointCloud2',
    'labels': 'labels/image: mono8 class ids',
    'labels_color': 'labels/color: rgb8 class colours',
}
# Outputs that need inference (depth/camera_info alone does not).
COMPUTED = frozenset(('depth', 'normals', 'points', 'labels', 'labels_color'))


@dataclasses.dataclass(frozen=True)
class CloudOptions:
    """
    What the cloud carries besides x y z, and how it is back-projected (depth_node's parameters).

    `rgb` (cloud_rgb) adds the packed colour, `normals` (cloud_normals) the normal fields (for a
    model with normals). `rectified` (input_rectified) false: the image is raw, and on the input
    grid the cloud follows the undistorted rays of its camera_info's K and D.
    """

    rgb: bool = True
    normals: bool = False
    rectified: bool = True


def output_messages(
    pipeline: DepthPipeline,
    header: Header,
    pixels: np.ndarray,
    encoding: str,
    camera: PinholeCamera,
    wanted: Collection[str],
    palette: Optional[np.ndarray] = None,
    info: Optional[CameraInfo] = None,
    cloud: CloudOptions = CloudOptions(),
) -> Tuple[Dict[str, Any], Optional[DepthResult]]:
    """
    Compute one image's `wanted` outputs (keys of OUTPUTS) as messages carrying `header`.

    Returns the messages in OUTPUTS order and the pipeline's result (None when only 'info' was
    wanted, which needs no inference). 'normals' and the labels are left out for a model that
    does not predict them; 'labels_color' needs the model's `palette` (`label_palette`). A
    pipeline with output_resolution 'input' needs the image's `info` (its camera_info), which
    'info' then is, under `header`. Raises what the pipeline raises (PipelineError,
    BackendError) for an image it cannot process, and CameraInfoError for a distortion the raw
    image's cloud cannot follow.
    """
    unknown = set(wanted) - set(OUTPUTS)
    if unknown:
        raise ValueError(f'unknown outputs {sorted(unknown)}; known: {list(OUTPUTS)}')
    on_input = pipeline.output_resolution == 'input'
    if on_input and info is None and {'info', 'points'} & set(wanted):
        raise ValueError('output resolution "input" needs the camera_info of the image')
    rays = None
    if 'points' in wanted and on_input and not cloud.rectified:
        distortion = distortion_from_info(info)
        rays = None if distortion is None else undistorted_rays(distortion)
    cloud_normals = 'points' in wanted and cloud.normals
    want_labels = bool({'labels', 'labels_color'} & set(wanted))
    result: Optional[DepthResult] = None
    if COMPUTED & set(wanted):
        result = pipeline.run(pixels, encoding, camera,
                              want_normals='normals' in wanted or cloud_normals,
                              want_labels=want_labels)
        out_camera = result.camera
    else:
        out_camera = pipeline.output_camera(camera)
    messages: Dict[str, Any] = {}
    if 'info' in wanted:
        messages['info'] = (camera_info_copy(header, info) if on_input
                            else camera_info_message(header, out_camera))
    if result is None:
        return messages, None
    if 'depth' in wanted:
        messages['depth'] = image_message(header, result.depth, '32FC1')
    if 'normals' in wanted and result.normals is not None:
        messages['normals'] = image_message(header, result.normals, '32FC3')
    if 'points' in wanted:
        rgb = pipeline.output_colors(to_rgb8(pixels, encoding), camera) if cloud.rgb else None
        normals = result.normals if cloud_normals else None
        points = fill_cloud(result.depth, out_camera, rays, rgb, normals)
        messages['points'] = cloud_message(
            header, points, cloud_field_names(rgb is not None, normals is not None))
    if 'labels' in wanted and result.labels is not None:
        messages['labels'] = image_message(header, result.labels, 'mono8')
    if 'labels_color' in wanted and result.labels is not None:
        if palette is None:
            raise ValueError('labels_color needs the palette of the model (label_palette)')
        messages['labels_color'] = image_message(header, palette[result.labels], 'rgb8')
    return messages, result


def cloud_to_structured(msg: PointCloud2) -> np.ndarray:
    """Read every FLOAT32 field of an organized PointCloud2 into an (H, W) structured array."""
    order = '>' if msg.is_bigendian else '<'
    fields = [f for f in msg.fields if f.datatype == PointField.FLOAT32 and f.count == 1]
    dtype = np.dtype({
        'names': [f.name for f in fields],
        'formats': [order + 'f4'] * len(fields),
        'offsets': [f.offset for f in fields],
        'itemsize': msg.point_step,
    })
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.row_step)
    return np.ascontiguousarray(raw[:, : msg.width * msg.point_step]).view(dtype)


def cloud_to_numpy(msg: PointCloud2) -> np.ndarray:
    """Read the float32 x, y, z fields of an organized PointCloud2 into an (H, W, 3) array."""
    fields = {f.name: f for f in msg.fields}
    if any(n not in fields or fields[n].datatype != PointField.FLOAT32 for n in 'xyz'):
        raise ValueError(f'expected float32 x, y, z fields, got {sorted(fields)}')
    order = '>' if msg.is_bigendian else '<'
    dtype = np.dtype(
        {
            'names': list('xyz'),
            'formats': [order + 'f4'] * 3,
            'offsets': [fields[n].offset for n in 'xyz'],
            'itemsize': msg.point_step,
        }
    )
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.row_step)
    rows = np.ascontiguousarray(raw[:, : msg.width * msg.point_step]).view(dtype)
    return np.stack([rows[n] for n in 'xyz'], axis=-1).astype(np.float32)
