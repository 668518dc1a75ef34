"""
Image payloads as ROS 2 camera drivers and image_transport write them, and tf rotations.

- ``compressed_image``: sensor_msgs/CompressedImage data as image_transport's ``compressed``
  plugin writes it: the rgb8 image converted to BGR and encoded by OpenCV as JPEG or PNG, with
  the format string ``'rgb8; jpeg compressed bgr8'`` (or ``png``).
- ``compressed_depth``: the ``compressedDepth`` plugin's data: a 12-byte ConfigHeader (int32
  format, 0 = INV_DEPTH, the only value; float32 depthQuantA, float32 depthQuantB; native byte
  order, little-endian here) followed by a PNG. For 16UC1 the PNG holds the millimetres as
  they are, with values above depth_max set to 0 and both quantisation parameters 0. For 32FC1
  it holds the quantised inverse depth A / z + B (A = q (q + 1), B = 1 - A / depth_max, q the
  plugin's depth_quantization), 0 where the depth is NaN or not below depth_max; a reader gets
  z = A / (value - B). Format ``'16UC1; compressedDepth png'`` (or ``32FC1``).
"""

from __future__ import annotations

import struct
from typing import Tuple

import cv2
import numpy as np
from ros2_depth_trainer.synth.writer import depth_to_mm

IMAGE_FORMATS = ('jpeg', 'png')
DEPTH_ENCODINGS = ('32FC1', '16UC1')
# compressed_depth_image_transport: enum compressionFormat {UNDEFINED = -1, INV_DEPTH}.
INV_DEPTH = 0
CONFIG_HEADER = struct.Struct('<iff')  # format, depthQuantA, depthQuantB
# The compressedDepth plugin's parameter defaults (depth_max in metres, depth_quantization).
DEPTH_MAX_M = 10.0
DEPTH_QUANTIZATION = 100.0


def compressed_image(rgb: np.ndarray, image_format: str, jpeg_quality: int = 95,
                     png_level: int = 3) -> Tuple[str, bytes]:
    """Return the CompressedImage format string and data of an rgb8 image, as JPEG or PNG."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f'unknown image format {image_format!r}; known: {IMAGE_FORMATS}')
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    if image_format == 'jpeg':
        ok, data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    else:
        ok, data = cv2.imencode('.png', bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    if not ok:
        raise ValueError(f'OpenCV could not encode a {rgb.shape} image as {image_format}')
    return f'rgb8; {image_format} compressed bgr8', data.tobytes()


def depth_pixels(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Return metres (NaN invalid) as 32FC1 (little-endian float32) or 16UC1 mm (0 invalid)."""
    if encoding == '32FC1':
        return np.asarray(depth, '<f4')
    if encoding == '16UC1':
        return depth_to_mm(depth).astype('<u2')
    raise ValueError(f'unknown depth encoding {encoding!r}; known: {DEPTH_ENCODINGS}')


def compressed_depth(depth: np.ndarray, encoding: str, depth_max: float = DEPTH_MAX_M,
                     quantization: float = DEPTH_QUANTIZATION,
                     png_level: int = 3) -> Tuple[str, bytes]:
    """Return the compressedDepth format string and data of depth in metres (NaN invalid)."""
    if encoding == '16UC1':
        pixels = depth_pixels(depth, encoding)
        pixels[pixels > np.uint16(min(int(depth_max * 1000.0), 65535))] = 0
        quant_a = quant_b = 0.0
    elif encoding == '32FC1':
        quant_a = np.float32(quantization) * np.float32(quantization + 1.0)
        quant_b = np.float32(1.0) - quant_a / np.float32(depth_max)
        z = np.asarray(depth, np.float32)
        with np.errstate(invalid='ignore', divide='ignore'):
            near = z < np.float32(depth_max)
            inverse = np.where(near, quant_a / np.where(near, z, 1) + quant_b, 0)
        pixels = np.clip(inverse, 0, 65535).astype(np.uint16)  # C++ truncates towards zero
    else:
        raise ValueError(f'unknown depth encoding {encoding!r}; known: {DEPTH_ENCODINGS}')
    ok, png = cv2.imencode('.png', pixels, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    if not ok:
        raise ValueError(f'OpenCV could not encode a {pixels.shape} depth image as PNG')
    header = CONFIG_HEADER.pack(INV_DEPTH, float(quant_a), float(quant_b))
    return f'{encoding}; compressedDepth png', header + png.tobytes()


def quaternion_xyzw(rotation: np.ndarray) -> np.ndarray:
    """Return the unit quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix."""
    m = np.asarray(rotation, float)
    trace = np.trace(m)
    # Use the largest of 4w^2, 4x^2, 4y^2, 4z^2 as the divisor (numerically stable).
    squares = np.array([1 + 2 * m[0, 0] - trace, 1 + 2 * m[1, 1] - trace,
                        1 + 2 * m[2, 2] - trace, 1 + trace])
    k = int(np.argmax(squares))
    q = np.empty(4)
    q[k] = 0.5 * np.sqrt(squares[k])
    s = 0.25 / q[k]
    if k == 3:
        q[:3] = s * np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    else:
        i, j, n = k, (k + 1) % 3, (k + 2) % 3
        q[j] = s * (m[j, i] + m[i, j])
        q[n] = s * (m[n, i] + m[i, n])
        q[3] = s * (m[n, j] - m[j, n])
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q
