"""The parts of process-bag that need no bag (camera_info pairing, output names) and Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import List, Optional, Tuple

from ros2_depth.camera_info_cache import INFO_WAIT_S, UNMATCHED_LIMIT
from ros2_depth.demo.bag_processing import _Pairing, default_prefix
from sensor_msgs.msg import CameraInfo, Image

MS = 1_000_000
REPO = Path(__file__).resolve().parents[1]


def test_outputs_go_beside_the_camera() -> None:
    """The default prefix is the mono_depth namespace beside the image topic's camera."""
    assert default_prefix('/camera/image_rect') == '/camera/mono_depth'
    assert default_prefix('/camera/color/image_raw/compressed') == '/camera/color/mono_depth'
    assert default_prefix('/image') == '/mono_depth'


def stamped(cls: type, stamp_ms: int) -> object:
    """Return a message of `cls` with a header stamp of `stamp_ms` milliseconds."""
    msg = cls()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ms * MS, 1_000_000_000)
    return msg


def run(events: List[Tuple[str, int, int]]) -> List[Tuple[int, Optional[int], str]]:
    """
    Feed ('info' | 'image', bag ms, stamp ms) in bag order; return the decisions.

    Each decision is (image stamp ms, camera_info stamp ms or None, how it was found).
    """
    pairing, out = _Pairing(), []

    def decide(now_ms: Optional[int]) -> None:
        for _, image, info, found in pairing.ready(None if now_ms is None else now_ms * MS):
            info_ms = None if info is None else info.header.stamp.sec * 1000 + \
                info.header.stamp.nanosec // MS
            out.append((image.header.stamp.sec * 1000 + image.header.stamp.nanosec // MS,
                        info_ms, found))

    for kind, bag_ms, stamp_ms in events:
        decide(bag_ms)
        if kind == 'info':
            pairing.infos.add(stamp_ms * MS, stamped(CameraInfo, stamp_ms))
        else:
            pairing.pending.append((bag_ms * MS, stamped(Image, stamp_ms)))
        decide(bag_ms)
    decide(None)
    return out


def test_an_image_waits_for_its_camera_info_in_bag_time() -> None:
    """camera_info after its image (within INFO_WAIT_S) still pairs; images keep their order."""
    wait_ms = int(INFO_WAIT_S * 1000)
    assert run([('image', 0, 0), ('image', 10, 10), ('info', 20, 0), ('info', 30, 10)]) == [
        (0, 0, 'matched'), (10, 10, 'matched')]
    # Its camera_info comes too late, though the camera's stamps usually match: dropped.
    events = [('info', 0, 0), ('image', 0, 0), ('image', 100, 100),
              ('info', 101 + wait_ms, 100), ('image', 200 + wait_ms, 200 + wait_ms),
              ('info', 200 + wait_ms, 200 + wait_ms)]
    assert run(events) == [(0, 0, 'matched'), (100, None, 'missing'),
                           (200 + wait_ms, 200 + wait_ms, 'matched')]


def test_a_lost_camera_info_takes_the_nearest_while_the_calibration_is_steady() -> None:
    """As the node: the camera_info of 200 never comes, those around it are alike."""
    events = [('info', 0, 0), ('image', 0, 0), ('info', 100, 100), ('image', 100, 100),
              ('image', 200, 200), ('info', 300, 300), ('image', 300, 300)]
    out = run(events)
    assert out[2][0] == 200 and out[2][1] in (100, 300) and out[2][2] == 'steady', out
    assert [found for _, _, found in out] == ['matched', 'matched', 'steady', 'matched']


def test_a_camera_whose_stamps_never_match_gets_the_latest_camera_info() -> None:
    """As the node: no image of its own stamp ever, the latest; none at all yet, dropped."""
    events = [('image', 0, 0), ('info', 1000, 5)]
    events += [('image', 1000 + 1000 * i, 1000 + 1000 * i) for i in range(1, 4)]
    assert run(events) == [(0, None, 'none'), (2000, 5, 'latest'), (3000, 5, 'latest'),
                           (4000, 5, 'latest')]
    # After matches, UNMATCHED_LIMIT images in a row without their own: the latest from then on.
    events = [('info', 0, 0), ('image', 0, 0)]
    events += [('image', 1000 * i, 1000 * i) for i in range(1, UNMATCHED_LIMIT + 2)]
    found = [f for _, _, f in run(events)]
    assert found == ['matched'] + ['missing'] * (UNMATCHED_LIMIT - 1) + ['latest'] * 2


def test_ctrl_c_stops_process_bag_and_leaves_no_output(tmp_path: Path) -> None:
    """
    SIGINT while the sample bag is being written: exit 130, one line, no OUT, no temporary.

    The signal is sent as soon as the scratch folder appears (the model is loaded, the bag is
    about to be written: 20 frames take 2-3 s on an idle 2-core machine), so it lands in the
    loop, never after it.
    """
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    out = tmp_path / 'out'
    proc = subprocess.Popen(
        [sys.executable, '-m', 'ros2_depth.cli', 'process-bag', str(REPO / 'bags' / 'indoor'),
         str(out), '--threads', '1', '--no-progress'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob('.out.partial-*')) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, output
    assert 'interrupted; no output written' in output
    assert list(tmp_path.iterdir()) == []
