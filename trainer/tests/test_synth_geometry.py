"""
Exactness of the generated ground truth: depth, normals and labels against the true geometry.

The depth is back-projected with the intrinsics and the camera pose and compared with the
scene's own description (planes, boxes, recesses, cylinders, spheres), independently of the
renderer's code paths: depth error < 1e-4 m, normal error < 0.1 deg, labels of the hit part.
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np
import pytest
from ros2_depth_trainer.synth import classes as C
from ros2_depth_trainer.synth.camera import camera_from_fov, CameraPose
from ros2_depth_trainer.synth.materials import Material, Part
from ros2_depth_trainer.synth.raycast import (axis_rotation, Box, Cylinder, Plane, Recess,
                                              RecessGrid, Sphere, yaw_rotation)
from ros2_depth_trainer.synth.render import render, Rendered
from ros2_depth_trainer.synth.sample import render_sample
from ros2_depth_trainer.synth.scene import Scene
from ros2_depth_trainer.synth.sensor import SensorModel
from ros2_depth_trainer.synth.shading import Light, Lighting

DEPTH_TOL = 1e-4  # metres
ANGLE_TOL = 0.1  # degrees
PLAIN = Material('plain', ((0.6, 0.6, 0.6),))


def _part(label: int) -> Part:
    return Part(label, PLAIN)


def known_scene() -> Tuple[Scene, CameraPose]:
    """Return a room with a door and window, a box with a window grid, a cylinder, a sphere."""
    room = Box((0, 0, 0), (5, 6, 3),
               [_part(C.FLOOR), _part(C.CEILING), _part(C.WALL), _part(C.DOOR),
                _part(C.WINDOW)],
               face_parts=(2, 2, 2, 2, 0, 1), hollow=True,
               recesses=[Recess(3, (1.0, 5.95, 0.0), (2.0, 6.2, 2.1), 3, 3),
                         Recess(1, (4.95, 2.0, 1.0), (5.3, 3.5, 2.0), 4, 4)])
    cabinet = Box((-0.5, -0.3, 0.0), (0.5, 0.3, 0.8), [_part(C.FURNITURE), _part(C.WINDOW)],
                  origin=(3.4, 4.0, 0.0), rotation=yaw_rotation(0.4),
                  grid=RecessGrid(face=2, u0=-0.4, v0=0.1, pitch_u=0.3, pitch_v=0.3, count_u=3,
                                  count_v=2, size_u=0.2, size_v=0.2, depth=0.1, back=1, side=1))
    pole = Cylinder((1.3, 4.3, 0.8), 0.3, 0.6, [_part(C.POLE), _part(C.OBJECT)],
                    rotation=axis_rotation((0.3, 0.2, 1.0)), cap_part=1)
    ball = Sphere((2.4, 3.2, 0.5), 0.5, [_part(C.OBJECT)])
    lighting = Lighting((Light('point', (2.5, 3.0, 2.8), (3.0, 3.0, 3.0)),), (0.3,) * 3,
                        (0.1,) * 3)
    scene = Scene('indoor', [room, cabinet, pole, ball], lighting)
    pose = CameraPose((2.5, 0.6, 1.5), math.radians(80), math.radians(-15), math.radians(5))
    return scene, pose


def back_project(rendered: Rendered) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return world points, world unit rays and world normals of every pixel (NaN = none)."""
    frame = rendered.frame
    cam = frame.camera
    v, u = np.mgrid[0:cam.height, 0:cam.width].astype(np.float64)
    rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u)], -1)
    rotation = rendered.pose.rotation()
    rays_world = rays @ rotation.T
    depth = frame.depth.astype(np.float64)
    points = np.asarray(rendered.pose.position) + rays_world * depth[..., None]
    normals = frame.normals.astype(np.float64) @ rotation.T
    return points, rays_world, normals


