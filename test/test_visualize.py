"""Tests of the preview pictures: depth and normal colours, labels, sheets and PLY files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ros2_depth.demo.visualize import colorize_depth, colorize_normals, labelled, sheet, write_ply


def test_depth_colours_run_from_near_to_far_and_invalid_is_black() -> None:
    depth = np.array([[1.0, 5.5, 10.0, np.nan]], dtype=np.float32)
    picture = colorize_depth(depth, 1.0, 10.0)
    assert picture.shape == (1, 4, 3) and picture.dtype == np.uint8
    assert picture[0, 3].tolist() == [0, 0, 0]
    assert len({tuple(px) for px in picture[0, :3].tolist()}) == 3
    assert picture[0, 0, 2] > picture[0, 0, 0]  # near: red (BGR)
    assert picture[0, 2, 0] > picture[0, 2, 2]  # far: blue


def test_normal_colours_map_each_axis_to_a_channel() -> None:
    normals = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [np.nan, 0.0, 0.0]]], np.float32)
    picture = colorize_normals(normals)
    assert picture[0, 0].tolist() == [127, 127, 255]  # BGR of x = +1
    assert picture[0, 1].tolist() == [0, 127, 127]  # z = -1 (towards the camera)
    assert picture[0, 2].tolist() == [0, 0, 0]


def test_label_outline_hugs_the_white_text() -> None:
    """The black outline spans the white text, one pixel wider on each side, no more."""
    background = np.full((40, 240, 3), 120, np.uint8)
    picture = labelled(background, 'predicted normals')
    white = np.nonzero((picture > 200).all(axis=2))[1]
    black = np.nonzero((picture < 40).all(axis=2))[1]
    assert white.size and black.size
    assert white.min() - 2 <= black.min() <= white.min()
    assert white.max() <= black.max() <= white.max() + 2


def test_label_resizes_and_leaves_the_input_alone() -> None:
    background = np.zeros((10, 20, 3), np.uint8)
    picture = labelled(background, 'x', size=(40, 30))
    assert picture.shape == (30, 40, 3)
    assert not background.any()


def test_sheet_tiles_rows_with_gaps() -> None:
    tile = np.zeros((5, 7, 3), np.uint8)
    out = sheet([[tile, tile], [tile, tile]], gap=2)
    assert out.shape == (5 * 2 + 2, 7 * 2 + 2, 3)
    assert (out[5:7] == 255).all() and not out[:5, :7].any()


def test_ply_holds_the_finite_points(tmp_path: Path) -> None:
    points = np.array([[[0.0, 0.0, 1.0], [np.nan, np.nan, np.nan]]], np.float32)
    path = tmp_path / 'cloud.ply'
    count = write_ply(path, points)
    assert count == 1
    header, body = path.read_bytes().split(b'end_header\n')
    assert 'element vertex 1' in header.decode()
    assert np.frombuffer(body, '<f4').tolist() == [0.0, 0.0, 1.0]
