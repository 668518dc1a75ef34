"""Units of the generator: sensor model, textures, scene ranges, classes, shadows."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from ros2_depth_trainer.synth import classes as C
from ros2_depth_trainer.synth.camera import camera_from_fov, CameraPose
from ros2_depth_trainer.synth.materials import Material, Part, PATTERNS
from ros2_depth_trainer.synth.raycast import Box, Plane
from ros2_depth_trainer.synth.render import render
from ros2_depth_trainer.synth.sample import render_sample
from ros2_depth_trainer.synth.scene import Scene
from ros2_depth_trainer.synth.scenes import random_view
from ros2_depth_trainer.synth.sensor import (depth_edges, DEPTH_FAMILIES, depth_holes,
                                             draw_sensor, expose, jpeg, motion_blur,
                                             motion_kernel, projector_shadow,
                                             quantise_disparity, sensor_depth, SensorModel)
from ros2_depth_trainer.synth.shading import Light, Lighting
from ros2_depth_trainer.synth.textures import albedo


def test_projector_shadow_beside_a_foreground_edge() -> None:
    depth = np.full((4, 40), 4.0, np.float32)
    depth[:, 20:] = 1.0  # a near object on the right half
    shadow = projector_shadow(depth, fx=500.0, baseline=0.075)
    # Disparities 37.5 px (near) and 9.4 px (far): the far surface is hidden from the
    # projector on the 28 columns left of the edge (19 here, the image starts at column 0).
    assert shadow[:, :20].all() and not shadow[:, 20:].any()
    depth[:, :] = 4.0
    depth[:, 30:] = 1.0
    shadow = projector_shadow(depth, fx=100.0, baseline=0.075)
    hidden = np.flatnonzero(shadow[0])
    assert hidden.tolist() == list(range(25, 30))  # 7.5 - 1.875 = 5.6 px wide
    assert not projector_shadow(depth, fx=100.0, baseline=0.0).any()


def test_depth_holes_follow_the_model() -> None:
    depth = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 20.0, np.nan]], np.float32)
    cos = np.array([[0.9, 0.05, 0.9, 0.9, 0.9, 0.9, 1.0]], np.float32)
    lum = np.array([[0.5, 0.5, 0.01, 0.5, 0.5, 0.5, 1.0]], np.float32)
    spec = np.array([[0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0]], np.float32)
    glass = np.array([[False, False, False, False, True, False, False]])
    model = SensorModel(grazing_cos=0.1, dark_albedo=0.02, specular_threshold=0.5,
                        max_range=10.0, glass_holes=True)
    holes = depth_holes(depth, cos, lum, spec, glass, 500.0, model)
    assert holes.tolist() == [[False, True, True, True, True, True, True]]
    ideal = depth_holes(depth, cos, lum, spec, glass, 500.0, SensorModel.ideal())
    assert ideal.tolist() == [[False] * 6 + [True]]


def test_expose_is_8_bit_and_follows_exposure() -> None:
    radiance = np.full((8, 8, 3), 0.5, np.float32)
    radiance[:, 4:] = 2.0
    rng = np.random.default_rng(0)
    dark = expose(radiance, SensorModel(exposure_ev=-1.0), rng)
    bright = expose(radiance, SensorModel(exposure_ev=1.0), rng)
    assert dark.dtype == np.uint8 and dark.shape == (8, 8, 3)
    assert (bright.astype(int) >= dark.astype(int)).all() and (bright > dark).any()
    assert (dark[:, 5:] > dark[:, :3]).all()


def test_legacy_draw_sensor_ranges() -> None:
    rng = np.random.default_rng(1)
    indoor = [draw_sensor('indoor', rng, legacy=True) for _ in range(50)]
    street = [draw_sensor('street', rng, legacy=True) for _ in range(50)]
    assert all(6.0 <= m.max_range <= 10.0 and m.baseline == 0.075 for m in indoor)
    assert all(40.0 <= m.max_range <= 65.535 for m in street)
    assert all(0.3 <= m.blur_sigma <= 0.9 and m.glass_holes for m in indoor + street)
    new_fields = ('motion_blur_px', 'saturation', 'noise_correlation', 'jpeg_quality',
                  'depth_family', 'min_range', 'disparity_fb', 'flying_share', 'tof_noise')
    for m in indoor + street:
        assert all(getattr(m, f) == getattr(SensorModel(), f) for f in new_fields)
        assert -0.6 <= m.exposure_ev <= 0.4 and 0.0 <= m.vignetting <= 0.35
        assert all(0.93 <= g <= 1.07 for g in m.white_balance)


def test_legacy_draws_are_those_of_generator_1() -> None:
    """The bags' sensor: values drawn by generator 1.0's draw_sensor from the same seed."""
    indoor = draw_sensor('indoor', np.random.default_rng(42), legacy=True)
    street = draw_sensor('street', np.random.default_rng(42), legacy=True)
    assert indoor.exposure_ev == 0.17395604855596336 == street.exposure_ev
    assert indoor.max_range == 9.707059955394406 and indoor.baseline == 0.075
    assert street.max_range == 63.16912472121504 and street.baseline == 0.07726381440967975


def test_draw_sensor_ranges() -> None:
    rng = np.random.default_rng(1)
    indoor = [draw_sensor('indoor', rng) for _ in range(300)]
    robot = [draw_sensor('robot', rng) for _ in range(100)]
    street = [draw_sensor('street', rng) for _ in range(100)]
    families = [m.depth_family for m in indoor]
    for family, share in (('structured_light', 0.4), ('tof', 0.4), ('ideal', 0.2)):
        assert abs(families.count(family) / len(indoor) - share) < 0.08
    assert {m.depth_family for m in robot} == set(DEPTH_FAMILIES)
    assert {m.depth_family for m in street} == {'ideal'}
    for m in indoor + robot + street:
        assert -1.0 <= m.exposure_ev <= 0.7 and 0.0 <= m.vignetting <= 0.55
        assert 0.75 <= m.saturation <= 1.2 and 0.0 <= m.noise_correlation <= 0.6
        assert m.motion_blur_px == 0 or 1.0 <= m.motion_blur_px <= 5.0
        assert m.jpeg_quality == 0 or 35 <= m.jpeg_quality <= 95
        assert m.glass_holes and 0.3 <= m.blur_sigma <= 0.9
        r, g, b = m.white_balance
        assert g == pytest.approx(1.0, abs=0.05) and 0.75 < r / b < 1.7
    blurred = np.mean([m.motion_blur_px > 0 for m in indoor + robot + street])
    compressed = np.mean([m.jpeg_quality > 0 for m in indoor + robot + street])
    assert 0.2 < blurred < 0.4 and 0.3 < compressed < 0.5
    # Indoors, warm casts (red over blue) are the more common.
    assert np.mean([m.white_balance[0] > m.white_balance[2] for m in indoor]) > 0.6
    near_limits = {('indoor', 'structured_light'): (0.2, 0.5), ('indoor', 'tof'): (0.25, 0.5),
                   ('robot', 'structured_light'): (0.1, 0.3), ('robot', 'tof'): (0.1, 0.25)}
    for kind, m in [('indoor', m) for m in indoor] + [('robot', m) for m in robot]:
        if m.depth_family in ('structured_light', 'tof'):
            low, high = near_limits[kind, m.depth_family]
            assert low <= m.min_range <= high, (kind, m.depth_family, m.min_range)
        if m.depth_family == 'structured_light':
            assert 19.0 <= m.disparity_fb <= 45.0 and 0.06 <= m.disparity_step <= 0.125
            assert 0.05 <= m.baseline <= 0.075
        elif m.depth_family == 'tof':
            assert m.baseline == 0.0 and 4.0 <= m.max_range <= 6.0
            assert 0.3 <= m.flying_share <= 1.0 and 0.0015 <= m.tof_noise <= 0.004
        else:
            assert m.baseline == 0.075 and m.disparity_fb == 0 and m.tof_noise == 0
    assert all(40.0 <= m.max_range <= 65.0 for m in street)
    with pytest.raises(ValueError):
        SensorModel(depth_family='lidar')


def test_disparity_quantisation_steps_grow_with_depth_squared() -> None:
    fb, step = 580 * 0.075, 0.125  # Kinect v1: 1/8 pixel steps
    depth = np.linspace(0.5, 8.0, 200001, dtype=np.float32)
    measured = quantise_disparity(depth, fb, step)
    levels = np.unique(measured)
    # Every level is f b / (k step) for an integer k.
    k = fb / (levels.astype(np.float64) * step)
    assert np.abs(k - np.round(k)).max() < 1e-3
    # Level spacing is the step in inverse depth: dz ~ z^2 step / (f b).
    z_mid = 0.5 * (levels[1:] + levels[:-1]).astype(np.float64)
    spacing = np.diff(levels.astype(np.float64))
    assert np.allclose(spacing, z_mid ** 2 * step / fb, rtol=0.02)
    assert 0.0018 < spacing[np.argmin(np.abs(z_mid - 1.0))] < 0.0040  # ~3 mm at 1 m
    assert 0.07 < spacing[np.argmin(np.abs(z_mid - 5.0))] < 0.08  # ~7 cm at 5 m
    # Each depth goes to the nearest level in disparity: within half a step.
    error = np.abs(fb / measured - fb / depth)
    assert error.max() <= 0.5 * step + 1e-3
    assert np.isnan(quantise_disparity(np.array([np.nan], np.float32), fb, step)).all()


def _step_scene() -> np.ndarray:
    """Return the (40, 40) depth of a 1 m square in front of a 3 m wall."""
    depth = np.full((40, 40), 3.0, np.float32)
    depth[10:30, 10:30] = 1.0
    return depth


def test_tof_flying_pixels_lie_on_edges_between_the_two_depths() -> None:
    depth = _step_scene()
    holes = np.zeros(depth.shape, bool)
    albedo = np.full(depth.shape, 0.5, np.float32)
    model = SensorModel(depth_family='tof', flying_share=1.0)
    out = sensor_depth(depth, holes, albedo, model, np.random.default_rng(0))
    changed = out != depth
    # Pixels within one pixel (8-neighbourhood) of the other side of the discontinuity.
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(depth < 2, 1, mode='edge'),
                                                       (3, 3))
    band = windows.any((2, 3)) & ~windows.all((2, 3))
    assert band.sum() == (20 * 20 - 18 * 18) + (22 * 22 - 20 * 20)  # one ring each side
    assert changed.sum() > 100
    assert not changed[~band].any(), 'flying pixels only within a pixel of a discontinuity'
    assert (out[changed] > 1.0).all() and (out[changed] < 3.0).all()
    assert np.std(out[changed]) > 0.3, 'mixed depths spread between the two surfaces'
    edge, lo, hi = depth_edges(depth)
    assert np.array_equal(edge, band) and lo[20, 9] == 1.0 and hi[20, 10] == 3.0
    # The share of edge pixels that fly follows the model; holes stay NaN.
    holes[0] = True
    half = sensor_depth(depth, holes, albedo, SensorModel(depth_family='tof', flying_share=0.5),
                        np.random.default_rng(1))
    assert np.isnan(half[0]).all() and np.isfinite(half[1:]).all()
    assert 0.35 < (half != depth)[1:][edge[1:]].mean() < 0.65


def test_tof_noise_grows_with_distance_and_darkness() -> None:
    depth = np.concatenate([np.full((100, 100), 1.0), np.full((100, 100), 4.0)], 1)
    depth = depth.astype(np.float32)
    albedo = np.full(depth.shape, 0.5, np.float32)
    albedo[50:] = 0.05
    model = SensorModel(depth_family='tof', tof_noise=0.003)
    out = sensor_depth(depth, np.zeros(depth.shape, bool), albedo, model,
                       np.random.default_rng(2))
    error = out - depth
    # Away from the 1 m | 4 m edge: sigma = tof_noise * z * sqrt(0.5 / albedo).
    near_bright, far_bright = error[:50, :90].std(), error[:50, 110:].std()
    near_dark, far_dark = error[50:, :90].std(), error[50:, 110:].std()
    assert near_bright == pytest.approx(0.003, rel=0.05)
    assert far_bright == pytest.approx(0.012, rel=0.05)
    assert near_dark == pytest.approx(0.003 * np.sqrt(10), rel=0.05)
    assert far_dark == pytest.approx(0.012 * np.sqrt(10), rel=0.05)
    assert abs(error[:50, :90].mean()) < 0.001


def test_structured_light_depth_is_quantised_disparity() -> None:
    depth = _step_scene() * np.float32(1.1)  # 1.1 and 3.3 m: between disparity steps
    depth[:, :5] = np.nan
    holes = ~np.isfinite(depth)
    holes[0, 20] = True
    model = SensorModel(depth_family='structured_light', disparity_fb=43.5,
                        disparity_step=0.125)
    out = sensor_depth(depth, holes, np.ones(depth.shape, np.float32), model,
                       np.random.default_rng(0))
    assert np.array_equal(np.isnan(out), holes)
    assert np.array_equal(out[~holes], quantise_disparity(depth, 43.5, 0.125)[~holes])
    assert (out[~holes] != depth[~holes]).all()
    noisy = sensor_depth(depth, holes, np.ones(depth.shape, np.float32),
                         SensorModel(depth_family='structured_light', disparity_fb=43.5,
                                     disparity_step=0.125, disparity_noise=0.1),
                         np.random.default_rng(0))
    assert len(np.unique(noisy[depth > 3])) > 2, 'noise dithers between disparity steps'


def test_ideal_family_keeps_valid_depth_exact() -> None:
    depth = _step_scene()
    holes = np.zeros(depth.shape, bool)
    holes[:3] = True
    out = sensor_depth(depth, holes, np.ones(depth.shape, np.float32), SensorModel(),
                       np.random.default_rng(0))
    assert np.isnan(out[holes]).all() and np.array_equal(out[~holes], depth[~holes])


def test_motion_blur_spreads_an_impulse_along_its_direction() -> None:
    for length, angle in ((5.0, 30.0), (3.0, 90.0), (4.0, 135.0)):
        kernel = motion_kernel(length, angle)
        assert kernel.sum() == pytest.approx(1.0) and (kernel >= 0).all()
        image = np.zeros((31, 31, 3), np.float32)
        image[15, 15] = 1.0
        out = motion_blur(image, length, angle)[..., 0]
        assert out.sum() == pytest.approx(1.0, rel=1e-5)
        v, u = np.mgrid[0:31, 0:31] - 15.0
        along_dir = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        along = u * along_dir[0] + v * along_dir[1]
        across = -u * along_dir[1] + v * along_dir[0]
        var_along, var_across = (out * along ** 2).sum(), (out * across ** 2).sum()
        # A uniform line of length L has variance L^2 / 12; bilinear splatting adds < 1/6.
        assert length ** 2 / 12 - 0.05 < var_along < length ** 2 / 12 + 0.2
        assert var_across < 0.2 and (out * along).sum() == pytest.approx(0.0, abs=1e-4)
    flat = np.random.default_rng(0).random((10, 10, 3)).astype(np.float32)
    assert motion_blur(flat, 0.0, 10.0) is flat


def test_motion_blur_in_expose_smears_a_bright_point() -> None:
    radiance = np.full((41, 41, 3), 0.2, np.float32)
    radiance[20, 20] = 50.0
    sharp = expose(radiance, SensorModel(), np.random.default_rng(0))
    blurred = expose(radiance, SensorModel(motion_blur_px=9.0, motion_blur_deg=0.0),
                     np.random.default_rng(0))
    bright = blurred[..., 1] > sharp[0, 0, 1] + 10
    rows, cols = np.nonzero(bright)
    assert set(rows) == {20} and cols.max() - cols.min() >= 6
    assert (sharp[..., 1] > sharp[0, 0, 1] + 10).sum() == 1


def test_jpeg_changes_the_image_but_keeps_its_mean() -> None:
    rng = np.random.default_rng(3)
    base = cv2.resize(rng.uniform(40, 220, (12, 16, 3)).astype(np.float32), (128, 96))
    image = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    for quality in (35, 95):
        out = jpeg(image, quality)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert not np.array_equal(out, image)
        assert np.abs(out.mean((0, 1)) - image.mean((0, 1))).max() < 1.0
        assert np.abs(out.astype(float) - image).mean() < 12
    low, high = jpeg(image, 35), jpeg(image, 95)
    assert np.abs(low.astype(float) - image).mean() > np.abs(high.astype(float) - image).mean()
    radiance = np.full((32, 32, 3), 0.4, np.float32) * rng.uniform(0.5, 1.5, (32, 32, 1))
    plain = expose(radiance.astype(np.float32), SensorModel(), np.random.default_rng(0))
    compressed = expose(radiance.astype(np.float32), SensorModel(jpeg_quality=40),
                        np.random.default_rng(0))
    assert np.array_equal(compressed, jpeg(plain, 40))


def test_saturation_and_correlated_noise() -> None:
    radiance = np.zeros((64, 64, 3), np.float32)
    radiance[..., 0], radiance[..., 1], radiance[..., 2] = 0.6, 0.3, 0.15
    spread = {}
    for saturation in (0.6, 1.0, 1.2):
        rgb = expose(radiance, SensorModel(saturation=saturation), np.random.default_rng(0))
        spread[saturation] = int(rgb[0, 0].max()) - int(rgb[0, 0].min())
    assert spread[0.6] < spread[1.0] < spread[1.2]
    grey = np.full((128, 128, 3), 0.3, np.float32)
    corr = {}
    for rho in (0.0, 0.6):
        rgb = expose(grey, SensorModel(read_noise=0.05, noise_correlation=rho),
                     np.random.default_rng(0)).astype(float)
        residual = (rgb - rgb.mean((0, 1))).reshape(-1, 3).T
        corr[rho] = np.corrcoef(residual)[0, 1:].tolist() + [np.corrcoef(residual)[1, 2]]
        assert residual.std(axis=1) == pytest.approx([0.05 * 255] * 3, rel=0.05)
    assert max(abs(c) for c in corr[0.0]) < 0.05
    assert all(abs(c - 0.6) < 0.05 for c in corr[0.6])


@pytest.mark.parametrize('pattern', PATTERNS)
def test_textures_are_valid_reflectances(pattern: str) -> None:
    rng = np.random.default_rng(0)
    uv = rng.uniform(-50, 50, (2000, 2)).astype(np.float32)
    footprint = rng.uniform(0.0, 0.5, 2000).astype(np.float32)
    material = Material(pattern, ((0.8, 0.5, 0.3), (0.2, 0.2, 0.2), (0.9, 0.9, 0.9)), scale=0.5,
                        seed=3, param=0.01 if pattern != 'asphalt' else 4.0)
    a = albedo(material, uv, footprint)
    assert a.shape == (2000, 3) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0
    assert a.std(axis=0).max() > 1e-3, 'a texture varies'
    assert np.array_equal(a, albedo(material, uv, footprint))


def test_unknown_pattern_is_rejected() -> None:
    with pytest.raises(ValueError):
        Material('marble', ((0.5, 0.5, 0.5),))


def test_scene_ranges() -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        view = random_view('indoor', rng)
        room = view.scene.info['room']
        assert 0.8 <= view.height <= 1.8 and 50 <= view.fov_deg <= 70
        assert 0 < view.pose.position[0] < room['width']
        assert 0 < view.pose.position[1] < room['length']
        assert -30 <= math.degrees(view.pose.pitch) <= 10
        view = random_view('street', rng)
        assert 1.3 <= view.height <= 2.0 and 60 <= view.fov_deg <= 90
        labels = {p.label for prim in view.scene.primitives for p in prim.parts}
        assert {C.ROAD, C.SIDEWALK, C.BUILDING, C.WINDOW} <= labels
    with pytest.raises(ValueError):
        random_view('forest', np.random.default_rng(0))


def test_one_class_list() -> None:
    assert C.CLASS_NAMES[0] == 'unlabelled' and len(set(C.CLASS_NAMES)) == len(C.CLASS_NAMES)
    assert len(C.PALETTE) == len(C.CLASS_NAMES)
    assert len({tuple(c) for c in C.PALETTE}) == len(C.PALETTE)
    assert C.colorize_labels(np.array([[C.SKY, 200]], np.uint8)).tolist() == [
        [list(C.PALETTE[C.SKY]), [0, 0, 0]]]


def test_sun_shadow_falls_where_the_box_blocks_the_sun() -> None:
    grey = Material('plain', ((0.5, 0.5, 0.5),))
    ground = Plane((0, 0, 0), [Part(C.ROAD, grey)])
    block = Box((-1, -1, 0), (1, 1, 2), [Part(C.BUILDING, grey)], origin=(0, 6, 0))
    sun = (0.0, 0.7071067811865476, 0.7071067811865476)  # from +y, 45 deg up
    scene = Scene('street', [ground, block],
                  Lighting((Light('sun', sun, (1.0, 1.0, 1.0)),), (0.2,) * 3, (0.1,) * 3))
    pose = CameraPose((0.0, 0.0, 6.0), math.radians(90), math.radians(-60), 0.0)
    camera = camera_from_fov(80, 60, 80.0)
    out = render(scene, pose, camera, SensorModel.ideal(), np.random.default_rng(0))
    lit = render(scene, pose, camera, SensorModel.ideal(), np.random.default_rng(0),
                 shadows=False)
    frame = out.frame
    # Back-project road pixels: those with 3 < y < 5 and |x| < 0.9 lie in the block's shadow.
    v, u = np.mgrid[0:60, 0:80]
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                     np.ones(u.shape)], -1) @ pose.rotation().T
    points = np.asarray(pose.position) + rays * frame.depth[..., None]
    road = out.primitive == 0
    shadowed = road & (np.abs(points[..., 0]) < 0.9) & (points[..., 1] > 3.1) & (
        points[..., 1] < 4.9)
    sunny = road & (points[..., 1] < 2.5)
    assert shadowed.sum() > 20 and sunny.sum() > 20
    luma = frame.rgb.astype(float).mean(-1)
    assert luma[shadowed].mean() < 0.7 * luma[sunny].mean()
    assert np.array_equal(out.frame.depth, lit.frame.depth, equal_nan=True)
    assert lit.frame.rgb.astype(float).mean(-1)[shadowed].mean() > 0.9 * luma[sunny].mean()


def test_sensor_families_leave_normals_and_labels_exact() -> None:
    """Each family: exact geometry unchanged, NaN exactly in the holes, errors as modelled."""
    seen = set()
    for index in range(12):
        clean = render_sample('indoor', 3, index, 30, 40, effects=False)
        noisy = render_sample('indoor', 3, index, 30, 40)
        family = noisy.sensor.depth_family
        seen.add(family)
        assert noisy.metadata()['depth_sensor'] == family
        json.dumps(noisy.metadata(), allow_nan=False)
        exact, holes = noisy.rendered.exact_depth, noisy.rendered.holes
        depth = noisy.rendered.frame.depth
        assert np.array_equal(clean.rendered.exact_depth, exact, equal_nan=True)
        assert np.array_equal(clean.rendered.frame.normals, noisy.rendered.frame.normals,
                              equal_nan=True)
        assert np.array_equal(clean.rendered.frame.labels, noisy.rendered.frame.labels)
        assert np.array_equal(np.isnan(depth), holes)
        valid = ~holes
        if family == 'ideal':
            assert np.array_equal(depth[valid], exact[valid])
        elif family == 'structured_light':
            s = noisy.sensor
            half_step = exact[valid] ** 2 * (0.5 * s.disparity_step + 4 * s.disparity_noise)
            assert (np.abs(depth[valid] - exact[valid]) <= half_step / s.disparity_fb
                    + 1e-5).all()
            assert (depth[valid] != exact[valid]).mean() > 0.5
        else:
            edge = depth_edges(exact)[0]
            far = np.abs(depth - exact)[valid & ~edge]
            assert (far < 6 * noisy.sensor.tof_noise * 10 * exact[valid & ~edge]).all()
    assert seen == set(DEPTH_FAMILIES)


def test_effects_only_change_colour_and_holes() -> None:
    clean = render_sample('indoor', 5, 0, 40, 56, effects=False)
    noisy = render_sample('indoor', 5, 0, 40, 56, effects=True)
    assert np.array_equal(clean.rendered.exact_depth, noisy.rendered.exact_depth,
                          equal_nan=True)
    assert np.array_equal(clean.rendered.frame.labels, noisy.rendered.frame.labels)
    holes = noisy.rendered.holes
    depth = noisy.rendered.frame.depth
    assert np.isnan(depth[holes]).all() and np.isfinite(depth[~holes]).all()
    assert np.isfinite(noisy.rendered.frame.normals[holes]).all(), 'normals stay valid in holes'
    assert not np.array_equal(clean.rendered.frame.rgb, noisy.rendered.frame.rgb)
