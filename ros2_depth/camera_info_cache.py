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
# How long an image waits for the camera_info of its stamp when it has not arrived yet (the node
# waits this long in wall time, process-bag in bag time).
INFO_WAIT_S = 0.1
# After this many images in a row without their own camera_info (while others exist), the
# camera's stamps are taken not to match: stop waiting and pair with the latest camera_info.
UNMATCHED_LIMIT = 3
# An image whose own camera_info was lost takes the nearest one within this window when every
# camera_info in it has the same calibration (CameraInfoCache.steady_near).
STEADY_WINDOW_NS = 1_000_000_000
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


class CameraInfoMatcher:
    """
    Which camera_info an image gets, once its own had the time to arrive: the node's rule.

    depth_node and process-bag both decide with it (the node after waiting up to INFO_WAIT_S
    for the image's own camera_info while ``waits``, process-bag in bag time). ``match`` says:

    - 'matched': the camera_info of the image's stamp;
    - 'steady': its own is missing while the stamps usually match (a lost message), and the
      camera_infos around its stamp all hold the same calibration: the nearest of them;
    - 'missing': as 'steady', but the calibration changed nearby (or too few camera_infos are
      near to tell): None, the frame is dropped rather than given other intrinsics;
    - 'latest': the camera's stamps do not match (never did, or not for UNMATCHED_LIMIT images
      in a row): the camera_info received last;
    - 'none': no camera_info has arrived at all yet: None.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """Keep the camera_infos of the last ``capacity`` stamps."""
        self.cache = CameraInfoCache(capacity)
        self._unmatched = 0  # images in a row that found other stamps' camera_info only
        self._ever_matched = False  # whether this camera's stamps have ever matched

    def add(self, stamp_ns: int, info: Any) -> None:
        """Remember a camera_info under its stamp."""
        self.cache.add(stamp_ns, info)

    def has(self, stamp_ns: int) -> bool:
        """Whether the camera_info of this stamp is in."""
        return self.cache.get(stamp_ns) is not None

    @property
    def waits(self) -> bool:
        """Whether an image should wait for its own camera_info (the stamps usually match)."""
        return self._unmatched < UNMATCHED_LIMIT

    def match(self, stamp_ns: int) -> Tuple[Optional[Any], str]:
        """Return (camera_info or None, how it was found) for the image of this stamp."""
        info = self.cache.get(stamp_ns)
        if info is not None:
            self._unmatched = 0
            self._ever_matched = True
            return info, 'matched'
        latest = self.cache.latest
        if latest is None:
            return None, 'none'
        if self._ever_matched and self.waits:
            steady = self.cache.steady_near(stamp_ns, STEADY_WINDOW_NS)
            if steady is not None:  # a lost camera_info, not a sign that stamps do not match
                return steady[1], 'steady'
        self._unmatched += 1
        if self._ever_matched and self.waits:
            return None, 'missing'
        return latest[1], 'latest'


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
