"""The demo's scene has exact depth, and `ros2-depth demo` runs the live node end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ros2_depth.camera_model import PinholeCamera
from ros2_depth.cli import main as cli_main
from ros2_depth.demo_scene import camera_pose, Corridor, render_depth, render_image
from ros2_depth.geometry import backproject


def test_corridor_depth_is_exact() -> None:
    """Every back-projected pixel lies on one of the corridor's five planes, to 1e-4 m."""
    corridor = Corridor()
    camera = PinholeCamera(160, 120, 130.0, 131.0, 79.5, 59.5)
    for frame in (0, 5, 11):
        depth = render_depth(corridor, camera, frame, 12).astype(np.float64)
        rotation, position = camera_pose(frame, 12)
        u, v = np.meshgrid(np.arange(160), np.arange(120))
        rays = np.stack(
            [(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1
        )
        world = (rays * depth[..., None]) @ rotation.T + position
        distance = np.min(
            np.abs(
                np.stack(
                    [
                        world[..., 0] + corridor.half_width,
                        world[..., 0] - corridor.half_width,
                        world[..., 1] - corridor.eye_height,
                        world[..., 1] - (corridor.eye_height - corridor.ceiling_height),
                        world[..., 2] - corridor.length,
                    ]
                )
            ),
            axis=0,
        )
        assert np.isfinite(depth).all() and (depth > 0).all()
        assert distance.max() < 1e-4
        # float32 back-projection of the package agrees with the float64 one above.
        points = backproject(depth.astype(np.float32), camera)
        np.testing.assert_allclose(points, rays * depth[..., None], rtol=1e-5, atol=1e-5)


def test_corridor_image_is_deterministic_and_textured() -> None:
    """Same frame, same seed: same picture; the picture is not flat."""
    camera = PinholeCamera(64, 48, 52.5, 52.5, 31.5, 23.5)
    first = render_image(Corridor(), camera, 3, 10, seed=1)
    assert np.array_equal(first, render_image(Corridor(), camera, 3, 10, seed=1))
    assert first.dtype == np.uint8 and first.shape == (48, 64, 3) and first.std() > 20


def test_demo_runs_the_live_node(tiny_model: Path, tmp_path: Path, capsys) -> None:
    """Three frames through depth_node: files written, each frame scored against the true depth."""
    out = tmp_path / 'demo'
    code = cli_main(
        [
            'demo',
            '--model',
            str(tiny_model),
            '--frames',
            '3',
            '--rate',
            '20',
            '--threads',
            '1',
            '--output',
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 3 and len(summary['per_frame']) == 3
    assert summary['model'].startswith('model tiny')
    for record in summary['per_frame']:
        assert 0 < record['abs_rel'] < 10 and 0 <= record['delta1'] <= 1
    preview = cv2.imread(str(out / 'preview.png'))
    assert preview is not None and preview.shape[1] == 4 * 320 + 3 * 4
    assert len(list((out / 'frames').glob('*_depth.png'))) == 3
    header = (out / 'points_last_frame.ply').read_bytes()[:200].decode('ascii', 'ignore')
    assert header.startswith('ply') and 'element vertex' in header
    assert 'abs rel' in capsys.readouterr().out
