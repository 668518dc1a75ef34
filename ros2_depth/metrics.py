"""
The field's depth and surface-normal error measures, per image, in numpy.

Depth (Eigen et al. 2014; the formulas of monodepth2 and BTS): threshold accuracy delta < 1.25^k,
abs rel, sq rel, RMSE, RMSE log and the scale-invariant error sqrt(D) with natural logarithms;
with depth caps, ground truth outside them is not scored and predictions are clipped to them (as
monodepth2 and BTS do). Normals (Fouhey et al.; Eigen & Fergus 2015): angular error in degrees,
pooled over pixels. Depth metrics are averaged per image, then over images (``mean_metrics``).

The node does not use this module. It is in the runtime because the demo
(``ros2_depth.demo``) scores the node's depth against a bag's depth camera with
``depth_metrics``; the trainer scores with the same functions, and keeps the papers' evaluation
protocols (crops and caps of NYU and KITTI) in ``ros2_depth_trainer.protocols``.
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional

import numpy as np

DEPTH_METRICS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'sc_inv')
NORMAL_METRICS = ('mean', 'median', 'rmse', 'within_11.25', 'within_22.5', 'within_30')
# Metrics where a higher value is better; all others are errors.
HIGHER_IS_BETTER = frozenset({'delta1', 'delta2', 'delta3', 'within_11.25', 'within_22.5',
                              'within_30'})


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
