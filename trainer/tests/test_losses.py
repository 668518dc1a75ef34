"""
Tests that pin the maths of the training losses.

The scale-invariant loss against its pairwise form, its invariance to scale, the authors' batch
form, the gradient term on hand-worked grids, the normals and labels losses, and the masking
rule: invalid pixels never change a loss and never receive gradient.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from ros2_depth.metrics import depth_metrics
from ros2_depth_trainer.losses import (
    eigen15_depth_loss,
    gradient_loss,
    labels_loss,
    log_difference,
    median_frequency_weights,
    normals_loss,
    scale_invariant_loss,
)
import torch

LAMBDAS = (0.0, 0.5, 1.0)


def _batch(seed: int = 0, shape=(3, 1, 5, 6)):
    """Return (pred_log, target, valid): random log-depth, targets with ~30% holes (0, NaN)."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=generator, dtype=torch.float64) * 9.0 + 0.5
    holes = torch.rand(shape, generator=generator) < 0.3
    target[holes] = 0.0
    target[0, 0, 0, 0] = float('nan')  # a NaN target is invalid too
    pred = torch.randn(shape, generator=generator, dtype=torch.float64)
    valid = torch.isfinite(target) & (target > 0)
    return pred, target, valid


def _pairwise(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> float:
    """(1 / 2n^2) sum_ij ((log y_i - log y_j) - (log y*_i - log y*_j))^2 for one image."""
    p = pred[valid].tolist()
    t = [math.log(v) for v in target[valid].tolist()]
    n = len(p)
    total = sum(((p[i] - p[j]) - (t[i] - t[j])) ** 2
                for i, j in itertools.product(range(n), range(n)))
    return total / (2 * n * n)


def _mean_sq(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> float:
    d = pred[valid] - torch.log(target[valid])
    return float((d**2).mean())


def test_closed_form_equals_pairwise_form() -> None:
    pred, target, valid = _batch()
    per_image = []
    for b in range(pred.shape[0]):
        loss = scale_invariant_loss(pred[b:b + 1], target[b:b + 1], lam=1.0)
        pairwise = _pairwise(pred[b], target[b], valid[b])
        assert float(loss) == pytest.approx(pairwise, rel=1e-12)
        per_image.append(pairwise)
    # The batch value is the mean of the per-image values.
    assert float(scale_invariant_loss(pred, target, lam=1.0)) == pytest.approx(
        np.mean(per_image), rel=1e-12)


@pytest.mark.parametrize('lam', LAMBDAS)
def test_any_lambda_mixes_pairwise_and_l2(lam: float) -> None:
    # (1/n) sum d^2 - (lam/n^2)(sum d)^2 = lam * pairwise + (1 - lam) * (1/n) sum d^2.
    pred, target, valid = _batch(seed=1)
    for b in range(pred.shape[0]):
        loss = scale_invariant_loss(pred[b:b + 1], target[b:b + 1], lam=lam)
        expected = (lam * _pairwise(pred[b], target[b], valid[b])
                    + (1 - lam) * _mean_sq(pred[b], target[b], valid[b]))
        assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_hand_computed_value() -> None:
    # d = ln(2) - ln(1) = ln 2 and ln(1) - ln(1) = 0, third pixel invalid.
    pred = torch.tensor([[[math.log(2.0), 0.0, 5.0]]])
    target = torch.tensor([[[1.0, 1.0, 0.0]]])
    ln2 = math.log(2.0)
    # lambda 0.5: ln2^2 / 2 - 0.5 * ln2^2 / 4 = 3 ln2^2 / 8.
    assert float(scale_invariant_loss(pred, target, lam=0.5)) == pytest.approx(3 * ln2**2 / 8)
    assert float(scale_invariant_loss(pred, target, lam=0.0)) == pytest.approx(ln2**2 / 2)


def test_lambda_one_ignores_a_global_scale() -> None:
    pred, target, _ = _batch(seed=2)
    base = float(scale_invariant_loss(pred, target, lam=1.0))
    for factor in (1e-3, 0.37, 2.0, 1e4):
        scaled = pred + math.log(factor)  # the prediction y multiplied by factor
        scaled_loss = float(scale_invariant_loss(scaled, target, lam=1.0))
        assert scaled_loss == pytest.approx(base, rel=1e-9)
        # lambda < 1 does see the scale.
        assert float(scale_invariant_loss(scaled, target, lam=0.5)) != pytest.approx(
            float(scale_invariant_loss(pred, target, lam=0.5)), rel=1e-3)


def test_sqrt_of_lambda_one_loss_is_the_sc_inv_metric() -> None:
    pred, target, valid = _batch(seed=3, shape=(1, 1, 6, 7))
    loss = float(scale_invariant_loss(pred, target, lam=1.0))
    metric = depth_metrics(torch.exp(pred).numpy(), torch.nan_to_num(target).numpy())['sc_inv']
    assert math.sqrt(loss) == pytest.approx(metric, rel=1e-9)


def test_batch_form_is_the_authors_formula() -> None:
    pred, target, valid = _batch(seed=4)
    d, _ = log_difference(pred, target)
    n = valid.flatten(1).sum(1).double()
    expected = ((n * (d**2).flatten(1).sum(1)).sum() - 0.5 * (d.flatten(1).sum(1) ** 2).sum()) \
        / (n**2).sum()
    got = scale_invariant_loss(pred, target, lam=0.5, reduction='batch')
    assert float(got) == pytest.approx(float(expected), rel=1e-12)
    # It weights images by n_b^2, so it differs from the per-image mean when n_b differ...
    assert len(set(n.tolist())) > 1
    assert float(got) != pytest.approx(float(scale_invariant_loss(pred, target)), rel=1e-6)
    # ...and agrees on a single image.
    one = scale_invariant_loss(pred[:1], target[:1], reduction='batch')
    assert float(one) == pytest.approx(float(scale_invariant_loss(pred[:1], target[:1])))


def test_gradient_term_by_hand() -> None:
    # d = [[0, 1, 3], [0, 0, 0]], all valid. Horizontal pairs: 1, 2, 0, 0 -> (1 + 4) / 4.
    # Vertical pairs: 0, -1, -3 -> (0 + 1 + 9) / 3.
    target = torch.ones(1, 1, 2, 3)
    pred = torch.tensor([[[[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]]])
    assert float(gradient_loss(pred, target)) == pytest.approx(5 / 4 + 10 / 3)
    # Pixel (0, 2) invalid: horizontal pairs 1, 0, 0 -> 1/3; vertical pairs 0, -1 -> 1/2.
    target[0, 0, 0, 2] = 0.0
    assert float(gradient_loss(pred, target)) == pytest.approx(1 / 3 + 1 / 2)
    # The 2015 loss adds it to the lambda-0.5 scale-invariant loss.
    total = eigen15_depth_loss(pred, target)
    expected = scale_invariant_loss(pred, target, lam=0.5) + gradient_loss(pred, target)
    assert float(total) == pytest.approx(float(expected))


def test_batch_forms_pool_pixels_over_the_batch() -> None:
    # Image A: the grid above, all valid (horizontal 5 over 4 pairs, vertical 10 over 3).
    # Image B: d = 0 with pixel (0, 2) invalid (3 horizontal pairs, 2 vertical, all 0).
    pred = torch.tensor([[[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]], [[0.0] * 3, [0.0] * 3]])
    target = torch.ones(2, 2, 3)
    target[1, 0, 2] = 0.0
    # The authors pool the pairs of the batch: 5 / 7 + 10 / 5; per image: mean(5/4, 0) + ...
    assert float(gradient_loss(pred, target, reduction='batch')) == pytest.approx(5 / 7 + 2)
    assert float(gradient_loss(pred, target)) == pytest.approx(5 / 8 + 5 / 3)
    # Normals: image A one valid pixel with dot 0, image B three with dot 1.
    normals = torch.zeros(2, 3, 1, 3)
    normals[:, 2] = 1.0
    target = torch.zeros(2, 3, 1, 3)
    target[0, 0, 0, 0] = 1.0
    target[1, 2] = 1.0
    assert float(normals_loss(normals, target, reduction='batch')) == pytest.approx(-3 / 4)
    assert float(normals_loss(normals, target)) == pytest.approx(-1 / 2)


def test_gradient_term_is_zero_for_a_constant_log_offset() -> None:
    _, target, valid = _batch(seed=5)
    pred = torch.log(torch.where(valid, target, torch.ones_like(target))) + 0.7
    assert float(gradient_loss(pred, target)) == pytest.approx(0.0, abs=1e-12)
    assert float(gradient_loss(pred, target, reduction='batch')) == pytest.approx(0.0, abs=1e-12)
    # A varying offset is not free.
    ramp = torch.arange(pred.shape[-1], dtype=pred.dtype) * 0.1
    assert float(gradient_loss(pred + ramp, target)) > 1e-3


def test_normals_loss() -> None:
    generator = torch.Generator().manual_seed(6)
    normals = torch.nn.functional.normalize(torch.randn(2, 3, 4, 5, generator=generator), dim=1)
    assert float(normals_loss(normals, normals)) == pytest.approx(-1.0)
    assert float(normals_loss(normals, normals, reduction='batch')) == pytest.approx(-1.0)
    assert float(normals_loss(normals, -normals)) == pytest.approx(1.0)
    # Half the pixels orthogonal (dot 0), half identical: -(0 + 1) / 2.
    pred = torch.zeros(1, 3, 1, 2)
    pred[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0])
    pred[0, :, 0, 1] = torch.tensor([0.0, 0.0, 1.0])
    target = torch.zeros(1, 3, 1, 2)
    target[0, 1, 0, 0] = 1.0
    target[0, 2, 0, 1] = 1.0
    assert float(normals_loss(pred, target)) == pytest.approx(-0.5)


def _assert_masked(loss_fn, pred: torch.Tensor, target: torch.Tensor,
                   invalid: torch.Tensor) -> None:
    """Check that ``pred`` at ``invalid`` pixels changes nothing and gets exactly zero gradient."""
    pred = pred.clone().requires_grad_(True)
    loss = loss_fn(pred, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.all(pred.grad[invalid] == 0)
    assert torch.any(pred.grad[~invalid] != 0)
    other = pred.detach().clone()
    other[invalid] = torch.randn(int(invalid.sum()), dtype=other.dtype) * 100.0
    assert loss_fn(other, target).item() == pytest.approx(loss.item(), rel=1e-12)


@pytest.mark.parametrize('reduction', ('image', 'batch'))
def test_invalid_depth_pixels_are_inert(reduction: str) -> None:
    pred, target, valid = _batch(seed=7)
    for lam in LAMBDAS:
        _assert_masked(lambda p, t: scale_invariant_loss(p, t, lam=lam, reduction=reduction),
                       pred, target, ~valid)
    _assert_masked(lambda p, t: gradient_loss(p, t, reduction=reduction), pred, target, ~valid)
    _assert_masked(lambda p, t: eigen15_depth_loss(p, t, reduction=reduction), pred, target,
                   ~valid)
    # An explicit mask works the same way.
    mask = torch.ones_like(valid)
    mask[..., :2] = False
    _assert_masked(lambda p, t: eigen15_depth_loss(p, t, mask=mask, reduction=reduction), pred,
                   target, ~(valid & mask))


def test_invalid_normals_are_inert() -> None:
    generator = torch.Generator().manual_seed(8)
    pred = torch.nn.functional.normalize(torch.randn(2, 3, 4, 5, generator=generator), dim=1)
    target = torch.nn.functional.normalize(torch.randn(2, 3, 4, 5, generator=generator), dim=1)
    invalid = torch.rand(2, 4, 5, generator=generator) < 0.4
    target = torch.where(invalid[:, None], torch.zeros_like(target), target)
    for reduction in ('image', 'batch'):
        _assert_masked(lambda p, t: normals_loss(p, t, reduction=reduction), pred, target,
                       invalid[:, None].expand_as(pred))


def test_images_without_valid_pixels() -> None:
    pred = torch.zeros(2, 1, 3, 3, requires_grad=True)
    target = torch.ones(2, 1, 3, 3)
    target[0] = 0.0  # image 0 has no ground truth: the loss is image 1's alone
    d = torch.tensor(0.3)
    shifted = pred + d
    assert scale_invariant_loss(shifted, target, lam=0.0).item() == pytest.approx(0.09)
    empty = eigen15_depth_loss(pred, torch.zeros_like(target))
    assert empty.item() == 0.0
    empty.backward()  # still part of the graph, with zero gradient
    assert torch.all(pred.grad == 0)
    # NaN predictions where nothing is valid give 0, not NaN.
    nan_pred = torch.full((1, 1, 2, 2), float('nan'), requires_grad=True)
    nothing = eigen15_depth_loss(nan_pred, torch.zeros(1, 1, 2, 2), reduction='batch')
    nothing.backward()
    assert nothing.item() == 0.0 and torch.all(nan_pred.grad == 0)


def test_cross_entropy_ignores_unlabelled_pixels() -> None:
    generator = torch.Generator().manual_seed(9)
    logits = torch.randn(2, 4, 3, 5, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 5, (2, 3, 5), generator=generator)
    labelled = labels > 0
    # By hand: mean over labelled pixels of -log softmax(logits)[label - 1].
    log_probs = torch.log_softmax(logits, dim=1)
    picked = [-float(log_probs[b, labels[b, i, j] - 1, i, j])
              for b, i, j in zip(*torch.nonzero(labelled, as_tuple=True))]
    assert float(labels_loss(logits, labels)) == pytest.approx(np.mean(picked), rel=1e-12)
    _assert_masked(labels_loss, logits, labels, (~labelled)[:, None].expand_as(logits))
    # Class weights: sum w[y] CE / sum w[y].
    weights = torch.tensor([1.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    w = [float(weights[labels[b, i, j] - 1])
         for b, i, j in zip(*torch.nonzero(labelled, as_tuple=True))]
    expected = np.dot(w, picked) / np.sum(w)
    assert float(labels_loss(logits, labels, weights)) == pytest.approx(expected, rel=1e-12)
    assert float(labels_loss(logits, torch.zeros_like(labels))) == 0.0
    with pytest.raises(ValueError):
        labels_loss(logits, labels + 5)


def test_median_frequency_weights() -> None:
    # f = 10 / 100, 30 / 100, 20 / 50 = 0.1, 0.3, 0.4; class 4 absent. median(f) = 0.3.
    weights = median_frequency_weights(torch.tensor([10, 30, 20, 0]),
                                       torch.tensor([100, 100, 50, 0]))
    np.testing.assert_allclose(weights.numpy(), [3.0, 1.0, 0.75, 0.0], rtol=1e-6)
