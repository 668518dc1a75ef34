"""
The papers' evaluation protocols: where and over which depth range a test image is scored.

BTS ``utils/eval_with_pngs.py`` (cleinc/bts on GitHub) and monodepth2 ``evaluate_depth.py``
(nianticlabs/monodepth2): the NYU Eigen crop with depth in [1e-3, 10] m, the KITTI Garg and Eigen
crops with depth in [1e-3, 80] m; predictions are clipped to the depth range (as monodepth2 and
BTS do) and ground truth outside it is not scored. The metrics themselves are the runtime's
(``ros2_depth.metrics``); depth metrics are computed per image and then averaged over images.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np
from ros2_depth.metrics import depth_metrics

NYU_SIZE = (480, 640)  # (height, width) the NYU Eigen crop is defined on
NYU_EIGEN_CROP = (45, 471, 41, 601)  # rows [45, 471), columns [41, 601) at 480 x 640
# KITTI crops as fractions of the image: (top, bottom, left, right); indices are int(fraction * n)
# as in monodepth2 evaluate_depth.py (Garg) and BTS eval_with_pngs.py (Eigen).
KITTI_GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
KITTI_EIGEN_CROP = (0.3324324, 0.91351351, 0.0359477, 0.96405229)

CROPS = ('none', 'nyu_eigen', 'kitti_garg', 'kitti_eigen')

Slices = Tuple[slice, slice]


def nyu_eigen_crop(height: int, width: int) -> Slices:
    """
    Return the (rows, columns) slices of the NYU Eigen crop for an image of this size.

    At 480 x 640 this is exactly [45:471, 41:601] (BTS eval_with_pngs.py). Other sizes scale each
    bound proportionally and round it down: rows [45 h // 480, 471 h // 480), columns
    [41 w // 640, 601 w // 640); at 240 x 320 that is [22:235, 20:300].
    """
    top, bottom, left, right = NYU_EIGEN_CROP
    ref_h, ref_w = NYU_SIZE
    return (slice(top * height // ref_h, bottom * height // ref_h),
            slice(left * width // ref_w, right * width // ref_w))


def _fraction_crop(fractions: Tuple[float, float, float, float], height: int,
                   width: int) -> Slices:
    top, bottom, left, right = fractions
    return (slice(int(top * height), int(bottom * height)),
            slice(int(left * width), int(right * width)))


def kitti_garg_crop(height: int, width: int) -> Slices:
    """Return the KITTI Garg crop: rows 0.40810811-0.99189189 h, cols 0.03594771-0.96405229 w."""
    return _fraction_crop(KITTI_GARG_CROP, height, width)


def kitti_eigen_crop(height: int, width: int) -> Slices:
    """Return the KITTI Eigen crop: rows 0.3324324-0.91351351 h, cols 0.0359477-0.96405229 w."""
    return _fraction_crop(KITTI_EIGEN_CROP, height, width)


def crop_mask(crop: str, height: int, width: int) -> np.ndarray:
    """Return a (height, width) bool mask that is True inside the named crop ('none': all)."""
    if crop not in CROPS:
        raise ValueError(f'crop must be one of {CROPS}, got {crop!r}')
    if crop == 'none':
        return np.ones((height, width), dtype=bool)
    crops = {'nyu_eigen': nyu_eigen_crop, 'kitti_garg': kitti_garg_crop,
             'kitti_eigen': kitti_eigen_crop}
    mask = np.zeros((height, width), dtype=bool)
    mask[crops[crop](height, width)] = True
    return mask


@dataclasses.dataclass(frozen=True)
class EvalProtocol:
    """Where and over which depth range an evaluation scores pixels."""

    name: str
    crop: str = 'none'
    min_depth: float = 1e-3
    max_depth: float = 80.0

    def __post_init__(self) -> None:
        """Reject unknown crops and empty depth ranges."""
        if self.crop not in CROPS:
            raise ValueError(f'crop must be one of {CROPS}, got {self.crop!r}')
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got {self.min_depth}, '
                             f'{self.max_depth}')

    def mask(self, height: int, width: int) -> np.ndarray:
        """Return the crop mask of an image of this size."""
        return crop_mask(self.crop, height, width)

    def depth_metrics(self, pred: np.ndarray, gt: np.ndarray,
                      mask: Optional[np.ndarray] = None) -> Dict[str, float]:
        """Score one image under this protocol: its crop, its caps, prediction clipping."""
        region = self.mask(*gt.shape[-2:])
        if mask is not None:
            region &= mask
        return depth_metrics(pred, gt, region, self.min_depth, self.max_depth)


PROTOCOLS: Dict[str, EvalProtocol] = {
    'nyu': EvalProtocol('nyu', crop='nyu_eigen', min_depth=1e-3, max_depth=10.0),
    'kitti_garg': EvalProtocol('kitti_garg', crop='kitti_garg', min_depth=1e-3, max_depth=80.0),
    'kitti_eigen': EvalProtocol('kitti_eigen', crop='kitti_eigen', min_depth=1e-3,
                                max_depth=80.0),
    'full': EvalProtocol('full', crop='none', min_depth=1e-3, max_depth=80.0),
    # Real RGB-D cameras (Kinect, RealSense, TUM RGB-D): whole image, the sensors' 10 m range.
    'rgbd': EvalProtocol('rgbd', crop='none', min_depth=1e-3, max_depth=10.0),
}
