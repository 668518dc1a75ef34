"""
`ros2-depth infer`: depth, normals, labels and a point cloud for image files, without ROS.

Each image goes through the node's pipeline (`DepthPipeline.run`) with the intrinsics given on the
command line (`--fx --fy --cx --cy`), from a camera_info YAML (camera_calibration_parsers'
format, as camera_calibration writes it; P is used, K when P is zero, as the node does), or
assumed: the model's canonical camera scaled to the image (`assumed_camera`), which makes metric
scale a guess. Per image STEM it writes into the output folder:

| file | content |
|---|---|
| `STEM_depth.png` | 16-bit millimetres, 0 = invalid (as depth cameras write it) |
| `STEM_depth.npy` | float32 metres, NaN = invalid |
| `STEM_normals.png` | unit normals as colours (x, y, z in [-1, 1] as red, green, blue) |
| `STEM_labels.png` | class colours of the model's palette (models with labels) |
| `STEM.ply` | binary little-endian PLY, float x y z + uchar red green blue, valid points only |
| `STEM_preview.png` | network view of the input, depth, normals, labels side by side |

and `infer.json` with each image's intrinsics and those of its outputs (the output grid, which
back-projects `STEM_depth.npy` to the PLY's points).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
from pathlib import Path
import time
from types import SimpleNamespace
from typing import Any, ContextManager, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from ros2_depth.backends import BackendError, create_backend
from ros2_depth.camera_model import camera_from_info, CameraInfoError, PinholeCamera
from ros2_depth.demo.visualize import (
    colorize_depth, colorize_normals, far_limit, labelled, NEAR_M, point_colors, sheet, write_ply)
from ros2_depth.geometry import backproject
from ros2_depth.model_spec import load_spec, ModelSpecError
from ros2_depth.pipeline import DepthPipeline, label_palette, PipelineError, read_box, RESIZE_MODES
from ros2_depth.resources import default_model_path

LOG = logging.getLogger('ros2-depth.infer')

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
# The canonical focal length assumed for a model without a metric scale (network-input pixels):
# the bundled model's, a 62 degree horizontal field of view at its 304-pixel input.
DEFAULT_CANONICAL_FOCAL_PX = 250.0
MAX_MILLIMETRES = 65535  # farther depth does not fit a 16-bit PNG: written as 0 (invalid)
PREVIEW_WIDTH = 320


class InferError(RuntimeError):
    """The command cannot run at all (model, options); the message says what to do."""


@dataclasses.dataclass
class InferOptions:
    """What `infer_images` reads and writes."""

    images: Sequence[str]
    output: Path
    fx: Optional[float] = None
    fy: Optional[float] = None
    cx: Optional[float] = None
    cy: Optional[float] = None
    camera_info: Optional[Path] = None
    model: str = ''
    backend: str = 'onnxruntime'
    num_threads: int = 2
    resize_mode: str = 'canonical'
    progress: bool = True


@dataclasses.dataclass
class InferSummary:
    """What one run did."""

    output: Path
    written: List[str] = dataclasses.field(default_factory=list)
    skipped: Dict[str, str] = dataclasses.field(default_factory=dict)
    assumed_intrinsics: bool = False
    labels: bool = False
    model: str = ''
    seconds: float = 0.0

    def describe(self) -> str:
        """Return a few lines for the terminal."""
        lines = [f'{len(self.written)} images written to {self.output} in {self.seconds:.1f} s '
                 f'with {self.model}; {len(self.skipped)} skipped']
        if self.written:
            labels = 'STEM_labels.png, ' if self.labels else ''
            lines.append(f'  per image: STEM_depth.png (mm), STEM_depth.npy (m), '
                         f'STEM_normals.png, {labels}STEM.ply, STEM_preview.png; '
                         f'{self.output}/infer.json')
        if self.assumed_intrinsics:
            lines.append('  intrinsics assumed (no --fx or --camera-info): metric scale is a '
                         'guess')
        return '\n'.join(lines)


def find_images(patterns: Iterable[str]) -> Tuple[List[Path], Dict[str, str]]:
    """
    Return the image files that files, folders (their images, sorted) and globs name, in order.

    Also return {pattern: problem} for those that name nothing readable-looking.
    """
    found: List[Path] = []
    problems: Dict[str, str] = {}
    for pattern in patterns:
        path = Path(pattern)
        if any(c in pattern for c in '*?['):
            matches = [Path(m) for m in sorted(glob.glob(pattern))]
        else:
            matches = [path] if path.exists() else []
        files: List[Path] = []
        for match in matches:
            if match.is_dir():
                files += sorted(p for p in match.iterdir()
                                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            else:
                files.append(match)
        if not files:
            problems[pattern] = ('no such file or folder' if not matches
                                 else f'no images ({", ".join(IMAGE_SUFFIXES)}) in it')
        found += [f for f in files if f not in found]
    return found, problems


def camera_from_yaml(path: Path) -> Tuple[PinholeCamera, bool]:
    """
    Return the intrinsics of a camera_info YAML and whether it has non-zero distortion.

    camera_calibration_parsers' format: image_width, image_height, camera_matrix,
    distortion_coefficients, projection_matrix (each with rows, cols, data). P is used, K where
    P is zero, as `camera_from_info` reads a CameraInfo.
    """
    import yaml

    try:
        raw = yaml.safe_load(Path(path).read_text())
        matrix = {key: [float(v) for v in (raw.get(key) or {}).get('data', [])]
                  for key in ('camera_matrix', 'projection_matrix', 'distortion_coefficients')}
        info = SimpleNamespace(
            width=int(raw['image_width']), height=int(raw['image_height']),
            k=matrix['camera_matrix'] or [0.0] * 9, p=matrix['projection_matrix'] or [0.0] * 12,
            binning_x=0, binning_y=0,
            roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0))
        camera = camera_from_info(info)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InferError(f'cannot read the camera_info YAML {path}: {exc}; give a calibration '
                         'file as camera_calibration writes it') from exc
    return camera, any(v != 0.0 for v in matrix['distortion_coefficients'])


def assumed_camera(width: int, height: int, pipeline: DepthPipeline) -> PinholeCamera:
    """
    Return the intrinsics assumed for an image without any: the canonical camera, scaled.

    fx = fy = canonical focal x min(W / network width, H / network height), the principal point at
    the image centre: the network then sees the largest centred part of the image with its own
    aspect ratio at the apparent size it was trained on (canonical focal: the model's metric
    scale, else DEFAULT_CANONICAL_FOCAL_PX). For the bundled model and 640x480: 526 px.
    """
    scale = pipeline.spec.metric_scale
    canonical = scale.canonical_focal_px if scale is not None else DEFAULT_CANONICAL_FOCAL_PX
    inp = pipeline.spec.input
    focal = canonical * min(width / inp.width, height / inp.height)
    return PinholeCamera(width, height, focal, focal, (width - 1) / 2.0, (height - 1) / 2.0)


def depth_millimetres(depth: np.ndarray) -> np.ndarray:
    """Return metres (NaN invalid) as uint16 millimetres, 0 where invalid or beyond 65.535 m."""
    with np.errstate(invalid='ignore'):
        mm = np.rint(depth.astype(np.float64) * 1000.0)
        keep = np.isfinite(mm) & (mm > 0) & (mm <= MAX_MILLIMETRES)
    out = np.zeros(depth.shape, np.uint16)
    out[keep] = mm[keep].astype(np.uint16)
    return out


class _Run:
    """One `infer` run: the pipeline, the intrinsics rule, the output folder."""

    def __init__(self, options: InferOptions) -> None:
        if options.resize_mode not in RESIZE_MODES:
            raise InferError(f'resize mode must be one of {RESIZE_MODES}')
        given = [n for n in ('fx', 'fy', 'cx', 'cy') if getattr(options, n) is not None]
        if options.camera_info is not None and given:
            raise InferError('give the intrinsics either as --camera-info or as --fx/--fy/--cx/'
                             '--cy, not both')
        if given and options.fx is None:
            raise InferError(f'--{", --".join(given)} need --fx (the focal length in pixels)')
        self.options = options
        self.fixed: Optional[PinholeCamera] = None
        if options.camera_info is not None:
            self.fixed, distorted = camera_from_yaml(options.camera_info)
            if distorted:
                LOG.warning('%s has non-zero distortion: the images are taken as rectified '
                            '(its projection matrix); undistort them first for exact geometry',
                            options.camera_info)
        path = Path(options.model) if options.model else default_model_path()
        try:
            spec = load_spec(path)
            backend = create_backend(options.backend, spec, num_threads=options.num_threads)
            self.pipeline = DepthPipeline(spec, backend, options.resize_mode)
        except (ModelSpecError, BackendError, PipelineError) as exc:
            raise InferError(f'cannot load the model: {exc}') from exc
        if not spec.trained:
            LOG.warning('model %s has untrained weights: its depth is not meaningful', spec.name)
        self.palette = label_palette(spec) if self.pipeline.has_labels else None
        self.assumed = options.camera_info is None and options.fx is None
        if self.assumed:
            LOG.warning('no intrinsics given (--fx/--fy/--cx/--cy or --camera-info): assuming '
                        "the model's canonical camera scaled to each image (fx = fy = %g px "
                        'for 640x480, principal point at the centre); metric scale is then a '
                        'guess', assumed_camera(640, 480, self.pipeline).fx)

    def camera(self, width: int, height: int) -> PinholeCamera:
        """Return the intrinsics of a width x height image (CameraInfoError if they do not fit)."""
        options = self.options
        if self.fixed is not None:
            if self.fixed.size != (width, height):
                raise CameraInfoError(
                    f'the image is {width}x{height} but {options.camera_info} describes '
                    f'{self.fixed.width}x{self.fixed.height}')
            return self.fixed
        if options.fx is None:
            return assumed_camera(width, height, self.pipeline)
        return PinholeCamera(
            width, height, options.fx, options.fy if options.fy is not None else options.fx,
            options.cx if options.cx is not None else (width - 1) / 2.0,
            options.cy if options.cy is not None else (height - 1) / 2.0)

    def infer(self, path: Path, stem: str) -> Dict[str, Any]:
        """Write one image's files; return its infer.json entry. Raises for a bad image."""
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError('OpenCV cannot read it as an image')
        height, width = bgr.shape[:2]
        camera = self.camera(width, height)
        pipeline = self.pipeline
        result = pipeline.run(bgr, 'bgr8', camera, want_normals=True,
                              want_labels=pipeline.has_labels)
        out = Path(self.options.output)
        files = {'depth_png': f'{stem}_depth.png', 'depth_npy': f'{stem}_depth.npy',
                 'ply': f'{stem}.ply', 'preview': f'{stem}_preview.png'}
        depth = result.depth
        _imwrite(out / files['depth_png'], depth_millimetres(depth))
        np.save(out / files['depth_npy'], depth)
        far = far_limit(depth)
        out_w, out_h = result.camera.size
        size = (PREVIEW_WIDTH, int(round(PREVIEW_WIDTH * out_h / out_w)))
        _, box = pipeline.input_map(camera)
        row = [labelled(np.ascontiguousarray(read_box(bgr, box)), 'input (network view)', size),
               labelled(colorize_depth(depth, NEAR_M, far), f'depth {NEAR_M:g}-{far:.1f} m',
                        size)]
        if result.normals is not None:
            files['normals'] = f'{stem}_normals.png'
            normals_picture = colorize_normals(result.normals)
            _imwrite(out / files['normals'], normals_picture)
            row.append(labelled(normals_picture, 'normals', size))
        if result.labels is not None and self.palette is not None:
            files['labels'] = f'{stem}_labels.png'
            labels_picture = np.ascontiguousarray(self.palette[result.labels][..., ::-1])
            _imwrite(out / files['labels'], labels_picture)
            row.append(labelled(labels_picture, 'labels', size))
        points = backproject(depth, result.camera)
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        vertices = write_ply(out / files['ply'], points, point_colors(rgb, camera, points))
        _imwrite(out / files['preview'], sheet([row]))
        valid = np.isfinite(depth)
        return {
            'image': str(path),
            'files': files,
            'camera': dataclasses.asdict(camera),
            'intrinsics': 'assumed' if self.assumed else 'given',
            'output_camera': dataclasses.asdict(result.camera),
            'valid_fraction': float(valid.mean()),
            'median_depth_m': float(np.median(depth[valid])) if valid.any() else None,
            'points': vertices,
        }


