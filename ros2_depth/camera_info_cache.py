"""
Pairing each image with the camera_info of the same stamp (no ROS imports; the node locks).

A camera driver publishes an image and its camera_info with one header, but the two topics can
arrive in either order. Pairing an image with whichever camera_info came last would give a frame
the intrinsics of another one whenever they change (a zoom, a resolution switch, replayed bags of
several cameras), so the node keeps the recent camera_infos by stamp and looks the image's own up,
as image_transport's CameraSubscriber does with exact-time synchronisation.

A camera_info can also be lost on its way (a reliable keep-last-1 writer replaces a sample not yet
repaired, which Fast DDS's default transports do under large images). When the calibration is
steady, every camera_info around the image's stamp carrying the same calibration, the nearest of
them is the image's own in all but the stamp: ``steady_near`` finds it, as message_filters'
approximate policy would, but only where that cannot give the image other intrinsics.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional, Tuple

DEFAULT_CAPACITY = 32  # about a second of a 30 Hz camera
# The camera_info fields that make up a calibration (the header and its stamp do not).
CALIBRATION_FIELDS = ('height', 'width', 'distortion_model', 'd', 'k', 'r', 'p', 'binning_x',
                      'binning_y')
ROI_FIELDS = ('x_offset', 'y_offset', 'height', 'width', 'do_rectify')


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

    def steady_near(self, stamp_ns: int, window_ns: int) -> Optional[Tuple[int, Any]]:
        """
        Return (stamp_ns, message) of the camera_info nearest a stamp whose own is missing.

        Steady: at least two camera_infos lie within ``window_ns`` of the stamp, and all of them
        (with their frame_id) are equal in every calibration field. Otherwise None: with a single
        neighbour, or a calibration that changed nearby, nothing says which one the image had.
        """
        near = [(abs(stamp - stamp_ns), stamp, info) for stamp, info in self._by_stamp.items()
                if abs(stamp - stamp_ns) <= window_ns]
        if len(near) < 2:
            return None
        first = calibration_key(near[0][2])
        if any(calibration_key(info) != first for _, _, info in near[1:]):
            return None
        _, stamp, info = min(near, key=lambda entry: entry[0])
        return stamp, info

    @property
    def latest(self) -> Optional[Tuple[int, Any]]:
        """Return (stamp_ns, message) of the camera_info received last, or None."""
        return self._latest


def stamp_ns(header: Any) -> int:
    """Return a std_msgs/Header's stamp in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def calibration_key(info: Any) -> Tuple[Any, ...]:
    """Return what identifies a sensor_msgs/CameraInfo's calibration: every field but the stamp."""
    fields = tuple(getattr(info, name) for name in CALIBRATION_FIELDS)
    roi = tuple(getattr(info.roi, name) for name in ROI_FIELDS)
    # d, k, r and p are arrays (array.array or numpy): compare their values
    return (info.header.frame_id, *(tuple(f) if hasattr(f, '__len__') and not isinstance(f, str)
                                    else f for f in fields), *roi)
