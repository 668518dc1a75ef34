"""Tests of augmentation: geometry, resampling, validity, intrinsics, randomness, photometry."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from ros2_depth_trainer.data import augment
from ros2_depth_trainer.data.augment import (
    apply_params, AugmentConfig, AugmentError, AugmentParams, make_sample, plan_warp)
import torch

NYU_K = (518.858, 519.470, 325.582, 253.736)
NYU = augment.PRESETS['nyu_eigen14']
PARAMS = [
    AugmentParams(scale=1.0, angle_deg=0.0, crop=(6, 8)),
    AugmentParams(scale=1.37, angle_deg=4.2, crop=(40, 17), flip=True),
    AugmentParams(scale=1.5, angle_deg=-5.0, crop=(0, 176), flip=False),
    AugmentParams(scale=1.12, angle_deg=-2.5, crop=(30, 3), flip=True),
]


def _source_of(warp: augment.Warp) -> tuple:
    ho, wo = warp.out_size
    u, v = np.meshgrid(np.arange(wo, dtype=float), np.arange(ho, dtype=float))
    m = warp.matrix
    return m[0, 0] * u + m[0, 1] * v + m[0, 2], m[1, 0] * u + m[1, 1] * v + m[1, 2]


def _gradient_image(h: int = 480, w: int = 640) -> np.ndarray:
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([u / (w - 1), v / (h - 1), np.full_like(u, 0.5)], axis=-1)


@pytest.mark.parametrize('params', PARAMS)
def test_known_3d_point_projects_where_the_warp_moves_its_pixel(params: AugmentParams) -> None:
    """A 3D point seen at source pixel p appears at p' with M p' = p, p' = K' (R P / s)."""
    warp = plan_warp((480, 640), NYU_K, NYU, params)
    fx, fy, cx, cy = NYU_K
    for point in ([0.3, -0.2, 2.5], [-1.1, 0.4, 4.0], [0.05, 0.9, 1.7]):
        point = np.asarray(point)
        source = np.array([fx * point[0] / point[2] + cx, fy * point[1] / point[2] + cy, 1.0])
        moved = warp.frame_rotation @ point * warp.depth_factor
        fx2, fy2, cx2, cy2 = warp.intrinsics
        target = np.array([fx2 * moved[0] / moved[2] + cx2, fy2 * moved[1] / moved[2] + cy2, 1])
        np.testing.assert_allclose(warp.matrix @ target, source, atol=1e-9)
        assert moved[2] == pytest.approx(point[2] / params.scale)


def test_scale_crop_flip_intrinsics_are_exact() -> None:
    """Resize 2x down, scale s, crop, flip: fx' = s fx / 2, cx' = W - 1 - (s (cx'') - col)."""
    params = AugmentParams(scale=1.25, crop=(10, 20), flip=True)
    warp = plan_warp((480, 640), NYU_K, NYU, params)
    fx, fy, cx, cy = NYU_K
    cx_base, cy_base = (cx + 0.5) / 2 - 0.5, (cy + 0.5) / 2 - 0.5
    expected = [fx / 2 * 1.25, fy / 2 * 1.25, 303 - (1.25 * (cx_base + 0.5) - 0.5 - 20),
                1.25 * (cy_base + 0.5) - 0.5 - 10]
    np.testing.assert_allclose(warp.intrinsics, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('params', PARAMS)
def test_image_content_comes_from_the_mapped_source_pixel(params: AugmentParams) -> None:
    """With an image that encodes its own coordinates, each output pixel reads M p."""
    sample = make_sample(_gradient_image(), NYU_K)
    out = apply_params(sample, NYU, params)
    warp = plan_warp((480, 640), NYU_K, NYU, params)
    x, y = _source_of(warp)
    inside = (x > 0) & (x < 639) & (y > 0) & (y < 479)
    assert inside.mean() > 0.8
    image = out['image'].numpy()
    np.testing.assert_allclose(image[0][inside], (x / 639)[inside], atol=2e-6)
    np.testing.assert_allclose(image[1][inside], (y / 479)[inside], atol=2e-6)
    np.testing.assert_allclose(out['intrinsics'].numpy(), warp.intrinsics, rtol=1e-6)


def test_depth_at_corresponding_pixels_is_divided_by_scale() -> None:
    """Depth linear in the pixel position: output depth at p is f(M p) / s."""
    v, u = np.mgrid[0:480, 0:640].astype(np.float64)
    depth = 2.0 + 0.001 * u + 0.002 * v
    params = AugmentParams(scale=1.4, crop=(25, 60))
    out = apply_params(make_sample(_gradient_image(), NYU_K, depth=depth), NYU, params)
    x, y = _source_of(plan_warp((480, 640), NYU_K, NYU, params))
    expected = (2.0 + 0.001 * x + 0.002 * y) / 1.4
    got = out['depth'].numpy()[0]
    assert out['depth'].shape == (1, 228, 304) and out['depth'].dtype == torch.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize('params', PARAMS[1:])
def test_invalid_depth_stays_invalid_and_is_never_blended(params: AugmentParams) -> None:
    """Valid outputs equal the constant depth / s; a pixel whose nearest source is a hole is 0."""
    rng = np.random.default_rng(3)
    depth = np.full((480, 640), 3.0)
    holes = rng.random((480, 640)) < 0.2
    depth[holes] = 0.0
    depth[100:180, 200:330] = 0.0
    out = apply_params(make_sample(_gradient_image(), NYU_K, depth=depth), NYU, params)
    got = out['depth'].numpy()[0]
    valid = got > 0
    assert 0.1 < valid.mean() < 0.9
    # float32 resampling is exact to ~1e-6; a blend with a hole would be off by 10% or more
    np.testing.assert_allclose(got[valid], 3.0 / params.scale, rtol=1e-5)
    x, y = _source_of(plan_warp((480, 640), NYU_K, NYU, params))
    cols = np.clip(np.floor(x + 0.5).astype(int), 0, 639)
    rows = np.clip(np.floor(y + 0.5).astype(int), 0, 479)
    assert not valid[depth[rows, cols] == 0].any()


def test_sparse_depth_is_moved_point_by_point_keeping_the_nearest() -> None:
    """LiDAR-like depth: each point lands at round(M^-1 p) with depth / s; collisions keep min."""
    config = AugmentConfig(base_size=(240, 320), out_size=(228, 304), scale_range=(1.0, 1.3),
                           sparse_depth=True)
    params = AugmentParams(scale=1.2, crop=(20, 30), flip=True)
    rng = np.random.default_rng(5)
    depth = np.zeros((480, 640))
    rows, cols = rng.integers(60, 420, 300), rng.integers(60, 580, 300)
    depth[rows, cols] = rng.uniform(2.0, 60.0, 300)
    depth[200, 300], depth[200, 301] = 7.0, 5.0  # both land on one output pixel
    out = apply_params(make_sample(_gradient_image(), NYU_K, depth=depth), config, params)
    got = out['depth'].numpy()[0]
    warp = plan_warp((480, 640), NYU_K, config, params)
    inverse = np.linalg.inv(warp.matrix)
    src_rows, src_cols = np.nonzero(depth)
    u = inverse[0, 0] * src_cols + inverse[0, 1] * src_rows + inverse[0, 2]
    v = inverse[1, 0] * src_cols + inverse[1, 1] * src_rows + inverse[1, 2]
    out_cols, out_rows = np.floor(u + 0.5).astype(int), np.floor(v + 0.5).astype(int)
    for r, c, z in zip(out_rows, out_cols, depth[src_rows, src_cols]):
        if 0 <= r < 228 and 0 <= c < 304:
            assert 0 < got[r, c] <= z / 1.2 + 1e-5
    landed = {(r, c) for r, c in zip(out_rows, out_cols)}
    assert all((r, c) in landed for r, c in zip(*np.nonzero(got)))
    values, kept = depth[depth > 0] / 1.2, got[got > 0]
    assert (np.abs(kept[:, None] - values[None, :]).min(axis=1) <= 1e-6 * kept).all()
    r, c = np.floor(inverse[:2] @ [300, 200, 1] + 0.5).astype(int)[::-1]
    assert got[r, c] == pytest.approx(5.0 / 1.2)


def test_labels_are_nearest_neighbour_and_zero_outside() -> None:
    """Labels are sampled at the nearest source pixel; uncovered corners are 0 (unlabelled)."""
    rng = np.random.default_rng(7)
    labels = rng.integers(1, 41, (480, 640))
    params = AugmentParams(scale=1.3, angle_deg=5.0, crop=(0, 0))
    out = apply_params(make_sample(_gradient_image(), NYU_K, labels=labels), NYU, params)
    x, y = _source_of(plan_warp((480, 640), NYU_K, NYU, params))
    inside = (x >= -0.5) & (x <= 639.5) & (y >= -0.5) & (y <= 479.5)
    rows = np.clip(np.floor(y + 0.5).astype(int), 0, 479)
    cols = np.clip(np.floor(x + 0.5).astype(int), 0, 639)
    got = out['labels'].numpy()
    assert out['labels'].dtype == torch.int64
    np.testing.assert_array_equal(got[inside], labels[rows, cols][inside])
    assert (~inside).any() and (got[~inside] == 0).all()


@pytest.mark.parametrize('flip', [False, True])
def test_normals_turn_with_the_image(flip: bool) -> None:
    """A constant normal turns by R_z(angle); a flip negates x; invalid stays the 0 vector."""
    n = np.array([0.6, 0.0, -0.8])
    normals = np.tile(n, (480, 640, 1))
    normals[:50] = np.nan
    angle = 4.0
    params = AugmentParams(scale=1.0, angle_deg=angle, crop=(6, 8), flip=flip)
    out = apply_params(make_sample(_gradient_image(), NYU_K, normals=normals), NYU, params)
    got = out['normals'].numpy().transpose(1, 2, 0)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    expected = np.array([c * n[0] - s * n[1], s * n[0] + c * n[1], n[2]])
    if flip:
        expected[0] = -expected[0]
    norm = np.linalg.norm(got, axis=-1)
    valid = norm > 0
    assert 0.5 < valid.mean() < 1.0
    np.testing.assert_allclose(got[valid], np.tile(expected, (valid.sum(), 1)), atol=1e-6)
    np.testing.assert_allclose(norm[valid], 1.0, atol=1e-6)


def test_flip_twice_is_identity() -> None:
    """Flipping twice at the input size restores every key exactly."""
    rng = np.random.default_rng(11)
    h, w = 6, 9
    config = AugmentConfig(base_size=(h, w), out_size=(h, w), flip_prob=1.0)
    normals = rng.normal(size=(h, w, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    depth = rng.uniform(1, 5, (h, w))
    depth[2, 3] = 0
    sample = make_sample(rng.random((h, w, 3)), (7.0, 7.5, 3.3, 2.2), depth=depth,
                         labels=rng.integers(0, 5, (h, w)), normals=normals)
    params = AugmentParams(flip=True)
    once = apply_params(sample, config, params)
    assert not torch.equal(once['image'], sample['image'])
    assert once['intrinsics'][2].item() == pytest.approx(w - 1 - 3.3)
    twice = apply_params(once, config, params)
    for key in ('image', 'depth', 'labels', 'normals', 'intrinsics'):
        torch.testing.assert_close(twice[key], sample[key], rtol=0, atol=1e-6)


def test_test_time_transform_is_resize_and_centre_crop_only() -> None:
    """NYU test transform: 2x2 average to 240x320, rows 6:234, columns 8:312; no randomness."""
    rng = np.random.default_rng(2)
    image = rng.random((480, 640, 3))
    out = augment.CentreCrop('nyu_eigen14')(make_sample(image, NYU_K, depth=image[..., 0] + 1))
    pooled = image.reshape(240, 2, 320, 2, 3).mean(axis=(1, 3))[6:234, 8:312]
    np.testing.assert_allclose(out['image'].numpy().transpose(1, 2, 0), pooled, atol=1e-6)
    fx, fy, cx, cy = NYU_K
    np.testing.assert_allclose(
        out['intrinsics'].numpy(),
        [fx / 2, fy / 2, (cx + 0.5) / 2 - 0.5 - 8, (cy + 0.5) / 2 - 0.5 - 6], rtol=1e-6)
    assert augment.centre_params(augment.PRESETS['kitti_eigen14']).crop == (6, 18)


def test_colour_scales_each_channel_and_clips() -> None:
    """Colour factors multiply R, G, B separately; results stay in [0, 1]."""
    config = AugmentConfig(base_size=(4, 4), out_size=(4, 4))
    image = np.full((4, 4, 3), 0.5)
    image[0, 0] = 0.9
    out = apply_params(make_sample(image, (4, 4, 1.5, 1.5)), config,
                       AugmentParams(colour=(0.8, 1.0, 1.2)))['image'].numpy()
    np.testing.assert_allclose(out[:, 1, 1], [0.4, 0.5, 0.6], atol=1e-7)
    np.testing.assert_allclose(out[:, 0, 0], [0.72, 0.9, 1.0], atol=1e-7)


def test_draws_are_reproducible_and_within_the_paper_ranges() -> None:
    """Same seed, same draws; NYU s in [1, 1.5], angle in +-5, c in [0.8, 1.2]; KITTI no roll."""
    first = [augment.sample_params(NYU, np.random.default_rng(1)) for _ in range(2)]
    assert first[0] == first[1]
    rng = np.random.default_rng(9)
    draws = [augment.sample_params(NYU, rng) for _ in range(300)]
    assert len({d.scale for d in draws}) == 300
    assert all(1.0 <= d.scale <= 1.5 and abs(d.angle_deg) <= 5.0 for d in draws)
    assert all(0.8 <= c <= 1.2 for d in draws for c in d.colour)
    assert all(d.crop[0] <= 240 * d.scale - 228 and d.crop[1] <= 320 * d.scale - 304
               for d in draws)
    assert 0.4 < np.mean([d.flip for d in draws]) < 0.6
    kitti = [augment.sample_params(augment.PRESETS['kitti_eigen14'], rng) for _ in range(100)]
    assert all(d.angle_deg == 0 and 1.0 <= d.scale <= 1.2 for d in kitti)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert augment.sample_params(NYU, g1) == augment.sample_params(NYU, g2)


def test_random_transform_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Main process: one seeded stream; a worker: seeded by its torch seed, so streams differ."""
    sample = make_sample(_gradient_image(48, 64), NYU_K)
    config = AugmentConfig(base_size=(24, 32), out_size=(20, 28), scale_range=(1.0, 1.5),
                           max_rotation_deg=5, colour_range=(0.8, 1.2), flip_prob=0.5)
    a, b = augment.RandomTransform(config, seed=3), augment.RandomTransform(config, seed=3)
    first, second = a(sample), a(sample)
    assert not torch.equal(first['image'], second['image'])
    torch.testing.assert_close(b(sample)['image'], first['image'], rtol=0, atol=0)
    monkeypatch.setattr(torch.utils.data, 'get_worker_info', lambda: SimpleNamespace(seed=77))
    in_worker = augment.RandomTransform(config, seed=3)(sample)
    assert not torch.equal(in_worker['image'], first['image'])
    again = augment.RandomTransform(config, seed=3)(sample)
    torch.testing.assert_close(again['image'], in_worker['image'], rtol=0, atol=0)


