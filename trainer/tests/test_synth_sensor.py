"""Units of the generator: sensor model, textures, scene ranges, classes, shadows."""

from __future__ import annotations

import math

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
from ros2_depth_trainer.synth.sensor import (depth_holes, draw_sensor, expose, projector_shadow,
                                             SensorModel)
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


def test_draw_sensor_ranges() -> None:
    rng = np.random.default_rng(1)
    indoor = [draw_sensor('indoor', rng) for _ in range(50)]
    street = [draw_sensor('street', rng) for _ in range(50)]
    assert all(6.0 <= m.max_range <= 10.0 and m.baseline == 0.075 for m in indoor)
    assert all(40.0 <= m.max_range <= 65.535 for m in street)
    assert all(0.3 <= m.blur_sigma <= 0.9 and m.glass_holes for m in indoor + street)


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
