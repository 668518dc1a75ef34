"""
The field's depth and surface-normal error measures, per image, in numpy.

Depth (Eigen et al. 2014; the formulas of monodepth2 and BTS): threshold accuracy delta < 1.25^k,
abs rel, sq rel, RMSE, RMSE log and the scale-invariant error sqrt(D) with natural logarithms.
Normals (Fouhey et al.; Eigen & Fergus 2015): angular error in degrees, pooled over pixels.

Evaluation protocols (BTS ``utils/eval_with_pngs.py``, cleinc/bts on GitHub; monodepth2
``evaluate_depth.py``, nianticlabs/monodepth2): the NYU Eigen crop with depth in
[1e-3, 10] m, the KITTI Garg and Eigen crops with depth in [1e-3, 80] m; predictions are clipped
to the depth range (as monodepth2 and BTS do) and ground truth outside it is not scored. Depth
metrics are computed per image and then averaged over images; normal errors are pooled over all
valid pixels of the test set.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

DEPTH_METRICS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'sc_inv')
NORMAL_METRICS = ('mean', 'median', 'rmse', 'within_11.25', 'within_22.5', 'within_30')
# Metrics where a higher value is better; all others are errors.
HIGHER_IS_BETTER = frozenset({'delta1', 'delta2', 'delta3', 'within_11.25', 'within_22.5',
                              'within_30'})

NYU_SIZE = (480, 640)  # (height, width) the NYU Eigen crop is defined on
NYU_EIGEN_CROP = (45, 471, 41, 601)  # rows [45, 471), columns [41, 601) at 480 x 640
# KITTI crops as fractions of the image: (top, bottom, left, right); indices are int(fraction * n)
# as in monodepth2 evaluate_depth.py (Garg) and BTS eval_with_pngs.py (Eigen).
KITTI_GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
KITTI_EIGEN_CROP = (0.3324324, 0.91351351, 0.0359477, 0.96405229)

CROPS = ('none', 'nyu_eigen', 'kitti_garg', 'kitti_eigen')

Slices = Tuple[slice, slice]


def _clip_prediction(
    pred: np.ndarray, min_depth: Optional[float], max_depth: Optional[float]
) -> np.ndarray:
    low = -np.inf if min_depth is None else min_depth
    high = np.inf if max_depth is None else max_depth
    return np.clip(pred, low, high)


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: Optional[np.ndarray] = None,
    min_depth: Optional[float] = None,
    max_depth: Optional[float] = None,
) -> Dict[str, float]:
    """
    Compute all depth metrics of one image over its valid pixels.

    A pixel is scored where `mask` (if given) is set, the prediction is not NaN and the ground
    truth is finite, positive and strictly inside (min_depth, max_depth) when those caps are
    given. Predictions are clipped to [min_depth, max_depth] before scoring, as monodepth2 and
    BTS do (so an infinite prediction counts as max_depth); without caps they must be finite and
    positive to count.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ in shape')
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(gt) & (gt > 0) & ~np.isnan(pred)
        if min_depth is not None:
            valid &= gt > min_depth
        if max_depth is not None:
            valid &= gt < max_depth
        pred = _clip_prediction(pred, min_depth, max_depth)
        valid &= np.isfinite(pred) & (pred > 0)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    if not valid.any():
        raise ValueError('no pixel has both a valid prediction and valid ground truth')
    p = pred[valid]
    g = gt[valid]
    ratio = np.maximum(p / g, g / p)
    d = np.log(p) - np.log(g)
    return {
        'delta1': float(np.mean(ratio < 1.25)),
        'delta2': float(np.mean(ratio < 1.25**2)),
        'delta3': float(np.mean(ratio < 1.25**3)),
        'abs_rel': float(np.mean(np.abs(p - g) / g)),
        'sq_rel': float(np.mean((p - g) ** 2 / g)),
        'rmse': float(np.sqrt(np.mean((p - g) ** 2))),
        'rmse_log': float(np.sqrt(np.mean(d**2))),
        'sc_inv': float(np.sqrt(max(np.mean(d**2) - np.mean(d) ** 2, 0.0))),
    }


