"""
sensor_msgs/Image <-> numpy without cv_bridge.

Follows the encodings of sensor_msgs/image_encodings.hpp. Reading is zero-copy where the row stride
and byte order allow it; writing copies once, into the message's own buffer. The functions take any
object with the Image fields (height, width, encoding, is_bigendian, step, data), so they are
tested without a running ROS graph.
"""

from __future__ import annotations

import array
import re
import sys
from typing import Any, Tuple

import numpy as np

_NAMED = {
    'rgb8': (np.uint8, 3),
    'bgr8': (np.uint8, 3),
    'rgba8': (np.uint8, 4),
    'bgra8': (np.uint8, 4),
    'rgb16': (np.uint16, 3),
    'bgr16': (np.uint16, 3),
    'rgba16': (np.uint16, 4),
    'bgra16': (np.uint16, 4),
    'mono8': (np.uint8, 1),
    'mono16': (np.uint16, 1),
}
_GENERIC = re.compile(r'^(8|16|32|64)(U|S|F)C([1-4])$')
_KINDS = {'U': 'u', 'S': 'i', 'F': 'f'}

SYSTEM_BIGENDIAN = sys.byteorder == 'big'


class ImageEncodingError(ValueError):
    """An Image message cannot be read or written as described by its fields."""


def encoding_layout(encoding: str) -> Tuple[np.dtype, int]:
    """Return (element dtype, channels) of a sensor_msgs image encoding."""
    if encoding in _NAMED:
        dtype, channels = _NAMED[encoding]
        return np.dtype(dtype), channels
    match = _GENERIC.match(encoding)
    if match is None:
        raise ImageEncodingError(
            f'unsupported image encoding "{encoding}"; use one of {sorted(_NAMED)} or a generic '
            'encoding such as 32FC1 or 16UC1 (Bayer and YUV images must be '
            'debayered/converted first, e.g. with image_proc)'
        )
    bits, kind, channels = match.groups()
    if kind == 'F' and bits == '8':
        raise ImageEncodingError(
            f'unsupported image encoding "{encoding}": there is no 8-bit float'
        )
    return np.dtype(f'{_KINDS[kind]}{int(bits) // 8}'), int(channels)


def image_to_numpy(msg: Any) -> np.ndarray:
    """
    Return the pixels of an Image message as an array of shape (H, W) or (H, W, C).

    The array is a read-only view of the message buffer when the row stride is a multiple of the
    element size and the byte order is native; otherwise it is a converted copy. Raises
    ImageEncodingError naming what is wrong.
    """
    dtype, channels = encoding_layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f'image has an empty size {width}x{height}')
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageEncodingError(
            f'image step {step} is smaller than width {width} x {channels} channel(s) x '
            f'{dtype.itemsize} byte(s) = {row_bytes} for encoding {msg.encoding}'
        )
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size != step * height:  # sensor_msgs/Image: data is exactly step x height bytes
        raise ImageEncodingError(
            f'image data holds {buffer.size} bytes but {width}x{height} {msg.encoding} '
            f'with step {step} needs exactly {step * height}'
        )
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    if rows.strides[0] % dtype.itemsize == 0 and rows.ctypes.data % dtype.itemsize == 0:
        pixels = np.ndarray(
            (height, width, channels),
            dtype=dtype,
            buffer=buffer,
            strides=(step, channels * dtype.itemsize, dtype.itemsize),
        )
        pixels.flags.writeable = False
    else:
        pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    if not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder('='))
    return pixels[:, :, 0] if channels == 1 else pixels


def fill_image(msg: Any, pixels: np.ndarray, encoding: str) -> Any:
    """Write an (H, W) or (H, W, C) array into an Image message (unpadded rows, native order)."""
    dtype, channels = encoding_layout(encoding)
    shape = pixels.shape
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] != channels:
        raise ImageEncodingError(
            f'an array of shape {shape} cannot be written as {encoding}, '
            f'which has {channels} channel(s)'
        )
    if pixels.dtype != dtype:
        raise ImageEncodingError(
            f'an array of {pixels.dtype} cannot be written as {encoding}, which holds {dtype}'
        )
    pixels = np.ascontiguousarray(pixels)
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(SYSTEM_BIGENDIAN and dtype.itemsize > 1)
    msg.step = int(pixels.shape[1] * channels * dtype.itemsize)
    data = array.array('B')
    data.frombytes(memoryview(pixels).cast('B'))
    msg.data = data
    return msg


# Named encodings -> (indices of R, G, B among the channels, or None for grey).
_RGB_CHANNELS = {
    'rgb8': (0, 1, 2), 'rgba8': (0, 1, 2), 'rgb16': (0, 1, 2), 'rgba16': (0, 1, 2),
    'bgr8': (2, 1, 0), 'bgra8': (2, 1, 0), 'bgr16': (2, 1, 0), 'bgra16': (2, 1, 0),
    'mono8': None, 'mono16': None,
}


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """
    Return (H, W, 3) uint8 RGB of an image in a colour or mono encoding (as image_to_numpy reads).

    Channel order is resolved, alpha dropped, grey repeated into R, G and B, and 16-bit values
    take their high byte (as cv_bridge converts 16 to 8 bits).
    """
    if encoding not in _RGB_CHANNELS:
        raise ImageEncodingError(
            f'image encoding "{encoding}" has no colours; colour the cloud from one of '
            f'{sorted(_RGB_CHANNELS)}'
        )
    order = _RGB_CHANNELS[encoding]
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if order is None:
        return np.repeat(pixels.reshape(pixels.shape[:2] + (1,)), 3, axis=2)
    return pixels[..., list(order)] if order != (0, 1, 2) else pixels[..., :3]
