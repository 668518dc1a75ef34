"""Unit tests of the stamp-keyed camera_info cache the node pairs images with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ros2_depth.camera_info_cache import CameraInfoCache, stamp_ns


def header(sec: int, nanosec: int) -> SimpleNamespace:
    """Return an object shaped like std_msgs/Header."""
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec))


def test_lookup_by_exact_stamp_in_any_arrival_order() -> None:
    cache = CameraInfoCache()
    cache.add(200, 'b')
    cache.add(100, 'a')  # an older stamp arriving late
    assert cache.get(100) == 'a' and cache.get(200) == 'b' and cache.get(150) is None
    assert cache.latest == (100, 'a')  # the last received, not the newest stamp


def test_oldest_entries_are_dropped_and_repeats_replace() -> None:
    cache = CameraInfoCache(capacity=3)
    for stamp in (1, 2, 3, 4):
        cache.add(stamp, f'info{stamp}')
    assert cache.get(1) is None and cache.get(4) == 'info4'
    cache.add(2, 'again')
    cache.add(5, 'info5')  # drops 3, the oldest remaining: 2 was refreshed
    assert cache.get(2) == 'again' and cache.get(3) is None and cache.get(5) == 'info5'
    with pytest.raises(ValueError):
        CameraInfoCache(capacity=0)


def test_stamp_ns() -> None:
    assert stamp_ns(header(1_700_000_000, 5)) == 1_700_000_000_000_000_005


def calibration(fx: float, frame_id: str = 'cam') -> SimpleNamespace:
    """Return an object shaped like sensor_msgs/CameraInfo with focal length ``fx``."""
    return SimpleNamespace(
        header=SimpleNamespace(frame_id=frame_id), height=480, width=640,
        distortion_model='plumb_bob', d=[0.0] * 5, k=[fx, 0, 320, 0, fx, 240, 0, 0, 1],
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1], p=[fx, 0, 320, 0, 0, fx, 240, 0, 0, 0, 1, 0],
        binning_x=0, binning_y=0,
        roi=SimpleNamespace(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def test_a_lost_camera_info_is_bridged_only_while_the_calibration_is_steady() -> None:
    cache = CameraInfoCache()
    for stamp in (100, 200, 400):  # the camera_info of stamp 300 was lost
        cache.add(stamp, calibration(500.0))
    stamp, info = cache.steady_near(300, window_ns=250)
    assert stamp in (200, 400) and info.k[0] == 500.0
    assert cache.steady_near(300, window_ns=99) is None  # nothing near
    assert cache.steady_near(520, window_ns=150) is None  # one neighbour only: cannot tell

    cache.add(500, calibration(600.0))  # a zoom: the calibration changed near 450
    assert cache.steady_near(450, window_ns=100) is None
    assert cache.steady_near(150, window_ns=100)[0] in (100, 200)  # before the change: steady

    cache.add(600, calibration(600.0, frame_id='other'))  # another frame is another calibration
    assert cache.steady_near(550, window_ns=50) is None