def test_bad_configs_and_samples_are_rejected() -> None:
    """Crops larger than the scaled base, unknown presets and bad shapes raise AugmentError."""
    with pytest.raises(AugmentError):
        AugmentConfig(base_size=(10, 10), out_size=(12, 10))
    with pytest.raises(AugmentError, match='unknown augmentation preset'):
        augment.resolve_config('nyu')
    with pytest.raises(AugmentError):
        make_sample(np.zeros((4, 4)), NYU_K)
    with pytest.raises(AugmentError):
        make_sample(np.zeros((4, 4, 3)), NYU_K, depth=np.zeros((4, 5)))


def _scene_sample(seed: int = 0) -> dict:
    """Return a 240x320 sample with a textured image, depth, normals and labels."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:240, 0:320].astype(np.float64)
    image = np.stack([0.5 + 0.3 * np.sin(u / 9), 0.4 + 0.3 * np.cos(v / 7),
                      0.3 + 0.2 * np.sin((u + v) / 13)], axis=-1)
    image += rng.normal(0, 0.02, image.shape)
    depth = 2.0 + 0.01 * u + 0.005 * v
    normals = np.zeros((240, 320, 3))
    normals[..., 2] = -1.0
    normals[:, 100:, 0], normals[:, 100:, 2] = 0.6, -0.8
    labels = (u // 40 + 3 * (v // 60)).astype(np.int64)
    return make_sample(np.clip(image, 0, 1), (280.0, 280.0, 159.5, 119.5), depth=depth,
                       labels=labels, normals=normals)


PHOTOMETRIC = [
    {'brightness': 0.1}, {'contrast': 0.7}, {'saturation': 0.5}, {'gamma': 1.3},
    {'hue_deg': 20.0}, {'blur_sigma': 1.2}, {'noise_std': 0.03, 'noise_seed': 5},
]


@pytest.mark.parametrize('change', PHOTOMETRIC, ids=lambda c: next(iter(c)))
def test_photometric_ops_change_only_the_image(change: dict) -> None:
    """Each op changes the image as it claims; depth, normals, labels, intrinsics are untouched."""
    config = augment.PRESETS['synthetic_robust']
    sample = _scene_sample()
    geometry = AugmentParams(scale=1.2, angle_deg=3.0, crop=(10, 20), flip=True)
    plain = apply_params(sample, config, geometry)
    out = apply_params(sample, config, dataclasses.replace(geometry, **change))
    for key in ('depth', 'normals', 'labels', 'intrinsics'):
        assert torch.equal(out[key], plain[key]), key
    a, b = plain['image'].numpy().astype(np.float64), out['image'].numpy().astype(np.float64)
    covered = plain['depth'].numpy()[0] > 0
    a, b = a[:, covered], b[:, covered]  # (3, N) pixels the rotated view covers
    assert not np.allclose(a, b, atol=1e-3)
    assert b.min() >= 0.0 and b.max() <= 1.0
    luma = np.array([0.2126, 0.7152, 0.0722])
    name, value = next(iter(change.items()))
    if name == 'brightness':
        inner = (a > 0.02).all(0) & (a < 0.88).all(0)
        np.testing.assert_allclose((b - a)[:, inner], value, atol=1e-6)
    elif name == 'contrast':
        mean = (luma @ a).mean()
        assert (b - mean).std() == pytest.approx(value * (a - mean).std(), rel=0.01)
    elif name == 'saturation':
        ya, yb = luma @ a, luma @ b
        np.testing.assert_allclose(yb, ya, atol=1e-5)  # luminance kept
        np.testing.assert_allclose(b - yb, value * (a - ya), atol=1e-5)
    elif name == 'gamma':
        np.testing.assert_allclose(b, a ** value, atol=1e-5)
    elif name == 'hue_deg':
        # Turning about the grey axis keeps each pixel's mean and its distance from it.
        unclipped = (b > 1e-6).all(0) & (b < 1 - 1e-6).all(0)
        assert unclipped.mean() > 0.95
        a, b = a[:, unclipped], b[:, unclipped]
        np.testing.assert_allclose(b.mean(0), a.mean(0), atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(b - b.mean(0), axis=0),
                                   np.linalg.norm(a - a.mean(0), axis=0), atol=1e-5)
        chroma_a, chroma_b = a - a.mean(0), b - b.mean(0)
        cos = (chroma_a * chroma_b).sum(0) / np.maximum(
            np.linalg.norm(chroma_a, axis=0) * np.linalg.norm(chroma_b, axis=0), 1e-12)
        strong = np.linalg.norm(chroma_a, axis=0) > 0.05
        np.testing.assert_allclose(np.degrees(np.arccos(np.clip(cos[strong], -1, 1))), value,
                                   atol=0.1)
    elif name == 'blur_sigma':
        assert np.abs(np.diff(b, axis=1)).mean() < 0.8 * np.abs(np.diff(a, axis=1)).mean()
        assert b.mean() == pytest.approx(a.mean(), abs=2e-3)
    else:
        inner = (a > 0.15).all(0) & (a < 0.85).all(0)
        assert (b - a)[:, inner].std() == pytest.approx(value, rel=0.05)
        assert abs((b - a)[:, inner].mean()) < 1e-3
    # Where the rotated view does not reach, the image stays 0.
    assert (out['image'].numpy()[:, ~(plain['image'].numpy() > 0).any(0)] == 0).all()


def test_colour_matrix_keeps_greys_and_composes() -> None:
    grey = np.array([0.3, 0.3, 0.3])
    for saturation, hue in ((0.0, 0.0), (1.3, 0.0), (1.0, 45.0), (0.7, -30.0)):
        np.testing.assert_allclose(augment.colour_matrix(saturation, hue) @ grey, grey,
                                   atol=1e-12)
    np.testing.assert_allclose(augment.colour_matrix(1.0, 0.0), np.eye(3), atol=1e-12)
    np.testing.assert_allclose(augment.colour_matrix(1.0, 120.0) @ [1.0, 0.0, 0.0],
                               [0.0, 1.0, 0.0], atol=1e-12)  # 120 deg: red -> green


def test_metric_depth_under_scaling() -> None:
    """depth_follows_scale=False: depth values unchanged, intrinsics still s times the focal."""
    sample = _scene_sample()
    params = AugmentParams(scale=1.4, crop=(25, 60))
    eigen = AugmentConfig(base_size=(240, 320), out_size=(228, 304), scale_range=(1.0, 1.5))
    metric = dataclasses.replace(eigen, depth_follows_scale=False)
    a, b = apply_params(sample, eigen, params), apply_params(sample, metric, params)
    np.testing.assert_allclose(b['depth'].numpy(), a['depth'].numpy() * 1.4, rtol=1e-6)
    assert torch.equal(a['intrinsics'], b['intrinsics'])
    np.testing.assert_allclose(b['intrinsics'].numpy()[:2], [280 * 1.4, 280 * 1.4], rtol=1e-6)
    # Values at corresponding pixels: f(M p) itself, the metric depth of the source.
    x, y = _source_of(plan_warp((240, 320), (280.0, 280.0, 159.5, 119.5), metric, params))
    np.testing.assert_allclose(b['depth'].numpy()[0], 2.0 + 0.01 * x + 0.005 * y, rtol=1e-6)
    warp = plan_warp((240, 320), (280.0, 280.0, 159.5, 119.5), metric, params)
    assert warp.depth_factor == 1.0
    sparse = dataclasses.replace(metric, sparse_depth=True)
    lidar = np.zeros((240, 320))
    lidar[::7, ::5] = 3.25
    out = apply_params(make_sample(np.zeros((240, 320, 3)), (280.0, 280.0, 159.5, 119.5),
                                   depth=lidar), sparse, params)['depth'].numpy()
    assert set(np.unique(out)) == {0.0, 3.25}


def test_robust_preset_is_reproducible_and_within_its_ranges() -> None:
    config = augment.PRESETS['synthetic_robust']
    assert not config.depth_follows_scale and config.base_size == (240, 320)
    assert config.out_size == (228, 304) and config.scale_range == (1.0, 1.5)
    sample = _scene_sample()
    first = augment.augment(sample, 'synthetic_robust', np.random.default_rng(11))
    again = augment.augment(sample, 'synthetic_robust', np.random.default_rng(11))
    other = augment.augment(sample, 'synthetic_robust', np.random.default_rng(12))
    for key in first:
        assert torch.equal(first[key], again[key])
    assert not torch.equal(first['image'], other['image'])
    rng = np.random.default_rng(4)
    draws = [augment.sample_params(config, rng) for _ in range(400)]
    jittered = np.mean([d.contrast != 1.0 for d in draws])
    assert 0.72 < jittered < 0.88
    assert 0.14 < np.mean([d.blur_sigma > 0 for d in draws]) < 0.26
    assert 0.24 < np.mean([d.noise_std > 0 for d in draws]) < 0.36
    for d in draws:
        assert 1.0 <= d.scale <= 1.5 and abs(d.angle_deg) <= 5
        assert -0.08 <= d.brightness <= 0.08 and 0.8 <= d.contrast <= 1.2
        assert 0.8 <= d.saturation <= 1.2 and 0.85 <= d.gamma <= 1.15 and abs(d.hue_deg) <= 5
        assert d.blur_sigma == 0 or 0.3 <= d.blur_sigma <= 1.0
        assert d.noise_std == 0 or 0.005 <= d.noise_std <= 0.02
    # The presets without photometric jitter draw exactly as before.
    nyu = augment.sample_params(NYU, np.random.default_rng(1))
    assert nyu == AugmentParams(scale=nyu.scale, angle_deg=nyu.angle_deg, crop=nyu.crop,
                                flip=nyu.flip, colour=nyu.colour)
    rng = np.random.default_rng(1)
    rng.uniform(), rng.uniform(), rng.integers(0, 2), rng.integers(0, 2), rng.random()
    assert nyu.colour == tuple(rng.uniform(0.8, 1.2, 3))
    with pytest.raises(AugmentError):
        AugmentConfig(base_size=(4, 4), out_size=(4, 4), noise_prob=1.5)
    with pytest.raises(AugmentError):
        AugmentConfig(base_size=(4, 4), out_size=(4, 4), gamma_range=(0.0, 1.0))
