"""`ros2-depth infer` on generated images and a real camera image: files, units, geometry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Tuple

import cv2
import numpy as np
import pytest
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.cli import main as ros2_depth
from ros2_depth.demo.image_files import assumed_camera, depth_millimetres, find_images
from ros2_depth.geometry import backproject
from ros2_depth.model_spec import load_spec
from ros2_depth.pipeline import DepthPipeline, label_palette

PLY_PROPERTIES = ['property float x', 'property float y', 'property float z',
                  'property uchar red', 'property uchar green', 'property uchar blue']


def textured(width: int, height: int, seed: int) -> np.ndarray:
    """Return a BGR picture with structure at several scales."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width]
    base = 127 + 90 * np.sin(u / (9.0 + seed)) * np.cos(v / 13.0)
    noise = rng.normal(0, 15, (height, width, 3))
    return np.clip(base[..., None] + noise + [0, 25 * seed, -30], 0, 255).astype(np.uint8)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Write a PNG 160x120, a JPEG 200x100 and an unreadable file into a folder; return it."""
    folder = tmp_path / 'images'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), textured(160, 120, 1))
    cv2.imwrite(str(folder / 'b.jpg'), textured(200, 100, 2))
    (folder / 'c.png').write_bytes(b'not a png')
    return folder


def read_ply(path: Path) -> Tuple[list, np.ndarray]:
    """Return the header lines and the vertices of a binary little-endian x y z r g b PLY."""
    data = path.read_bytes()
    end = data.index(b'end_header\n') + len(b'end_header\n')
    header = data[:end].decode('ascii').splitlines()
    dtype = [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('red', 'u1'), ('green', 'u1'),
             ('blue', 'u1')]
    return header, np.frombuffer(data[end:], dtype)


def check_outputs(out: Path, entry: Dict[str, Any], labels: bool = True,
                  min_valid: float = 0.5) -> np.ndarray:
    """Check one image's files against each other; return its depth in metres."""
    files = entry['files']
    assert set(files) == {'depth_png', 'depth_npy', 'ply', 'preview', 'normals'} | (
        {'labels'} if labels else set())
    depth = np.load(out / files['depth_npy'])
    assert depth.dtype == np.float32
    camera = PinholeCamera(**entry['output_camera'])
    assert depth.shape == (camera.height, camera.width)
    valid = np.isfinite(depth)
    assert valid.mean() > min_valid

    mm = cv2.imread(str(out / files['depth_png']), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and mm.shape == depth.shape
    assert (mm[~valid] == 0).all() and (mm[valid] > 0).all()
    assert np.abs(mm[valid] / 1000.0 - depth[valid]).max() <= 0.0005 + 1e-6  # within 1 mm

    header, vertices = read_ply(out / files['ply'])
    assert header[:3] == ['ply', 'format binary_little_endian 1.0',
                          f'element vertex {int(valid.sum())}']
    assert header[3:] == PLY_PROPERTIES + ['end_header']
    assert len(vertices) == valid.sum() == entry['points']
    points = backproject(depth, camera)[valid]  # row-major, as written
    xyz = np.stack([vertices['x'], vertices['y'], vertices['z']], axis=1)
    np.testing.assert_allclose(xyz, points, rtol=0, atol=1e-6)
    # Each point lies on the ray of its output pixel at its depth.
    rows, cols = np.nonzero(valid)
    np.testing.assert_allclose(xyz[:, 2], depth[valid], rtol=1e-6)
    np.testing.assert_allclose(xyz[:, 0] / xyz[:, 2] * camera.fx + camera.cx, cols, atol=1e-3)
    np.testing.assert_allclose(xyz[:, 1] / xyz[:, 2] * camera.fy + camera.cy, rows, atol=1e-3)

    for key in ('normals', 'preview') + (('labels',) if labels else ()):
        picture = cv2.imread(str(out / files[key]))
        assert picture is not None and picture.std() > 0, key
    return depth


def test_generated_images_with_given_intrinsics(
        images: Path, tmp_path: Path, tiny_camera_model: Path,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    """A folder of images: each written, the unreadable one skipped with one line."""
    out = tmp_path / 'out'
    assert ros2_depth(['infer', str(images), '--output', str(out), '--fx', '150', '--model',
                       str(tiny_camera_model), '--threads', '1', '--no-progress']) == 0
    assert '2 images written' in capsys.readouterr().out
    report = json.loads((out / 'infer.json').read_text())
    assert [Path(e['image']).name for e in report['images']] == ['a.png', 'b.jpg']
    assert list(report['skipped']) == [str(images / 'c.png')]
    lines = [r.getMessage() for r in caplog.records if 'c.png' in r.getMessage()]
    assert len(lines) == 1 and 'cannot read it as an image' in lines[0], lines
    spec = load_spec(tiny_camera_model)
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))
    for entry, (width, height) in zip(report['images'], ((160, 120), (200, 100))):
        assert entry['camera'] == {'width': width, 'height': height, 'fx': 150.0, 'fy': 150.0,
                                   'cx': (width - 1) / 2, 'cy': (height - 1) / 2}
        depth = check_outputs(out, entry)
        # The node's pipeline on the same pixels gives the same depth and labels.
        bgr = cv2.imread(entry['image'])
        result = pipeline.run(bgr, 'bgr8', PinholeCamera(**entry['camera']), want_labels=True)
        np.testing.assert_array_equal(depth, result.depth)
        labels = cv2.imread(str(out / entry['files']['labels']))[..., ::-1]
        np.testing.assert_array_equal(labels, label_palette(spec)[result.labels])


