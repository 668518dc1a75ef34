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