def mean_metrics(per_image: Iterable[Mapping[str, float]]) -> Dict[str, float]:
    """Average per-image metric dicts key by key (the field's per image, then mean, rule)."""
    records = list(per_image)
    if not records:
        raise ValueError('no image to average')
    return {key: float(np.mean([r[key] for r in records])) for key in records[0]}


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


def normal_angles(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Return angles in degrees between (..., 3) normals where both are finite and non-zero."""
    p = pred.reshape(-1, 3).astype(np.float64)
    g = gt.reshape(-1, 3).astype(np.float64)
    pn, gn = np.linalg.norm(p, axis=1), np.linalg.norm(g, axis=1)
    valid = np.isfinite(pn) & np.isfinite(gn) & (pn > 0) & (gn > 0)
    cos = np.einsum('ij,ij->i', p[valid], g[valid]) / (pn[valid] * gn[valid])
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def normal_metrics(angles: np.ndarray) -> Dict[str, float]:
    """Mean, median and RMSE angle and the share of pixels within 11.25, 22.5 and 30 degrees."""
    if angles.size == 0:
        raise ValueError('no valid normal to evaluate')
    return {
        'mean': float(np.mean(angles)),
        'median': float(np.median(angles)),
        'rmse': float(np.sqrt(np.mean(angles**2))),
        'within_11.25': float(np.mean(angles < 11.25)),
        'within_22.5': float(np.mean(angles < 22.5)),
        'within_30': float(np.mean(angles < 30.0)),
    }


class AngleAccumulator:
    """
    Pool angular errors over a whole test set in constant memory.

    Mean, RMSE and the within-threshold shares are exact (running sums); the median comes from a
    histogram of `bin_deg`-wide bins, so it is within bin_deg / 2 of np.median of all angles.
    """

    def __init__(self, bin_deg: float = 1e-3) -> None:
        """Start with no angles; `bin_deg` sets the median's resolution in degrees."""
        self.bin_deg = float(bin_deg)
        self._hist = np.zeros(int(np.ceil(180.0 / self.bin_deg)) + 1, dtype=np.int64)
        self.count = 0
        self._sum = 0.0
        self._sum_sq = 0.0
        self._within = {11.25: 0, 22.5: 0, 30.0: 0}

    def add(self, angles: np.ndarray) -> None:
        """Add the angles (degrees, in [0, 180]) of one image."""
        angles = np.asarray(angles, dtype=np.float64).ravel()
        if angles.size == 0:
            return
        self.count += angles.size
        self._sum += float(np.sum(angles))
        self._sum_sq += float(np.sum(angles**2))
        for threshold in self._within:
            self._within[threshold] += int(np.count_nonzero(angles < threshold))
        bins = np.clip((angles / self.bin_deg).astype(np.int64), 0, self._hist.size - 1)
        self._hist += np.bincount(bins, minlength=self._hist.size)

    def _quantile_bin(self, rank: int) -> float:
        # Centre of the bin holding the angle of this 0-based rank in sorted order.
        index = int(np.searchsorted(np.cumsum(self._hist), rank + 1))
        return (index + 0.5) * self.bin_deg

    def result(self) -> Dict[str, float]:
        """Return the pooled metrics with the keys of normal_metrics."""
        if self.count == 0:
            raise ValueError('no valid normal to evaluate')
        n = self.count
        lower, upper = (n - 1) // 2, n // 2
        median = 0.5 * (self._quantile_bin(lower) + self._quantile_bin(upper))
        return {
            'mean': self._sum / n,
            'median': median,
            'rmse': float(np.sqrt(self._sum_sq / n)),
            'within_11.25': self._within[11.25] / n,
            'within_22.5': self._within[22.5] / n,
            'within_30': self._within[30.0] / n,
        }