def expected_surface(prim, face: np.ndarray, local: np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Return residuals, expected local normals and planes of hits, from the description alone.

    The residual is the distance of each local point to the surface its face code names; the
    plane is (axis, coordinate) for planar faces, axis -1 where the face is curved.
    """
    n = len(face)
    residual = np.full(n, np.inf)
    normal = np.zeros((n, 3))
    axis_out = np.full(n, -1)
    coord_out = np.zeros(n)
    if isinstance(prim, Box):
        uv_axes = {0: (1, 2), 1: (0, 2), 2: (0, 1)}
        for i, (code, p) in enumerate(zip(face, local)):
            if code < 6:
                axis, side = divmod(int(code), 2)
                coord = prim.hi[axis] if side else prim.lo[axis]
                outward = 1.0 if side else -1.0
                normal[i, axis] = -outward if prim.hollow else outward
                residual[i] = abs(p[axis] - coord)
            else:
                k, j = divmod(int(code) - 8, 6)
                axis, side = divmod(j, 2)
                normal[i, axis] = -1.0 if side else 1.0
                if k < len(prim.recesses):
                    recess = prim.recesses[k]
                    coord = recess.hi[axis] if side else recess.lo[axis]
                    residual[i] = abs(p[axis] - coord)
                    ua, va = uv_axes[recess.face // 2]
                    inside = (recess.lo[ua] - DEPTH_TOL <= p[ua] <= recess.hi[ua] + DEPTH_TOL
                              and recess.lo[va] - DEPTH_TOL <= p[va] <= recess.hi[va] + DEPTH_TOL)
                    residual[i] = residual[i] if inside else np.inf
                else:
                    grid = prim.grid
                    g_axis, g_side = divmod(grid.face, 2)
                    wall = prim.hi[g_axis] if g_side else prim.lo[g_axis]
                    if axis == g_axis:
                        coord = wall + (-grid.depth if g_side else grid.depth)
                    else:
                        ua, va = uv_axes[g_axis]
                        start, pitch, size = ((grid.u0, grid.pitch_u, grid.size_u) if axis == ua
                                              else (grid.v0, grid.pitch_v, grid.size_v))
                        offset = start + (size if side else 0.0)
                        coord = offset + round((p[axis] - offset) / pitch) * pitch
                    residual[i] = abs(p[axis] - coord)
                axis_out[i], coord_out[i] = axis, coord
                continue
            axis_out[i], coord_out[i] = axis, coord
    elif isinstance(prim, Cylinder):
        rho = np.hypot(local[:, 0], local[:, 1])
        side = face == 0
        residual = np.where(side, np.abs(rho - prim.radius),
                            np.abs(np.abs(local[:, 2]) - prim.half_height))
        normal[side, :2] = local[side, :2] / rho[side, None]
        normal[~side, 2] = np.sign(local[~side, 2])
        caps = ~side
        axis_out[caps] = 2
        coord_out[caps] = np.sign(local[caps, 2]) * prim.half_height
    elif isinstance(prim, Sphere):
        dist = np.linalg.norm(local, axis=1)
        residual = np.abs(dist - prim.radius)
        normal = local / dist[:, None]
    elif isinstance(prim, Plane):
        residual = np.abs(local[:, 2])
        normal[:, 2] = 1.0
        axis_out[:] = 2
    return residual, normal, np.stack([axis_out, coord_out], 1)


def check_exact(rendered: Rendered, expected_labels=None) -> int:
    """Assert exact depth, normals (and labels); return the number of pixels checked."""
    frame = rendered.frame
    points, rays, normals = back_project(rendered)
    origin = np.asarray(rendered.pose.position)
    checked = 0
    for index, prim in enumerate(rendered.scene.primitives):
        mask = (rendered.primitive == index) & np.isfinite(frame.depth)
        if not mask.any():
            continue
        face = rendered.face[mask]
        local = (points[mask] - prim.origin) @ prim.rotation
        residual, normal_local, planes = expected_surface(prim, face, local)
        assert residual.max() < DEPTH_TOL, (type(prim).__name__, index, residual.max())
        # Depth against the analytic ray-plane intersection on planar faces.
        planar = planes[:, 0] >= 0
        if planar.any():
            axis = planes[planar, 0].astype(int)
            o_l = (origin - prim.origin) @ prim.rotation
            d_l = rays[mask][planar] @ prim.rotation
            rows = np.arange(axis.size)
            t = (planes[planar, 1] - o_l[axis]) / d_l[rows, axis]
            error = np.abs(t - frame.depth[mask][planar])
            assert error.max() < DEPTH_TOL, (type(prim).__name__, index, error.max())
        expected = normal_local @ prim.rotation.T
        cos = np.clip((expected * normals[mask]).sum(1), -1.0, 1.0)
        angle = np.degrees(np.arccos(cos))
        assert angle.max() < ANGLE_TOL, (type(prim).__name__, index, angle.max())
        if expected_labels is not None:
            wanted = expected_labels(index, face)
            assert (frame.labels[mask] == wanted).all(), (type(prim).__name__, index)
        checked += int(mask.sum())
    return checked


def _known_labels(index: int, face: np.ndarray) -> np.ndarray:
    if index == 0:  # the room
        table = {0: C.WALL, 1: C.WALL, 2: C.WALL, 3: C.WALL, 4: C.FLOOR, 5: C.CEILING}
        recess = np.where((face - 8) // 6 == 0, C.DOOR, C.WINDOW)
        return np.where(face < 8, [table.get(int(f), -1) for f in face], recess)
    if index == 1:
        return np.where(face < 8, C.FURNITURE, C.WINDOW)
    if index == 2:
        return np.where(face == 0, C.POLE, C.OBJECT)
    return np.full(face.shape, C.OBJECT)


@pytest.fixture(scope='module')
def known() -> Rendered:
    """Render the known scene once, without sensor effects."""
    scene, pose = known_scene()
    camera = camera_from_fov(160, 120, 75.0)
    return render(scene, pose, camera, SensorModel.ideal(), np.random.default_rng(0),
                  shadows=False)


def test_known_scene_is_exact(known: Rendered) -> None:
    frame = known.frame
    assert np.isfinite(frame.depth).all(), 'the camera is inside a closed room'
    hit = {int(i): int((known.primitive == i).sum()) for i in range(4)}
    assert all(count > 50 for count in hit.values()), hit
    faces = set(np.unique(known.face[known.primitive == 0]).tolist())
    assert {0, 1, 3, 4, 5} <= faces and any(f >= 8 for f in faces), faces
    assert any(f >= 8 for f in np.unique(known.face[known.primitive == 1])), 'grid not seen'
    assert check_exact(known, _known_labels) == frame.depth.size


def test_fitted_floor_and_wall_planes(known: Rendered) -> None:
    points, _, _ = back_project(known)
    for face, normal, offset in ((4, (0, 0, 1), 0.0), (3, (0, 1, 0), 6.0)):
        mask = (known.primitive == 0) & (known.face == face)
        cloud = points[mask]
        assert len(cloud) > 100
        centre = cloud.mean(0)
        fitted = np.linalg.svd(cloud - centre)[2][-1]
        fitted *= np.sign(fitted @ np.asarray(normal, float))
        angle = math.degrees(math.acos(min(1.0, float(fitted @ np.asarray(normal, float)))))
        assert angle < ANGLE_TOL
        assert abs(float(centre @ fitted) - offset) < DEPTH_TOL
        # And every back-projected point is on the plane.
        assert np.abs(cloud @ np.asarray(normal, float) - offset).max() < DEPTH_TOL


def test_checker_catches_a_depth_error(known: Rendered) -> None:
    frame = known.frame
    bad = frame.depth.copy()
    bad[60, 80] += 5 * DEPTH_TOL
    broken = Rendered(frame=type(frame)(rgb=frame.rgb, depth=bad, camera=frame.camera,
                                        normals=frame.normals, labels=frame.labels),
                      pose=known.pose, scene=known.scene, exact_depth=bad, holes=known.holes,
                      primitive=known.primitive, face=known.face)
    with pytest.raises(AssertionError):
        check_exact(broken)


@pytest.mark.parametrize('kind', ['indoor', 'street', 'robot'])
def test_generated_scenes_are_exact(kind: str) -> None:
    checked = 0
    for index in range(3):
        sample = render_sample(kind, 11, index, 60, 80, effects=False, shadows=False)
        frame = sample.rendered.frame
        sky = ~np.isfinite(frame.depth)
        assert (frame.labels[sky] == C.SKY).all()
        assert ~np.isfinite(frame.normals[sky]).any()
        assert (frame.labels[~sky] != C.SKY).all() and (frame.labels[~sky] > 0).all()
        checked += check_exact(sample.rendered)
    assert checked > 3 * 60 * 80 * 0.4


def test_robot_scenes_are_exact() -> None:
    """One sample of each robot setting: closed rooms (no sky), exact on every primitive."""
    seen = set()
    for index in range(40):
        sample = render_sample('robot', 11, index, 48, 64, effects=False, shadows=False)
        setting = sample.view.scene.info['setting']
        if setting in seen:
            continue
        seen.add(setting)
        frame = sample.rendered.frame
        assert np.isfinite(frame.depth).all(), setting
        assert (frame.labels > 0).all() and (frame.labels != C.SKY).all(), setting
        assert check_exact(sample.rendered) == frame.depth.size, setting
    assert len(seen) == 5, seen
