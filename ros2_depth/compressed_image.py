"""
sensor_msgs/CompressedImage -> numpy: jpeg and png, as image_transport's "compressed" plugin sends.

The ``format`` field follows compressed_image_transport: ``"<encoding>; jpeg compressed <target>"``
or ``"<encoding>; png compressed <target>"`` (the target is the encoding of the compressed pixels,
``bgr8`` for colour; mono and 16-bit images leave it out or name it), or a bare ``"jpeg"`` /
``"png"`` from other publishers. ``compressedDepth`` (compressed_depth_image_transport) is a depth
transport and is refused. The payload's size is read from its header before anything is decoded,
so an oversized image is refused without the memory it would take; decoding (OpenCV, imported on
first use) writes the only copy of the pixels. No ROS imports: the functions take the format string
and the data buffer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Tuple

import numpy as np

from ros2_depth.image_encoding import encoding_layout, ImageEncodingError

CODECS = ('jpeg', 'png')
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'\x00\x00\x00\x00IEND\xaeB`\x82'  # the IEND chunk: length 0, type, CRC
_JPEG_START = b'\xff\xd8'
_JPEG_END = b'\xff\xd9'
# JPEG start-of-frame markers (the frame header holds the size): C0-CF but DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM and the restart markers.
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])


class CompressedImageError(ImageEncodingError):
    """A CompressedImage cannot be read: unknown format, damaged payload, mismatched content."""


@dataclasses.dataclass(frozen=True)
class Payload:
    """A CompressedImage as read from its format and headers, before decoding."""

    codec: str  # 'jpeg' or 'png'
    encoding: str  # the original image's encoding; '' where the format does not say
    compressed_encoding: str  # the encoding of the compressed pixels; '' where not said
    width: int
    height: int
    buffer: np.ndarray  # uint8 view of the message data (no copy)


def parse_format(text: str) -> Tuple[str, str, str]:
    """
    Return (codec, encoding, compressed encoding) of an image_transport ``format`` string.

    The codec is '' for an empty format (then the data's signature tells); the encodings are ''
    where the format does not name them. Raises CompressedImageError for compressedDepth and for
    formats other than jpeg and png.
    """
    if 'compresseddepth' in text.lower():
        raise CompressedImageError(
            f'format "{text}" is compressedDepth, the depth-image transport; depth_node needs a '
            'colour image: subscribe it to the camera\'s colour "compressed" topic'
        )
    parts = [part.strip() for part in text.split(';')]
    words = parts[-1].split()  # '<codec>', or '<codec> compressed [<encoding>]'
    codec = words[0].lower() if words else ''
    codec = 'jpeg' if codec == 'jpg' else codec
    if (len(parts) > 2 or codec not in CODECS + ('',) or (len(parts) == 2 and not codec)
            or len(words) > 3 or (len(words) > 1 and words[1] != 'compressed')):
        raise CompressedImageError(
            f'unsupported compressed image format "{text}"; depth_node decodes jpeg and png '
            '(image_transport "compressed": "jpeg", "png", "rgb8; jpeg compressed bgr8", ...)'
        )
    encoding = parts[0] if len(parts) == 2 else ''
    return codec, encoding, words[2] if len(words) == 3 else ''


def _jpeg_size(data: memoryview) -> Tuple[int, int]:
    """Return (width, height) from a JPEG's frame header."""
    index = 2
    while index + 4 <= len(data):
        if data[index] != 0xFF:
            break
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte before a marker
            index += 1
            continue
        if marker in _JPEG_STANDALONE:
            index += 2
            continue
        if marker in _JPEG_SOF and index + 9 <= len(data):
            height = data[index + 5] << 8 | data[index + 6]
            width = data[index + 7] << 8 | data[index + 8]
            return width, height
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            break
        index += 2 + (data[index + 2] << 8 | data[index + 3])
    raise CompressedImageError('jpeg payload has no readable frame header (damaged data)')


def inspect_compressed(text: str, data: Any) -> Payload:
    """
    Read a CompressedImage's format and payload headers without decoding the pixels.

    ``data`` is the message's ``data`` (any buffer of bytes). Checks that the payload is a whole
    jpeg or png of the codec the format names; raises CompressedImageError naming the problem.
    """
    codec, encoding, compressed_encoding = parse_format(text)
    buffer = np.frombuffer(data, dtype=np.uint8)
    view = memoryview(buffer)
    if buffer.size == 0:
        raise CompressedImageError('compressed image has no data')
    if bytes(view[:8]) == _PNG_SIGNATURE:
        found = 'png'
    elif bytes(view[:2]) == _JPEG_START:
        found = 'jpeg'
    else:
        raise CompressedImageError(
            f'compressed image data ({buffer.size} bytes) is neither jpeg nor png: it starts '
            f'with {bytes(view[:8]).hex(" ")}'
        )
    if codec and found != codec:
        raise CompressedImageError(f'format "{text}" says {codec} but the data is {found}')
    if found == 'png':
        if buffer.size < 33 or bytes(view[12:16]) != b'IHDR':
            raise CompressedImageError('png payload has no IHDR header (damaged data)')
        width = int.from_bytes(view[16:20], 'big')
        height = int.from_bytes(view[20:24], 'big')
        complete = bytes(view[-12:]) == _PNG_END
    else:
        width, height = _jpeg_size(view)
        # The end-of-image marker, where some encoders add padding after it (within the scan
        # data 0xFF is always followed by 0x00 or a restart marker, so it cannot occur there).
        complete = _JPEG_END in bytes(view[-64:])
    if not complete:
        raise CompressedImageError(
            f'{found} payload of {buffer.size} bytes is truncated: it lacks the end marker')
    if width <= 0 or height <= 0:
        raise CompressedImageError(f'{found} payload has an empty size {width}x{height}')
    return Payload(found, encoding, compressed_encoding, width, height, buffer)


def _layout_encoding(dtype: np.dtype, channels: int, declared: str) -> str:
    """Return the encoding of decoded pixels: mono, or colour in the declared channel order."""
    bits = {np.dtype(np.uint8): '8', np.dtype(np.uint16): '16'}.get(dtype)
    if bits is None or channels not in (1, 3, 4):
        raise CompressedImageError(f'decoded image has {channels} channel(s) of {dtype}')
    order = 'rgb' if declared.startswith('rgb') else 'bgr'
    return {1: 'mono', 3: order, 4: order + 'a'}[channels] + bits


def decode_payload(payload: Payload) -> Tuple[np.ndarray, str]:
    """
    Decode a payload into (pixels of shape (H, W) or (H, W, C), their sensor_msgs encoding).

    The encoding is the format's compressed encoding (else its encoding) where it names one,
    after checking the pixels have its channels and depth; else mono8/16 or bgr(a)8/16 as decoded.
    """
    import cv2  # imported on first use: raw-image nodes never load the codecs

    try:
        pixels = cv2.imdecode(payload.buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV refuses some damaged data outright
        raise CompressedImageError(
            f'{payload.codec} payload could not be decoded: {str(exc).strip()}') from None
    if pixels is None:
        raise CompressedImageError(
            f'{payload.codec} payload of {payload.buffer.size} bytes could not be decoded '
            '(damaged data)')
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if pixels.shape[:2] != (payload.height, payload.width):
        raise CompressedImageError(
            f'{payload.codec} payload decodes to {pixels.shape[1]}x{pixels.shape[0]} but its '
            f'header says {payload.width}x{payload.height}')
    declared = payload.compressed_encoding or payload.encoding
    encoding = _layout_encoding(pixels.dtype, channels, declared)
    if declared:
        dtype, expected = encoding_layout(declared)
        if (dtype, expected) != (pixels.dtype, channels):
            raise CompressedImageError(
                f'{payload.codec} payload decodes to {channels} channel(s) of {pixels.dtype} but '
                f'its format names {declared} ({expected} channel(s) of {dtype})')
        encoding = declared
    return pixels, encoding


def compressed_to_numpy(text: str, data: Any) -> Tuple[np.ndarray, str]:
    """Decode a CompressedImage's ``format`` and ``data``: return (pixels, encoding)."""
    return decode_payload(inspect_compressed(text, data))
