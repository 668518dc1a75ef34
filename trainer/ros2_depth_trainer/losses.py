"""
The training losses of Eigen et al. (2014) and Eigen & Fergus (2015), in pure torch.

Depth predictions are the network's output, the natural log of metres; depth targets are metres
with 0 (or any non-finite or non-positive value) marking a missing measurement. Every loss takes
an optional extra ``mask`` (True = use the pixel). Invalid pixels never enter a sum or a count,
and they receive exactly zero gradient.

With d = log y - log y* over the n valid pixels of an image:

* scale-invariant loss (2014, eq. 4): (1/n) sum d^2 - (lambda/n^2) (sum d)^2, lambda in [0, 1]
  (0: plain squared log error; 0.5: the papers' training value; 1: the scale-invariant error,
  equal to the pairwise form (1/2n^2) sum_ij (d_i - d_j)^2). For any lambda it equals
  lambda * [pairwise form] + (1 - lambda) * (1/n) sum d^2.
* 2015 depth loss: the above plus (1/n_x) sum (dx d)^2 + (1/n_y) sum (dy d)^2, forward differences
  over the pairs of horizontally (vertically) adjacent valid pixels, each direction averaged over
  its own pairs, as in the authors' code (depthnormals_nyud_vgg.py, define_depths_cost).
* normals loss (2015): -(1/n) sum N . N* over pixels with a valid (non-zero) target normal.
* labels loss (2015): pixelwise cross-entropy over labelled pixels (label 0 = unlabelled).

Reduction. ``'image'`` (default) computes each term per image and averages over the images that
have valid pixels, the usual reading of the papers' per-image formulas. ``'batch'`` is the
authors' released code: the scale-invariant term is
(sum_b n_b sum d^2 - lambda sum_b (sum d)^2) / sum_b n_b^2, i.e. the per-image losses weighted by
n_b^2, and the gradient and normals terms pool all pixels (pairs) of the batch. Both agree on a
batch of one image.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

REDUCTIONS = ('image', 'batch')


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')


def _as_nhw(x: Tensor, name: str) -> Tensor:
    """Return a (N, H, W) view of a (N, 1, H, W) or (N, H, W) depth tensor."""
    if x.dim() == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.dim() == 3:
        return x
    raise ValueError(f'{name} must be (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}')


def _zero(like: Tensor) -> Tensor:
    """Return a zero connected to the graph of ``like`` (no valid pixel), even if it holds NaN."""
    none = torch.zeros_like(like, dtype=torch.bool)
    return torch.where(none, like, torch.zeros_like(like)).sum()


def valid_depth(target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Return the bool mask of usable target depths: finite, positive and inside ``mask``."""
    valid = torch.isfinite(target) & (target > 0)
    if mask is not None:
        valid = valid & mask.to(torch.bool).reshape(valid.shape)
    return valid


def log_difference(pred_log: Tensor, target: Tensor,
                   mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """
    Return d = pred_log - log(target) as (N, H, W), exactly 0 where invalid, and the valid mask.

    The invalid entries come from ``torch.where``, so they pass no gradient to ``pred_log``.
    """
    pred_log = _as_nhw(pred_log, 'pred_log')
    target = _as_nhw(target, 'target')
    if pred_log.shape != target.shape:
        raise ValueError(f'prediction {tuple(pred_log.shape)} and target '
                         f'{tuple(target.shape)} differ in shape')
    valid = valid_depth(target, mask)
    safe_target = torch.where(valid, target, torch.ones_like(target))
    d = torch.where(valid, pred_log - torch.log(safe_target), torch.zeros_like(pred_log))
    return d, valid


def _reduce_images(per_image: Tensor, has_pixels: Tensor) -> Tensor:
    """Average the per-image values of the images that have valid pixels."""
    if not bool(has_pixels.any()):
        return _zero(per_image)
    return per_image[has_pixels].mean()


def scale_invariant_loss(pred_log: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                         lam: float = 0.5, reduction: str = 'image') -> Tensor:
    """Return the 2014 loss (1/n) sum d^2 - (lam/n^2) (sum d)^2 over the valid pixels."""
    _check_reduction(reduction)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f'lambda must be in [0, 1], got {lam}')
    d, valid = log_difference(pred_log, target, mask)
    n = valid.flatten(1).sum(1).to(d.dtype)
    sum_sq = (d**2).flatten(1).sum(1)
    total = d.flatten(1).sum(1)
    if reduction == 'batch':
        denominator = (n**2).sum()
        if denominator == 0:
            return _zero(d)
        return ((n * sum_sq).sum() - lam * (total**2).sum()) / denominator
    safe_n = n.clamp_min(1.0)
    per_image = sum_sq / safe_n - lam * total**2 / safe_n**2
    return _reduce_images(per_image, n > 0)


