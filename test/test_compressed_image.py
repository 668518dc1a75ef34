"""
ros2_depth.compressed_image without ROS: image_transport's format strings, jpeg and png payloads.

Payloads are encoded here with OpenCV as compressed_image_transport does (colour as bgr8), and
checked pixel for pixel (png) or to jpeg's precision; damaged and mismatched ones must raise
CompressedImageError naming the problem, before any pixel is decoded where the header shows it.
"""

from __future__ import annotations

import array

import cv2
from fuzz_cases import compressed_payload_case
import numpy as np
import pytest
from ros2_depth.compressed_image import (
    compressed_to_numpy,
    CompressedImageError,
    inspect_compressed,
    parse_format,
)
from ros2_depth.image_encoding import encoding_layout, ImageEncodingError


def smooth_image(height: int = 48, width: int = 64, channels: int = 3,
                 dtype: type = np.uint8) -> np.ndarray:
    """Return a smooth picture (jpeg keeps it to within a few grey levels)."""
    v, u = np.mgrid[0:height, 0:width]
    top = 65535 if dtype == np.uint16 else 255
    planes = [(u * (c + 1) + v) / (width * channels + height) * top for c in range(channels)]
    image = np.stack(planes, -1).astype(dtype)
    return image[..., 0] if channels == 1 else image


def encode(pixels: np.ndarray, ext: str, *params: int) -> array.array:
    """Return the encoded payload as rclpy holds a uint8[] field: an array.array of bytes."""
    ok, data = cv2.imencode(ext, pixels, list(params))
    assert ok
    return array.array('B', data.tobytes())


@pytest.mark.parametrize('text, expected', [
    ('jpeg', ('jpeg', '', '')),
    ('png', ('png', '', '')),
    ('JPG', ('jpeg', '', '')),
    ('', ('', '', '')),
    ('rgb8; jpeg compressed bgr8', ('jpeg', 'rgb8', 'bgr8')),
    ('bgr8; png compressed bgr8', ('png', 'bgr8', 'bgr8')),
    ('mono8; jpeg compressed mono8', ('jpeg', 'mono8', 'mono8')),
    ('mono8; jpeg compressed ', ('jpeg', 'mono8', '')),
    ('16UC1; png compressed mono16', ('png', '16UC1', 'mono16')),
    ('16UC1; png compressed', ('png', '16UC1', '')),
])
def test_image_transport_formats(text: str, expected: tuple) -> None:
    """The formats compressed_image_transport and other publishers write."""
    assert parse_format(text) == expected


@pytest.mark.parametrize('text, words', [
    ('16UC1; compressedDepth png', 'compressedDepth, the depth-image transport'),
    ('32FC1; compressedDepth', 'compressedDepth, the depth-image transport'),
    ('tiff', 'unsupported compressed image format "tiff"'),
    ('rgb8; h264 compressed bgr8', 'unsupported'),
    ('rgb8; jpeg packed bgr8', 'unsupported'),
    ('rgb8; jpeg compressed bgr8 extra', 'unsupported'),
    ('a; b; c', 'unsupported'),
    ('rgb8; ', 'unsupported'),
])
def test_other_formats_are_refused(text: str, words: str) -> None:
    """The compressedDepth transport and codecs but jpeg and png are refused, naming the format."""
    with pytest.raises(CompressedImageError, match=words):
        parse_format(text)


def test_png_colour_is_exact_and_not_copied_before_decoding() -> None:
    """A bgr8 png decodes to its very pixels; the payload is read in place, not copied."""
    pixels = smooth_image()
    data = encode(pixels, '.png')
    payload = inspect_compressed('rgb8; png compressed bgr8', data)
    assert (payload.codec, payload.width, payload.height) == ('png', 64, 48)
    assert np.shares_memory(payload.buffer, np.frombuffer(data, np.uint8))
    decoded, encoding = compressed_to_numpy('rgb8; png compressed bgr8', data)
    assert encoding == 'bgr8'
    np.testing.assert_array_equal(decoded, pixels)


def test_declared_rgb_order_is_kept() -> None:
    """Pixels compressed in rgb8 order decode in that order and are called rgb8 (no swap)."""
    pixels = smooth_image()
    decoded, encoding = compressed_to_numpy('rgb8; png compressed rgb8', encode(pixels, '.png'))
    assert encoding == 'rgb8'
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize('text', ['rgb8; jpeg compressed bgr8', 'bgr8; jpeg compressed bgr8',
                                  'jpeg', ''])
def test_jpeg_colour(text: str) -> None:
    """A colour jpeg decodes to bgr8 within jpeg's error."""
    pixels = smooth_image(120, 160)
    decoded, encoding = compressed_to_numpy(text, encode(pixels, '.jpg',
                                                         cv2.IMWRITE_JPEG_QUALITY, 95))
    assert encoding == 'bgr8' and decoded.shape == pixels.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - pixels).mean() < 2.0
    assert np.abs(decoded.astype(int) - pixels[..., ::-1]).mean() > 20.0  # not swapped


def test_progressive_jpeg_with_comment_segment() -> None:
    """The size comes from the frame header after other segments (SOF2, a long COM first)."""
    data = bytes(encode(smooth_image(100, 70), '.jpg', cv2.IMWRITE_JPEG_PROGRESSIVE, 1))
    comment = b'\xff\xfe' + (2 + 3000).to_bytes(2, 'big') + bytes(3000)
    data = data[:2] + comment + data[2:]
    payload = inspect_compressed('jpeg', data)
    assert (payload.width, payload.height) == (70, 100)
    assert compressed_to_numpy('jpeg', data)[0].shape == (100, 70, 3)


