"""
Semantic-label measures of Eigen & Fergus 2015 (their Table 4 and 5), pooled over a test set.

Pixel accuracy (share of labelled pixels whose class is right), mean class accuracy (the per-class
recall, averaged over the classes present in the ground truth) and mean IoU (intersection over
union per class, averaged over the classes present in the ground truth or the prediction), all
from one confusion matrix over every labelled pixel of the set. Class id 0 is "unlabelled": those
pixels are not scored.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

LABEL_ROWS = (
    ('pixel_accuracy', 'pixel accuracy'),
    ('mean_class_accuracy', 'mean class accuracy'),
    ('mean_iou', 'mean IoU'),
)


class LabelAccumulator:
    """A confusion matrix of class ids 0..num_ids - 1 (rows: truth, columns: prediction)."""

    def __init__(self, num_ids: int) -> None:
        """Start an empty matrix for ids below ``num_ids`` (at most 256, mono8 labels)."""
        if not 1 < num_ids <= 256:
            raise ValueError(f'num_ids must be in 2..256, got {num_ids}')
        self.num_ids = num_ids
        self.confusion = np.zeros((num_ids, num_ids), np.int64)

    @property
    def count(self) -> int:
        """Return the number of pixels scored so far."""
        return int(self.confusion.sum())

    def add(self, pred: np.ndarray, truth: np.ndarray) -> None:
        """Count the pixels with a label (truth > 0) of one image; ids outside the range fail."""
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        truth = np.asarray(truth).reshape(-1).astype(np.int64)
        if pred.shape != truth.shape:
            raise ValueError(f'prediction and truth differ in size: {pred.size}, {truth.size}')
        keep = truth > 0
        pred, truth = pred[keep], truth[keep]
        if pred.size and (max(pred.max(), truth.max()) >= self.num_ids or pred.min() < 0):
            raise ValueError(f'class ids must be in 0..{self.num_ids - 1}')
        np.add.at(self.confusion, (truth, pred), 1)

    def result(self) -> Dict[str, float]:
        """Return pixel accuracy, mean class accuracy and mean IoU (fractions in [0, 1])."""
        if not self.count:
            raise ValueError('no labelled pixel was scored')
        diag = np.diag(self.confusion).astype(np.float64)
        truth_total = self.confusion.sum(axis=1).astype(np.float64)
        pred_total = self.confusion.sum(axis=0).astype(np.float64)
        present = truth_total > 0
        union = truth_total + pred_total - diag
        seen = union > 0
        return {
            'pixel_accuracy': float(diag.sum() / truth_total.sum()),
            'mean_class_accuracy': float(np.mean(diag[present] / truth_total[present])),
            'mean_iou': float(np.mean(diag[seen] / union[seen])),
        }