def _pair_terms(values: Tensor, valid: Tensor, dim: int) -> Tuple[Tensor, Tensor]:
    """Per image: sum of squared forward differences over valid pairs along ``dim``, and count."""
    length = values.shape[dim]
    diff = values.narrow(dim, 1, length - 1) - values.narrow(dim, 0, length - 1)
    pairs = valid.narrow(dim, 1, length - 1) & valid.narrow(dim, 0, length - 1)
    squared = torch.where(pairs, diff**2, torch.zeros_like(diff))
    return squared.flatten(1).sum(1), pairs.flatten(1).sum(1).to(values.dtype)


def gradient_loss(pred_log: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                  reduction: str = 'image') -> Tensor:
    """
    Return the 2015 gradient term: mean (dx d)^2 over valid horizontal pairs plus the vertical.

    A direction with no valid pair contributes 0 (the authors' code would divide by zero).
    """
    _check_reduction(reduction)
    d, valid = log_difference(pred_log, target, mask)
    loss = _zero(d)
    for dim in (1, 2):  # rows (vertical pairs), then columns (horizontal pairs)
        sums, counts = _pair_terms(d, valid, dim)
        if reduction == 'batch':
            if counts.sum() > 0:
                loss = loss + sums.sum() / counts.sum()
        else:
            has_pairs = counts > 0
            if bool(has_pairs.any()):
                loss = loss + (sums[has_pairs] / counts[has_pairs]).mean()
    return loss


def eigen15_depth_loss(pred_log: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                       lam: float = 0.5, reduction: str = 'image') -> Tensor:
    """Return the 2015 depth loss: the scale-invariant loss (lambda 0.5) plus the gradient term."""
    return (scale_invariant_loss(pred_log, target, mask, lam=lam, reduction=reduction)
            + gradient_loss(pred_log, target, mask, reduction=reduction))


def normals_loss(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                 reduction: str = 'image') -> Tensor:
    """
    Return -(1/n) sum N . N* over pixels whose target normal is finite and non-zero.

    ``pred`` and ``target`` are (N, 3, H, W) unit vectors (the network normalises its output; the
    datasets store unit normals and 0 where invalid). The authors train with 10 x this value.
    """
    _check_reduction(reduction)
    if pred.dim() != 4 or pred.shape[1] != 3 or pred.shape != target.shape:
        raise ValueError(f'normals must both be (N, 3, H, W), got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
    valid = torch.isfinite(target).all(1) & (target.abs().sum(1) > 0)
    if mask is not None:
        valid = valid & mask.to(torch.bool).reshape(valid.shape)
    safe_target = torch.where(valid[:, None], target, torch.zeros_like(target))
    dots = (pred * safe_target).sum(1)
    dots = torch.where(valid, dots, torch.zeros_like(dots))
    n = valid.flatten(1).sum(1).to(pred.dtype)
    sums = dots.flatten(1).sum(1)
    if reduction == 'batch':
        return -sums.sum() / n.sum() if n.sum() > 0 else _zero(pred)
    return _reduce_images(-sums / n.clamp_min(1.0), n > 0)


def labels_loss(logits: Tensor, labels: Tensor, class_weights: Optional[Tensor] = None) -> Tensor:
    """
    Return the pixelwise cross-entropy over labelled pixels, pooled over the batch.

    ``logits`` is (N, C, H, W) with channel k - 1 scoring class k; ``labels`` is (N, H, W) int64
    with class ids 1..C and 0 = unlabelled (ignored: no loss, no gradient). With
    ``class_weights`` (C,), the loss is sum_i w[y_i] CE_i / sum_i w[y_i], as torch weighs it.
    """
    if logits.dim() != 4 or labels.shape != (logits.shape[0],) + logits.shape[2:]:
        raise ValueError(f'logits must be (N, C, H, W) and labels (N, H, W), got '
                         f'{tuple(logits.shape)} and {tuple(labels.shape)}')
    num_classes = logits.shape[1]
    if bool(((labels < 0) | (labels > num_classes)).any()):
        raise ValueError(f'labels must be in [0, {num_classes}] (0 = unlabelled)')
    if not bool((labels > 0).any()):
        return _zero(logits)
    return F.cross_entropy(logits, labels.long() - 1, weight=class_weights, ignore_index=-1)


def median_frequency_weights(class_pixels: Tensor, image_pixels: Tensor) -> Tensor:
    """
    Return median-frequency class weights w_c = median(f) / f_c (Eigen & Fergus 2015, as cited).

    f_c = class_pixels[c] / image_pixels[c]: the pixels of class c over the total pixels of the
    images in which c appears. Classes that never appear get weight 0.
    """
    class_pixels = class_pixels.to(torch.float64)
    image_pixels = image_pixels.to(torch.float64)
    present = (class_pixels > 0) & (image_pixels > 0)
    freq = torch.where(present, class_pixels / image_pixels.clamp_min(1.0),
                       torch.zeros_like(class_pixels))
    if not bool(present.any()):
        raise ValueError('no class appears in the counts')
    median = torch.quantile(freq[present], 0.5)  # the mean of the middle two for even counts
    return torch.where(present, median / freq.clamp_min(1e-300), torch.zeros_like(freq)).float()
