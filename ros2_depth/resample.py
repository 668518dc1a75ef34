"""
Network-grid outputs onto the camera's own pixels, and camera pixels onto the network grid.

Numpy and OpenCV only, no ROS. The network's output grid maps onto the camera image through an
affine map per axis (``camera_model.ImageMap``, output pixel -> camera pixel, the composition of
the pipeline's input map and the model's output grid). Going the other way, each camera pixel
looks up the output grid at (u - offset) / scale:

- depth is upsampled edge-aware: inside a cell of four output pixels whose depths differ by at
  most ``MAX_BLEND_RATIO`` (largest over smallest), bilinearly; across a larger step, or next to
  an invalid pixel, from the nearest output pixel. Bilinear blending across a depth edge would
  put points between the foreground and the background (flying pixels); nearest neighbour alone
  would turn every smooth surface into terraces of output-pixel size. Each value is therefore a
  convex combination of its four neighbours, never outside their range, and an edge stays a step.
- normals follow the depth's choice per pixel and are renormalised to unit length;
- labels (and anything else categorical) take the nearest output pixel.

Camera pixels outside the output grid's footprint (the network did not see them, e.g. the
periphery that the 'crop' and 'canonical' resize modes cut away) are NaN (depth, normals) or 0
(labels). Output pixels that lie over padding (outside the camera image) are never sampled.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import cv2
import numpy as np

from ros2_depth.camera_model import AxisMap, ImageMap

# Four output pixels are blended bilinearly only when the largest depth is at most this many times
# the smallest (5 %: a plane inclined up to about 80 degrees to the view at the bundled model's
# output resolution; a step between objects is larger).
MAX_BLEND_RATIO = 1.05


@dataclasses.dataclass(frozen=True)
class AxisSamples:
    """Where each destination pixel of one axis reads the source grid."""

    nearest: np.ndarray  # (n,) int: the nearest usable source pixel
    low: np.ndarray  # (n,) int: the usable source pixel at or before the sample point
    high: np.ndarray  # (n,) int: the next usable source pixel (== low at the last one)
    weight: np.ndarray  # (n,) float32: weight of `high` in the linear blend
    seen: np.ndarray  # (n,) bool: whether the sample point lies on the source grid at all


def axis_samples(
    mapping: AxisMap,
    src_size: int,
    dst_size: int,
    usable: Optional[Tuple[int, int]] = None,
) -> AxisSamples:
    """
    Sample positions on a source grid of `src_size` pixels for `dst_size` destination pixels.

    `mapping` takes source pixel centres to destination pixel centres (the output grid onto the
    camera). A destination pixel is seen when its centre lies within the source grid's footprint,
    [-0.5, src_size - 0.5] in source pixels. `usable` = (first, last) restricts which source
    pixels are read (the ones over the camera image, not padding); positions beyond them take
    the nearest usable one.
    """
    first, last = usable if usable is not None else (0, src_size - 1)
    if not 0 <= first <= last < src_size:
        raise ValueError(f'usable source pixels {first}..{last} outside 0..{src_size - 1}')
    position = (np.arange(dst_size, dtype=np.float64) - mapping.offset) / mapping.scale
    seen = (position >= -0.5) & (position <= src_size - 0.5)
    nearest = np.clip(np.floor(position + 0.5), first, last).astype(np.intp)
    clipped = np.clip(position, first, last)
    low = np.floor(clipped).astype(np.intp)
    high = np.minimum(low + 1, last)
    weight = (clipped - low).astype(np.float32)
    return AxisSamples(nearest, low, high, weight, seen)


@dataclasses.dataclass(frozen=True)
class GridSamples:
    """Where each pixel of a destination image reads the source grid (both axes)."""

    x: AxisSamples
    y: AxisSamples

    @property
    def shape(self) -> Tuple[int, int]:
        """(height, width) of the destination image."""
        return self.y.seen.size, self.x.seen.size

    def unseen(self) -> np.ndarray:
        """Return the (H, W) mask of destination pixels the source grid does not cover."""
        return ~(self.y.seen[:, None] & self.x.seen[None, :])


def grid_samples(
    mapping: ImageMap,
    src_size: Tuple[int, int],
    dst_size: Tuple[int, int],
    usable_columns: Optional[Tuple[int, int]] = None,
    usable_rows: Optional[Tuple[int, int]] = None,
) -> GridSamples:
    """Return the samples of a (width, height) `dst_size` image on a `src_size` grid."""
    return GridSamples(
        axis_samples(mapping.x, src_size[0], dst_size[0], usable_columns),
        axis_samples(mapping.y, src_size[1], dst_size[1], usable_rows),
    )


def upsample_nearest(values: np.ndarray, samples: GridSamples, fill: float) -> np.ndarray:
    """Return (H, W[, C]) values of the nearest source pixel; `fill` where unseen."""
    out = values[samples.y.nearest[:, None], samples.x.nearest[None, :]]
    out[samples.unseen()] = fill
    return out


def _bilinear(values: np.ndarray, samples: GridSamples) -> np.ndarray:
    """Separable bilinear interpolation: rows first (on the narrow grid), then columns."""
    # a + w (b - a): exactly a where a == b, so equal neighbours give their own value.
    wy = samples.y.weight.reshape((-1,) + (1,) * (values.ndim - 1))
    top = values[samples.y.low]
    rows = top + wy * (values[samples.y.high] - top)
    wx = samples.x.weight.reshape((1, -1) + (1,) * (values.ndim - 2))
    left = rows[:, samples.x.low]
    left += wx * (rows[:, samples.x.high] - left)
    return left


def smooth_cells(depth: np.ndarray, samples: GridSamples,
                 max_ratio: float = MAX_BLEND_RATIO) -> np.ndarray:
    """
    Return the (H, W) mask of destination pixels whose four source neighbours may be blended.

    True where all four depths are finite and the largest is at most `max_ratio` times the
    smallest; evaluated once per source cell, then looked up per pixel.
    """
    rows = np.unique(samples.y.low)
    cols = np.unique(samples.x.low)
    row_next = np.minimum(rows + 1, samples.y.high.max(initial=0))
    col_next = np.minimum(cols + 1, samples.x.high.max(initial=0))
    corners = np.stack([
        depth[rows[:, None], cols[None, :]], depth[rows[:, None], col_next[None, :]],
        depth[row_next[:, None], cols[None, :]], depth[row_next[:, None], col_next[None, :]],
    ])
    with np.errstate(invalid='ignore'):
        cell_ok = corners.max(axis=0) <= corners.min(axis=0) * np.float32(max_ratio)
    cell_ok &= np.isfinite(corners).all(axis=0) & (corners.min(axis=0) > 0)
    # Cells are indexed by their low corner: map each pixel's low corner to its cell row/column.
    row_of = np.searchsorted(rows, samples.y.low)
    col_of = np.searchsorted(cols, samples.x.low)
    return cell_ok[row_of[:, None], col_of[None, :]]


def upsample_depth_normals(
    depth: np.ndarray,
    normals: Optional[np.ndarray],
    samples: GridSamples,
    max_ratio: float = MAX_BLEND_RATIO,
) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """
    Upsample (h, w) depth and optional (h, w, 3) unit normals edge-aware (module docstring).

    Return float32 (H, W) depth and (H, W, 3) renormalised normals, NaN where unseen and,
    for the normals, wherever the depth is NaN.
    """
    blend = smooth_cells(depth, samples, max_ratio)
    # Bilinear everywhere, then the nearest value where the cell may not be blended (depth
    # edges and holes: few pixels, so they are gathered one by one rather than as a whole image).
    rows, cols = np.nonzero(~blend)
    near_rows, near_cols = samples.y.nearest[rows], samples.x.nearest[cols]
    unseen = samples.unseen()
    with np.errstate(invalid='ignore'):
        out_depth = _bilinear(depth, samples).astype(np.float32, copy=False)
    out_depth[rows, cols] = depth[near_rows, near_cols]
    out_depth[unseen] = np.nan
    out_normals = None
    if normals is not None:
        out_normals = np.empty(out_depth.shape + (3,), np.float32)
        with np.errstate(invalid='ignore'):
            for channel in range(3):  # per plane: 2-D gathers are several times faster
                out_normals[..., channel] = _bilinear(
                    np.ascontiguousarray(normals[..., channel]), samples)
        out_normals[rows, cols] = normals[near_rows, near_cols]
        with np.errstate(invalid='ignore', divide='ignore'):
            out_normals /= np.sqrt(np.einsum('...i,...i->...', out_normals, out_normals))[
                ..., None]
        out_normals[np.isnan(out_depth)] = np.nan
    return out_depth, out_normals


def sample_image(image: np.ndarray, mapping: ImageMap, size: Tuple[int, int]) -> np.ndarray:
    """
    Sample an (H, W[, C]) image at the camera positions of a (width, height) grid, bilinearly.

    Grid pixel (j, i) reads the image at (mapping.x(j), mapping.y(i)); positions beyond the image
    take its border pixels. An identity map of the same size returns the image itself.
    """
    width, height = size
    if (
        (width, height) == (image.shape[1], image.shape[0])
        and (mapping.x.scale, mapping.x.offset, mapping.y.scale, mapping.y.offset) == (1, 0, 1, 0)
    ):
        return image
    matrix = np.array([[mapping.x.scale, 0.0, mapping.x.offset],
                       [0.0, mapping.y.scale, mapping.y.offset]])
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
