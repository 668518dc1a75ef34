"""
Pairing each image with the camera_info of the same stamp (no ROS imports; the node locks).

A camera driver publishes an image and its camera_info with one header, but the two topics can
arrive in either order. Pairing an image with whichever camera_info came last would give a frame
the intrinsics of another one whenever they change (a zoom, a resolution switch, replayed bags of
several cameras), so the node keeps the recent camera_infos by stamp and looks the image's own up,
as image_transport's CameraSubscriber does with exact-time synchronisation.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional, Tuple

DEFAULT_CAPACITY = 32  # about a second of a 30 Hz camera


class CameraInfoCache:
    """The most recent camera_info messages, by stamp in nanoseconds; the oldest are dropped."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """Keep at most ``capacity`` messages."""
        if capacity < 1:
            raise ValueError(f'capacity must be positive, got {capacity}')
        self.capacity = capacity
        self._by_stamp: 'OrderedDict[int, Any]' = OrderedDict()
        self._latest: Optional[Tuple[int, Any]] = None

    def add(self, stamp_ns: int, info: Any) -> None:
        """Remember ``info`` under its stamp (a repeated stamp replaces the earlier message)."""
        self._by_stamp.pop(stamp_ns, None)
        self._by_stamp[stamp_ns] = info
        while len(self._by_stamp) > self.capacity:
            self._by_stamp.popitem(last=False)
        self._latest = (stamp_ns, info)

    def get(self, stamp_ns: int) -> Optional[Any]:
        """Return the camera_info with exactly this stamp, or None."""
        return self._by_stamp.get(stamp_ns)

    @property
    def latest(self) -> Optional[Tuple[int, Any]]:
        """Return (stamp_ns, message) of the camera_info received last, or None."""
        return self._latest


def stamp_ns(header: Any) -> int:
    """Return a std_msgs/Header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