@pytest.mark.parametrize('text', ['mono8; jpeg compressed mono8', 'mono8; jpeg compressed ',
                                  'jpeg'])
def test_jpeg_mono(text: str) -> None:
    """A grey jpeg decodes to one channel, mono8."""
    decoded, encoding = compressed_to_numpy(text, encode(smooth_image(channels=1), '.jpg'))
    assert encoding == 'mono8' and decoded.shape == (48, 64)


@pytest.mark.parametrize('text, encoding', [
    ('16UC1; png compressed mono16', 'mono16'),
    ('16UC1; png compressed ', '16UC1'),
    ('png', 'mono16'),
])
def test_png_16_bit_mono(text: str, encoding: str) -> None:
    """A 16-bit png keeps its values; its encoding is what the format names."""
    pixels = smooth_image(channels=1, dtype=np.uint16)
    decoded, got = compressed_to_numpy(text, encode(pixels, '.png'))
    assert got == encoding
    np.testing.assert_array_equal(decoded, pixels)


def test_png_with_alpha_is_bgra8() -> None:
    """A 4-channel png (no encoding named) decodes to bgra8."""
    pixels = smooth_image(channels=4)
    decoded, encoding = compressed_to_numpy('png', encode(pixels, '.png'))
    assert encoding == 'bgra8'
    np.testing.assert_array_equal(decoded, pixels)


def jpeg() -> bytes:
    """Return a small colour jpeg."""
    return bytes(encode(smooth_image(), '.jpg'))


def png() -> bytes:
    """Return a small colour png."""
    return bytes(encode(smooth_image(), '.png'))


@pytest.mark.parametrize('text, data, words', [
    ('jpeg', b'', 'has no data'),
    ('jpeg', b'garbage!', 'neither jpeg nor png'),
    ('png', jpeg(), 'says png but the data is jpeg'),
    ('rgb8; jpeg compressed bgr8', png(), 'says jpeg but the data is png'),
    ('jpeg', jpeg()[:len(jpeg()) // 2], 'truncated'),
    ('jpeg', jpeg()[:-2], 'truncated'),
    ('png', png()[:-1], 'truncated'),
    ('png', png()[:30], 'no IHDR header'),
    ('jpeg', b'\xff\xd8' + bytes(100), 'no readable frame header'),
    ('jpeg', b'\xff\xd8\xff\xda' + bytes(100) + b'\xff\xd9', 'no readable frame header'),
    ('mono8; jpeg compressed mono8', jpeg(), 'decodes to 3 channel(s) of uint8 but its format '
                                             'names mono8'),
    ('rgb8; png compressed bgr8', bytes(encode(smooth_image(dtype=np.uint16), '.png')),
     'decodes to 3 channel(s) of uint16 but its format names bgr8'),
])
def test_damaged_or_mismatched_payloads_are_refused(text: str, data: bytes, words: str) -> None:
    """Each fault raises CompressedImageError (an ImageEncodingError) naming it."""
    with pytest.raises(CompressedImageError) as caught:
        compressed_to_numpy(text, data)
    assert words in str(caught.value) and isinstance(caught.value, ImageEncodingError)


def test_damaged_inside_is_refused_by_the_decoder() -> None:
    """A whole-looking png with broken image data is refused by the decoder, not passed on."""
    data = bytearray(png())
    data[40:len(data) - 20] = bytes(len(data) - 60)  # zero the compressed stream and its CRC
    with pytest.raises(CompressedImageError, match='could not be decoded'):
        compressed_to_numpy('png', bytes(data))


def test_size_is_read_from_the_header_without_decoding() -> None:
    """A png that claims 100000 x 100000 pixels is sized from its header alone."""
    data = bytearray(png())
    data[16:24] = (100_000).to_bytes(4, 'big') * 2  # IHDR width and height (CRC now wrong)
    payload = inspect_compressed('png', bytes(data))
    assert (payload.width, payload.height) == (100_000, 100_000)


def test_seeded_payload_fuzz() -> None:
    """
    Random damage to good payloads (fuzz_cases.compressed_payload_case): never another exception.

    Each case either decodes to pixels whose shape matches its header and whose encoding is a
    known one, or raises CompressedImageError; a case that must be refused is refused.
    """
    rng = np.random.default_rng(20261206)
    outcomes = {'decoded': 0, 'refused': 0}
    for _ in range(300):
        case = compressed_payload_case(rng)
        try:
            pixels, encoding = compressed_to_numpy(case.format, case.data)
        except CompressedImageError as exc:
            outcomes['refused'] += 1
            assert case.reason in str(exc), (case.kind, str(exc))
            continue
        assert case.outcome != 'error', (case.kind, case.format)
        outcomes['decoded'] += 1
        dtype, channels = encoding_layout(encoding)
        assert pixels.dtype == dtype and (1 if pixels.ndim == 2 else pixels.shape[2]) == channels
        payload = inspect_compressed(case.format, case.data)
        assert pixels.shape[:2] == (payload.height, payload.width)
    assert min(outcomes.values()) > 30, outcomes
