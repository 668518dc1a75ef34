"""`ros2-depth-train synth-bag`: a generated trajectory as a rosbag2, the same bytes every time."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from ros2_depth.demo.bag_source import BagSource
from ros2_depth_trainer.bag_writer import START_TIME_NS
from ros2_depth_trainer.cli import main
from ros2_depth_trainer.synth_bag_command import parse_size
import yaml


def synth_bag(output: Path, *extra: str) -> int:
    """Run the command for a tiny street trajectory: 3 frames of 24x32 at 10 Hz."""
    args: List[str] = ['synth-bag', '--output', str(output), '--kind', 'street', '--seed', '3',
                       '--seconds', '0.3', '--rate', '10', '--size', '24x32']
    return main(args + list(extra))


def file_hashes(folder: Path) -> Dict[str, str]:
    """Return the SHA-256 of every file in a folder, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_synth_bag_is_byte_identical_and_reads_back(tmp_path: Path) -> None:
    """Two runs give the same files; the bag holds the trajectory with its exact depth."""
    first, second = tmp_path / 'a' / 'street', tmp_path / 'b' / 'street'
    assert synth_bag(first) == 0 and synth_bag(second) == 0
    assert file_hashes(first) == file_hashes(second)
    assert sorted(file_hashes(first)) == ['metadata.yaml', 'street.mcap']
    metadata = yaml.safe_load((first / 'metadata.yaml').read_text())
    custom = metadata['rosbag2_bagfile_information']['custom_data']
    assert custom['ros2_depth.command'] == (
        'ros2-depth-train synth-bag --kind street --seed 3 --seconds 0.3 --rate 10 --size 24x32')
    with BagSource(first) as source:
        assert source.topics.depth == '/camera/depth_gt/image'
        frames = list(source)
    assert [f.stamp_ns - START_TIME_NS for f in frames] == [0, 100_000_000, 200_000_000]
    for frame in frames:
        assert frame.image.shape == (24, 32, 3) and frame.encoding == 'rgb8'
        assert (frame.camera.width, frame.camera.height) == (32, 24)
        assert frame.depth.shape == (24, 32) and np.isfinite(frame.depth).any()
    assert not np.array_equal(frames[0].image, frames[2].image)  # the camera moves
    other = tmp_path / 'c' / 'street'
    assert synth_bag(other, '--seed', '4') == 0
    assert file_hashes(other)['street.mcap'] != file_hashes(first)['street.mcap']


def test_existing_output_needs_overwrite(tmp_path: Path, caplog) -> None:
    """An existing bag is kept unless --overwrite; a folder that is not a bag is never removed."""
    bag = tmp_path / 'street'
    assert synth_bag(bag, '--seconds', '0.1') == 0
    assert synth_bag(bag) == 1
    assert 'exists already' in caplog.text
    assert synth_bag(bag, '--overwrite') == 0
    with BagSource(bag) as source:
        assert source.frame_count == 3
    other = tmp_path / 'notes'
    other.mkdir()
    (other / 'keep.txt').write_text('mine')
    assert synth_bag(other, '--overwrite') == 1
    assert (other / 'keep.txt').read_text() == 'mine'


def test_parse_size() -> None:
    """--size is HxW."""
    assert parse_size('240x320') == (240, 320)
    assert parse_size('48X64') == (48, 64)
    for bad in ('320', '0x10', 'axb', '10x-3'):
        with pytest.raises(argparse.ArgumentTypeError, match='HxW'):
            parse_size(bad)


def test_driver_like_options_are_reproducible(tmp_path: Path) -> None:
    """
    Driver-like options are reproducible: two runs give the same bytes.

    Compressed colour, compressedDepth from a depth camera, SQLite3 and the truth file; the
    command is recorded and the truth sits beside the bag.
    """
    options = ['--storage', 'sqlite3', '--image-format', 'png', '--depth-camera',
               '--depth-size', '20x28', '--depth-rotation-deg', '0', '2', '0',
               '--compressed-depth', '--write-truth']
    first, second = tmp_path / 'a' / 'street', tmp_path / 'b' / 'street'
    assert synth_bag(first, *options) == 0 and synth_bag(second, *options) == 0
    assert file_hashes(first) == file_hashes(second)
    assert sorted(file_hashes(first)) == ['metadata.yaml', 'street.db3']
    truth = first.parent / 'street.truth.npz'
    assert sorted(p.name for p in first.parent.iterdir()) == ['street', 'street.truth.npz']
    assert truth.read_bytes() == (second.parent / 'street.truth.npz').read_bytes()
    metadata = yaml.safe_load((first / 'metadata.yaml').read_text())
    metadata = metadata['rosbag2_bagfile_information']
    assert metadata['storage_identifier'] == 'sqlite3'
    assert metadata['custom_data']['ros2_depth.command'] == (
        'ros2-depth-train synth-bag --kind street --seed 3 --seconds 0.3 --rate 10 --size 24x32 '
        '--storage sqlite3 --image-format png --compressed-depth --depth-camera '
        '--depth-size 20x28 --depth-fov 87 --depth-baseline 0.05 --depth-rotation-deg 0 2 0')
    topics = {t['topic_metadata']['name']: t['message_count']
              for t in metadata['topics_with_message_count']}
    assert topics == {'/tf_static': 1, '/camera/camera_info': 3,
                      '/camera/image_rect/compressed': 3, '/camera/depth/camera_info': 3,
                      '/camera/depth/image_rect_raw/compressedDepth': 3}
    saved = np.load(truth)
    assert saved['stamp_ns'].tolist() == [START_TIME_NS + i * 100_000_000 for i in range(3)]
    assert saved['aligned_depth_000002'].shape == (24, 32)
    assert saved['depth_exact_000000'].shape == (20, 28)
    own = tmp_path / 'c' / 'street'
    assert synth_bag(own, '--write-truth', str(tmp_path / 'own.npz')) == 0
    assert (tmp_path / 'own.npz').is_file() and 'depth_k' not in np.load(tmp_path / 'own.npz')


@pytest.mark.parametrize('options, message', [
    (['--depth-fov', '70'], 'add --depth-camera'),
    (['--depth-camera', '--depth-fov', '180'], '--depth-fov must be'),
    (['--image-format', 'jpeg', '--jpeg-quality', '101'], '--jpeg-quality must be'),
])
def test_bad_driver_options_are_one_line(tmp_path: Path, caplog, options: List[str],
                                         message: str) -> None:
    """Depth camera options without --depth-camera, or out of range: exit 2, nothing written."""
    assert synth_bag(tmp_path / 'bag', *options) == 2
    assert message in caplog.text
    assert not (tmp_path / 'bag').exists()