def test_real_image_with_a_camera_info_yaml(
        camera_data: Path, tmp_path: Path, tiny_camera_model: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The TUM frame with test/data's calibration: P's intrinsics, a warning about distortion."""
    out = tmp_path / 'out'
    image = camera_data / 'tum_rgbd_frame' / 'TUM_color.png'
    calibration = camera_data / 'camera_info' / 'test_calibration.yaml'
    assert ros2_depth(['infer', str(image), '--output', str(out), '--camera-info',
                       str(calibration), '--model', str(tiny_camera_model), '--threads', '1',
                       '--no-progress']) == 0
    entry = json.loads((out / 'infer.json').read_text())['images'][0]
    assert entry['camera'] == {'width': 640, 'height': 480, 'fx': 1168.68, 'fy': 1169.01,
                               'cx': 295.015, 'cy': 252.247}
    assert entry['intrinsics'] == 'given'
    # A long lens (a 31 degree view) sees less than the canonical camera: the image fills the
    # middle of the network input (resize_mode canonical); the padding around it has no depth.
    depth = check_outputs(out, entry, min_valid=0.2)
    assert np.isnan(depth[:, :10]).all() and np.isnan(depth[:10]).all()
    assert np.isfinite(depth[50:60, 70:80]).all()
    assert 'non-zero distortion' in caplog.text


def test_without_intrinsics_the_canonical_camera_is_assumed_with_a_warning(
        camera_data: Path, images: Path, tmp_path: Path, tiny_camera_model: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """No intrinsics: fx = 250 x min(W / 304, H / 228), centred; metric scale called a guess."""
    out = tmp_path / 'out'
    image = camera_data / 'tum_rgbd_frame' / 'TUM_color.png'
    assert ros2_depth(['infer', str(image), str(images / '*.jpg'), '--output', str(out),
                       '--model', str(tiny_camera_model), '--no-progress']) == 0
    warnings = [r.getMessage() for r in caplog.records if 'metric scale is then a guess' in
                r.getMessage()]
    assert len(warnings) == 1
    entries = json.loads((out / 'infer.json').read_text())['images']
    assert [e['intrinsics'] for e in entries] == ['assumed', 'assumed']
    assert entries[0]['camera']['fx'] == pytest.approx(250 * 640 / 304)
    assert entries[1]['camera']['fx'] == pytest.approx(250 * 100 / 228)
    for entry in entries:
        check_outputs(out, entry)
    spec = load_spec(tiny_camera_model)
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=1))
    camera = assumed_camera(640, 480, pipeline)
    assert (camera.cx, camera.cy) == (319.5, 239.5)
    # The network sees the whole 4:3 image: its input box is the image.
    assert pipeline.input_map(camera)[1] == (0, 0, 640, 480)


def test_bad_options_and_no_images_are_one_line(
        tmp_path: Path, tiny_camera_model: Path, camera_data: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """Both kinds of intrinsics, --cx without --fx, nothing to read: exit 1, one line, no files."""
    calibration = camera_data / 'camera_info' / 'test_calibration.yaml'
    base = ['infer', str(camera_data / 'tum_rgbd_frame' / 'TUM_color.png'), '--output',
            str(tmp_path / 'out'), '--model', str(tiny_camera_model), '--no-progress']
    assert ros2_depth(base + ['--fx', '500', '--camera-info', str(calibration)]) == 1
    assert 'not both' in caplog.text
    assert ros2_depth(base + ['--cx', '300']) == 1
    assert '--cx need --fx' in caplog.text
    assert ros2_depth(['infer', str(tmp_path / 'none*.png'), '--output', str(tmp_path / 'out'),
                       '--model', str(tiny_camera_model), '--no-progress']) == 1
    assert 'no such file or folder' in caplog.text and 'no images to process' in caplog.text
    assert not (tmp_path / 'out').exists()


def test_depth_millimetres_rounds_and_marks_invalid() -> None:
    """Metres to uint16 mm: rounded; NaN, non-positive and beyond 65.535 m become 0."""
    depth = np.array([[1.2344, 1.2346, np.nan], [0.0, -1.0, 65.5354], [65.536, np.inf, 0.0004]],
                     np.float32)
    assert depth_millimetres(depth).tolist() == [[1234, 1235, 0], [0, 0, 65535], [0, 0, 0]]


def test_find_images_takes_files_folders_and_globs(images: Path) -> None:
    """Folders give their images sorted, globs expand, duplicates count once, misses are named."""
    found, problems = find_images([str(images / 'b.jpg'), str(images), str(images / '*.png'),
                                   str(images / 'missing.png'), str(images.parent)])
    assert found == [images / 'b.jpg', images / 'a.png', images / 'c.png']
    assert problems == {str(images / 'missing.png'): 'no such file or folder',
                        str(images.parent): problems[str(images.parent)]}
    assert problems[str(images.parent)].startswith('no images')
