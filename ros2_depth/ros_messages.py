"""
Building the node's output messages from numpy arrays.

This is the only module besides the node that imports message types.
"""

from __future__ import annotations

import array

import numpy as np
from ros2_depth.camera_model import fill_camera_info, PinholeCamera
from ros2_depth.geometry import xyz_fields
from ros2_depth.image_encoding import fill_image, SYSTEM_BIGENDIAN
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header


def image_message(header: Header, pixels: np.ndarray, encoding: str) -> Image:
    """Return an Image carrying `header` (stamp and frame_id of the input) and the given pixels."""
    msg = Image(header=header)
    return fill_image(msg, pixels, encoding)


def camera_info_message(header: Header, camera: PinholeCamera) -> CameraInfo:
    """Return a rectified CameraInfo for the given intrinsics."""
    return fill_camera_info(CameraInfo(header=header), camera)


def cloud_message(header: Header, points: np.ndarray) -> PointCloud2:
    """Return an organized PointCloud2 (height x width, float32 x y z, NaN for missing points)."""
    if points.ndim != 3 or points.shape[2] != 3 or points.dtype != np.float32:
        raise ValueError(
            f'points must be a float32 (H, W, 3) array, got {points.dtype} {points.shape}'
        )
    points = np.ascontiguousarray(points)
    height, width = points.shape[:2]
    msg = PointCloud2(header=header, height=height, width=width)
    msg.fields = [PointField(name=n, offset=o, datatype=t, count=c) for n, o, t, c in xyz_fields()]
    msg.is_bigendian = SYSTEM_BIGENDIAN
    msg.point_step = 12
    msg.row_step = 12 * width
    msg.is_dense = bool(np.isfinite(points).all())
    data = array.array('B')
    data.frombytes(memoryview(points).cast('B'))
    msg.data = data
    return msg


def cloud_to_numpy(msg: PointCloud2) -> np.ndarray:
    """Read the float32 x, y, z fields of an organized PointCloud2 into an (H, W, 3) array."""
    fields = {f.name: f for f in msg.fields}
    if any(n not in fields or fields[n].datatype != PointField.FLOAT32 for n in 'xyz'):
        raise ValueError(f'expected float32 x, y, z fields, got {sorted(fields)}')
    order = '>' if msg.is_bigendian else '<'
    dtype = np.dtype(
        {
            'names': list('xyz'),
            'formats': [order + 'f4'] * 3,
            'offsets': [fields[n].offset for n in 'xyz'],
            'itemsize': msg.point_step,
        }
    )
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.row_step)
    rows = np.ascontiguousarray(raw[:, : msg.width * msg.point_step]).view(dtype)
    return np.stack([rows[n] for n in 'xyz'], axis=-1).astype(np.float32)