def progress_logging() -> ContextManager[Any]:
    """
    Return a context in which log lines print above a tqdm progress bar instead of through it.

    tqdm.contrib.logging came with tqdm 4.60; with an older tqdm (Ubuntu 22.04 has 4.57 for
    Humble) lines simply go where they went.
    """
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:
        return contextlib.nullcontext()
    return logging_redirect_tqdm()


def _imwrite(path: Path, picture: np.ndarray) -> None:
    if not cv2.imwrite(str(path), picture):
        raise OSError(f'cannot write {path}')


def _stems(paths: Sequence[Path]) -> List[str]:
    """Output names: each file's stem, made unique with _2, _3, ..."""
    stems: List[str] = []
    for path in paths:
        stem, n = path.stem, 2
        while stem in stems:
            stem, n = f'{path.stem}_{n}', n + 1
        stems.append(stem)
    return stems


def infer_images(options: InferOptions) -> InferSummary:
    """Write depth, normals, labels, a point cloud and a preview per image (module doc)."""
    from tqdm import tqdm

    start = time.monotonic()
    paths, problems = find_images(options.images)
    run = _Run(options)
    summary = InferSummary(output=Path(options.output), assumed_intrinsics=run.assumed,
                           labels=run.pipeline.has_labels, model=run.pipeline.spec.name)
    for pattern, problem in problems.items():
        LOG.warning('%s: %s; skipped', pattern, problem)
        summary.skipped[pattern] = problem
    if not paths:
        raise InferError('no images to process; give image files, folders or globs')
    summary.output.mkdir(parents=True, exist_ok=True)
    entries = []
    with progress_logging(), tqdm(
            total=len(paths), unit='image', desc='infer', disable=not options.progress,
            leave=False) as progress:
        for path, stem in zip(paths, _stems(paths)):
            try:
                entries.append(run.infer(path, stem))
                summary.written.append(str(path))
            except (ValueError, OSError, BackendError) as exc:  # incl. Pipeline/CameraInfoError
                problem = ' '.join(str(exc).split()) or type(exc).__name__
                LOG.warning('%s: %s; skipped', path, problem)
                summary.skipped[str(path)] = problem
            progress.update()
    (summary.output / 'infer.json').write_text(json.dumps(
        {'model': summary.model, 'resize_mode': options.resize_mode, 'images': entries,
         'skipped': summary.skipped}, indent=2) + '\n')
    summary.seconds = time.monotonic() - start
    return summary
