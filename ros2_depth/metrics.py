"""
The field's depth and surface-normal error measures, per image, in numpy.

Depth (Eigen et al. 2014; the formulas of monodepth2 and BTS): threshold accuracy delta < 1.25^k,
abs rel, sq rel, RMSE, RMSE log and the scale-invariant error sqrt(D) with natural logarithms.
Normals (Fouhey et al.; Eigen & Fergus 2015): angular error in degrees, pooled over pixels.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

DEPTH_METRICS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'sc_inv')


def depth_metrics(
    pred: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None
) -> Dict[str, float]:
    """Compute all depth metrics of one image where both maps are finite, positive (and `mask`)."""
    valid = np.isfinite(pred) & np.isfinite(gt) & (pred > 0) & (gt > 0)
    if mask is not None:
        valid &= mask
    if not valid.any():
        raise ValueError('no pixel has both a valid prediction and valid ground truth')
    p = pred[valid].astype(np.float64)
    g = gt[valid].astype(np.float64)
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
