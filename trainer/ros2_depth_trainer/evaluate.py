"""
Evaluate depth networks the way the papers do, against ground truth and the "Mean" baseline.

Geometry. Each model sees the test image through the runtime's own pre-processing
(`ros2_depth.pipeline.DepthPipeline.preprocess`: centre crop to the network's aspect ratio and
resize, or a stretch, or a plain centre crop at native scale), so a checkpoint and its exported
ONNX file are scored on exactly what the node would compute. Its output grid maps output pixel j
to network-input pixel scale * j + offset (2j + 5 for the Eigen & Fergus scale-3 grid); composed
with the input map, every output pixel has an exact position in the test image. The log-depth
(and normals) maps are interpolated bilinearly at every ground-truth pixel centre. Pixels outside
the prediction's footprint (the area its output pixels cover) are either filled from the
nearest edge of the prediction (``outside='nearest'``, the default: every model is scored on
the same pixels as the Mean baseline) or excluded (``outside='exclude'``).

Scoring. Depth metrics are computed per image under an `EvalProtocol` (crop, depth caps,
predictions clipped to the caps) and averaged over images; normal errors are pooled over every
valid pixel of the test set. The Mean baseline predicts one depth, the training set's mean,
everywhere.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from ros2_depth.backends.base import InferenceBackend
from ros2_depth.camera_model import AxisMap, ImageMap, PinholeCamera, resize_map
from ros2_depth.metrics import AngleAccumulator, HIGHER_IS_BETTER, mean_metrics, normal_angles
from ros2_depth.model_spec import input_focal_px, ModelSpec
from ros2_depth.pipeline import DepthPipeline, input_map
from ros2_depth_trainer.checkpoint import load_checkpoint
from ros2_depth_trainer.data import registry
from ros2_depth_trainer.figures import FigureRow
from ros2_depth_trainer.label_metrics import LABEL_ROWS, LabelAccumulator
from ros2_depth_trainer.models import build_model
from ros2_depth_trainer.protocols import EvalProtocol
from ros2_depth_trainer.sidecar import check_exportable, ExportError, model_spec
import torch
from tqdm import tqdm

_log = logging.getLogger(__name__)

INPUT_MODES = ('canonical', 'crop', 'stretch', 'center')
OUTSIDE_MODES = ('nearest', 'exclude')
MEAN_COLUMN = 'Mean'
RESULT_FORMAT = 'ros2_depth_trainer/evaluation'
MEDIAN_SCALED_SUFFIX = ' (median-scaled)'

DEPTH_ROWS = (
    ('delta1', 'δ < 1.25'),
    ('delta2', 'δ < 1.25²'),
    ('delta3', 'δ < 1.25³'),
    ('abs_rel', 'abs relative difference'),
    ('sq_rel', 'sqr relative difference'),
    ('rmse', 'RMSE (linear)'),
    ('rmse_log', 'RMSE (log)'),
    ('sc_inv', 'RMSE (log, scale inv.)'),
)
NORMAL_ROWS = (
    ('mean', 'angle mean (°)'),
    ('median', 'angle median (°)'),
    ('rmse', 'angle RMSE (°)'),
    ('within_11.25', 'within 11.25°'),
    ('within_22.5', 'within 22.5°'),
    ('within_30', 'within 30°'),
)


class EvaluationError(RuntimeError):
    """An evaluation cannot run: a dataset, model or setting is unusable; the message says why."""


# --------------------------------------------------------------------------------------------
# Models


class TorchBackend(InferenceBackend):
    """Runs an in-memory torch model behind the runtime's backend interface."""

    name = 'torch'

    def __init__(self, spec: ModelSpec, model: torch.nn.Module, device: str = 'cpu') -> None:
        """Wrap ``model`` (moved to ``device``, eval mode), its outputs keyed like the spec's."""
        super().__init__(spec)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def infer(self, image: np.ndarray) -> Dict[str, np.ndarray]:
        """Run one (1, 3, H, W) float32 image; return numpy outputs keyed by sidecar key."""
        self.check_input(image)
        with torch.no_grad():
            outputs = self.model(torch.from_numpy(image).to(self.device))
        return {key: outputs[key].float().cpu().numpy() for key in self.spec.outputs}

    def describe(self) -> str:
        """Name the backend, its device and thread count."""
        return (f'torch {torch.__version__} on {self.device}, '
                f'{torch.get_num_threads()} CPU thread(s)')


@dataclasses.dataclass
class Prediction:
    """One model's maps resampled onto a test image's pixels."""

    depth: np.ndarray  # (H, W) metres; NaN outside the footprint when it is excluded
    normals: Optional[np.ndarray]  # (H, W, 3) unit vectors, or None
    footprint: np.ndarray  # (H, W) bool: pixels inside the area the output pixels cover
    labels: Optional[np.ndarray] = None  # (H, W) class ids, when asked for and predicted


def _axis_sampling(out_size: int, axis: AxisMap,
                   image_size: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (i0, i1, weight of i1, inside) to interpolate an output axis at image pixels."""
    j = (np.arange(image_size, dtype=np.float64) - axis.offset) / axis.scale
    inside = (j >= -0.5) & (j < out_size - 0.5)
    clamped = np.clip(j, 0.0, out_size - 1.0)
    i0 = np.minimum(np.floor(clamped).astype(np.int64), max(out_size - 2, 0))
    i1 = np.minimum(i0 + 1, out_size - 1)
    return i0, i1, clamped - i0, inside


def resample_to_image(maps: np.ndarray, mapping: ImageMap, width: int,
                      height: int) -> Tuple[np.ndarray, np.ndarray]:
    """
    Interpolate (C, h, w) output maps bilinearly at the centres of a width x height image.

    ``mapping`` takes output pixel centres to image pixel centres. Image pixels beyond the
    outermost output centres take the edge values (clamping). Returns the (C, H, W) maps and
    the (H, W) footprint: pixels whose centre lies in the area the output pixels cover,
    [-0.5, w - 0.5) x [-0.5, h - 0.5) in output coordinates.
    """
    if maps.ndim != 3:
        raise ValueError(f'maps must be (C, h, w), got {maps.shape}')
    _, out_h, out_w = maps.shape
    x0, x1, wx, in_x = _axis_sampling(out_w, mapping.x, width)
    y0, y1, wy, in_y = _axis_sampling(out_h, mapping.y, height)
    values = maps.astype(np.float64)
    rows = values[:, :, x0] * (1.0 - wx) + values[:, :, x1] * wx
    image = rows[:, y0, :] * (1.0 - wy)[:, None] + rows[:, y1, :] * wy[:, None]
    return image, in_y[:, None] & in_x[None, :]


class ModelRunner:
    """A model behind the runtime's pre-processing; predicts maps on a test image's pixels."""

    def __init__(self, name: str, spec: ModelSpec, backend: InferenceBackend,
                 input_mode: str = 'canonical', outside: str = 'nearest', source: str = '',
                 base_size: Optional[Tuple[int, int]] = None) -> None:
        """
        Bind a model (sidecar + backend) to how images reach it and how gaps are treated.

        ``input_mode`` 'canonical', 'crop' and 'stretch' are the node's resize modes (the first
        needs the test samples' intrinsics for a model with a metric scale); 'center' resizes the
        image to ``base_size`` (height, width; default: keep its size) and cuts the network
        input from its centre, the papers' test-time crop (240 x 320 then 228 x 304 for NYU).
        """
        if input_mode not in INPUT_MODES:
            raise EvaluationError(f'input mode must be one of {INPUT_MODES}, got {input_mode!r}')
        if outside not in OUTSIDE_MODES:
            raise EvaluationError(f'outside must be one of {OUTSIDE_MODES}, got {outside!r}')
        self.name = name
        self.spec = spec
        self.backend = backend
        self.input_mode = input_mode
        self.outside = outside
        self.source = source
        self.base_size = base_size
        resize_mode = 'stretch' if input_mode == 'center' else input_mode
        self.pipeline = DepthPipeline(spec, backend, resize_mode)
        self._depth_key = next(k for k, o in spec.outputs.items() if o.kind == 'depth')
        self._labels_key = next((k for k, o in spec.outputs.items() if o.kind == 'labels'), None)
        self._normals_key = next(
            (k for k, o in spec.outputs.items() if o.kind == 'normals'), None)
        grid = spec.output_grid
        self._grid = ImageMap(AxisMap(grid.scale_x, grid.offset_x),
                              AxisMap(grid.scale_y, grid.offset_y))

    @property
    def has_normals(self) -> bool:
        """Whether the model predicts surface normals."""
        return self._normals_key is not None

    @property
    def label_ids(self) -> int:
        """Return 1 + the largest class id the model predicts (0 without a labels output)."""
        if self._labels_key is None:
            return 0
        out = self.spec.outputs[self._labels_key]
        return out.first_class_id + out.channels

    def _base_size(self, width: int, height: int) -> Tuple[int, int]:
        """Return (width, height) of the image that 'center' cuts the network input from."""
        base_w, base_h = (width, height) if self.base_size is None else self.base_size[::-1]
        net_w, net_h = self.spec.input.width, self.spec.input.height
        if base_w < net_w or base_h < net_h:
            raise EvaluationError(f'input mode "center" needs images of at least {net_w}x{net_h} '
                                  f'(after --base-size), got {base_w}x{base_h}; use "crop"')
        return base_w, base_h

    def network_input_map(self, width: int, height: int,
                          intrinsics: Optional[Sequence[float]] = None) -> ImageMap:
        """
        Return the map from network-input pixel centres to those of a width x height image.

        ``intrinsics`` (fx, fy, cx, cy) are needed by 'canonical' for a model with a metric scale.
        """
        net_size = (self.spec.input.width, self.spec.input.height)
        if self.input_mode == 'center':
            base_w, base_h = self._base_size(width, height)
            x0, y0 = (base_w - net_size[0]) // 2, (base_h - net_size[1]) // 2
            return ImageMap(resize_map(width, base_w), resize_map(height, base_h)).then(
                ImageMap(AxisMap(1.0, float(x0)), AxisMap(1.0, float(y0))))
        if intrinsics is not None:  # the node's own map for this camera
            camera = PinholeCamera(width, height, *map(float, intrinsics[:4]))
            return self.pipeline.input_map(camera)[0]
        if self.input_mode == 'canonical' and self.spec.metric_scale is not None:
            raise EvaluationError(f'{self.name}: input mode "canonical" needs the test samples\' '
                                  'intrinsics; use --input-mode crop for samples without them')
        return input_map((width, height), net_size, self.input_mode)[0]

    def output_map(self, width: int, height: int,
                   intrinsics: Optional[Sequence[float]] = None) -> ImageMap:
        """Return the map from output pixel centres to pixel centres of a width x height image."""
        return self.network_input_map(width, height, intrinsics).then(self._grid)

    def depth_factor(self, width: int, height: int,
                     intrinsics: Optional[Sequence[float]]) -> float:
        """
        Return metres per unit of the depth output, as the node computes it.

        1 for a model without ``metric_scale``; otherwise the canonical-focal factor for the
        image's intrinsics (fx, fy, cx, cy) after the crop and resize to the network input.
        """
        if self.spec.metric_scale is None:
            return 1.0
        if intrinsics is None:
            raise EvaluationError(f'{self.name} predicts depth for a canonical camera '
                                  '(metric_scale): the test samples need intrinsics')
        fx, fy = float(intrinsics[0]), float(intrinsics[1])
        mapping = self.network_input_map(width, height, intrinsics)
        return self.spec.metric_scale.factor(
            input_focal_px(fx / mapping.x.scale, fy / mapping.y.scale))

    def network_input(self, rgb: np.ndarray,
                      intrinsics: Optional[Sequence[float]] = None) -> np.ndarray:
        """Pre-process an (H, W, 3) rgb8 image into the network's (1, 3, h, w) float32 input."""
        if self.input_mode == 'center':
            height, width = rgb.shape[:2]
            base_w, base_h = self._base_size(width, height)
            if (base_w, base_h) != (width, height):
                # INTER_AREA follows the half-pixel map only when it shrinks both axes.
                shrinks = base_w <= width and base_h <= height
                rgb = cv2.resize(rgb, (base_w, base_h),
                                 interpolation=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR)
            net_w, net_h = self.spec.input.width, self.spec.input.height
            x0, y0 = (base_w - net_w) // 2, (base_h - net_h) // 2
            rgb = rgb[y0:y0 + net_h, x0:x0 + net_w]
        camera = None
        if intrinsics is not None and self.input_mode != 'center':
            camera = PinholeCamera(rgb.shape[1], rgb.shape[0], *map(float, intrinsics[:4]))
        return self.pipeline.preprocess(np.ascontiguousarray(rgb), 'rgb8', camera)

    def predict(self, rgb: np.ndarray, intrinsics: Optional[Sequence[float]] = None,
                want_labels: bool = False) -> Prediction:
        """
        Run the model on an (H, W, 3) rgb8 image; return its maps on the image's pixels.

        ``intrinsics`` (fx, fy, cx, cy of the image) are needed by models with a metric scale.
        With ``want_labels``, the class scores are resampled like the other maps and the arg-max
        class id is returned per pixel.
        """
        height, width = rgb.shape[:2]
        factor = self.depth_factor(width, height, intrinsics)
        outputs = self.backend.infer(self.network_input(rgb, intrinsics))
        depth_out = self.spec.outputs[self._depth_key]
        raw = outputs[self._depth_key][0].astype(np.float64)
        if depth_out.encoding == 'log':  # interpolate in the network's own (log) domain
            maps = [raw + np.log(factor)]
        else:
            with np.errstate(divide='ignore', invalid='ignore'):
                maps = [np.log(raw * factor)]
        if self._normals_key is not None:
            maps.append(outputs[self._normals_key][0].astype(np.float64))
        labels_out = self.spec.outputs[self._labels_key] if self._labels_key else None
        if want_labels and labels_out is not None:
            maps.append(outputs[self._labels_key][0].astype(np.float64))
        mapping = self.output_map(width, height, intrinsics)
        image, footprint = resample_to_image(np.concatenate(maps, 0), mapping, width, height)
        with np.errstate(over='ignore'):
            depth = np.exp(image[0])
        normals = None
        if self._normals_key is not None:
            normals = image[1:4].transpose(1, 2, 0)
            with np.errstate(invalid='ignore', divide='ignore'):
                normals = normals / np.linalg.norm(normals, axis=2, keepdims=True)
        labels = None
        if want_labels and labels_out is not None:
            first = 1 + (3 if self._normals_key is not None else 0)
            labels = np.argmax(image[first:first + labels_out.channels], axis=0)
            labels = (labels + labels_out.first_class_id).astype(np.int64)
        if self.outside == 'exclude':
            depth[~footprint] = np.nan
            if normals is not None:
                normals[~footprint] = np.nan
            if labels is not None:
                labels[~footprint] = 0  # unlabelled: not scored
        return Prediction(depth=depth, normals=normals, footprint=footprint, labels=labels)


def runner_from_checkpoint(path: Path, input_mode: str = 'canonical', outside: str = 'nearest',
                           name: Optional[str] = None,
                           base_size: Optional[Tuple[int, int]] = None,
                           device: str = 'cpu') -> ModelRunner:
    """Rebuild the model stored in a trainer checkpoint and wrap it for evaluation on torch."""
    config, state, _ = load_checkpoint(path)
    try:
        check_exportable(config)
    except ExportError as exc:
        raise EvaluationError(f'{path}: cannot be evaluated from the image alone ({exc})') \
            from exc
    model = build_model(config)
    model.load_state_dict(state)
    model.eval()
    spec = model_spec(model, onnx_file='', onnx_sha256='', trained=True)
    backend = TorchBackend(spec, model, device)
    return ModelRunner(name or Path(path).stem, spec, backend, input_mode, outside,
                       source=f'checkpoint {path}', base_size=base_size)


def runner_from_onnx(sidecar: Path, input_mode: str = 'canonical', outside: str = 'nearest',
                     name: Optional[str] = None, num_threads: int = 0,
                     base_size: Optional[Tuple[int, int]] = None) -> ModelRunner:
    """Load an exported model (its JSON sidecar, or the .onnx beside it) on ONNX Runtime."""
    from ros2_depth.backends import create_backend
    from ros2_depth.model_spec import load_spec

    spec = load_spec(Path(sidecar))
    backend = create_backend('onnxruntime', spec, num_threads=num_threads)
    return ModelRunner(name or Path(sidecar).stem, spec, backend, input_mode, outside,
                       source=f'onnx {spec.onnx_path}', base_size=base_size)


# --------------------------------------------------------------------------------------------
# Datasets


def open_dataset(kind: str, locations: Sequence[str], split: str = 'test',
                 nyu_depth: str = 'raw', kitti_depth: str = 'camera') -> Any:
    """
    Open a test (or training) dataset by kind through its opener (``data.registry``).

    The kind's module is imported only now. ``nyu_depth`` chooses the NYU labeled file's ground
    truth ('raw': ``rawDepths``, the published protocol's; 'filled': the in-painted ``depths``),
    ``kitti_depth`` the value of a projected KITTI Velodyne point ('camera' depth or monodepth2's
    'velodyne_x'). Images come at their native size; no augmentation or crop is applied.
    """
    kinds = registry.evaluation_kinds()
    if kind not in kinds:
        raise EvaluationError(f'unknown dataset kind {kind!r}; choose one of {kinds}')
    if not locations:
        raise EvaluationError(f'--data {kind} needs a location (see --help)')
    try:
        options = registry.OpenOptions(split=split, nyu_depth=nyu_depth,
                                       kitti_depth=kitti_depth)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    entry = registry.KINDS[kind]
    try:
        return entry.open_data(locations, options)
    except ImportError as exc:
        raise EvaluationError(f'the {kind} dataset ({entry.module}) is not available: {exc}') \
            from exc
    except (OSError, ValueError) as exc:
        raise EvaluationError(f'cannot open the {kind} data at {" ".join(locations)}: {exc}') \
            from exc


def sample_rgb8(image: Any) -> np.ndarray:
    """Turn a sample's (3, H, W) float image in [0, 1] into an (H, W, 3) rgb8 array."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3 or array.shape[0] != 3:
        raise EvaluationError(f'sample image must be (3, H, W), got {array.shape}')
    return np.clip(np.rint(array.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)


def sample_depth(depth: Any) -> np.ndarray:
    """Turn a sample's (1, H, W) depth in metres (0 = invalid) into an (H, W) float64 array."""
    array = np.asarray(depth, dtype=np.float64)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise EvaluationError(f'sample depth must be (1, H, W), got {array.shape}')
    return array


def dataset_mean_depth(dataset: Any, limit: Optional[int] = None,
                       progress: bool = True) -> float:
    """Return the mean of every valid depth pixel of a dataset (metres): the Mean baseline."""
    count = len(dataset) if limit is None else min(limit, len(dataset))
    total, pixels = 0.0, 0
    for index in tqdm(range(count), desc='training-set mean depth', unit='image',
                      disable=not progress):
        depth = sample_depth(dataset[index]['depth'])
        valid = depth[np.isfinite(depth) & (depth > 0)]
        total += float(valid.sum())
        pixels += valid.size
    if pixels == 0:
        raise EvaluationError('the training data has no valid depth pixel')
    return total / pixels


# --------------------------------------------------------------------------------------------
# Evaluation


@dataclasses.dataclass
class ColumnResult:
    """The numbers of one table column: the Mean baseline or one model."""

    name: str
    source: str
    depth: Optional[Dict[str, float]] = None
    normals: Optional[Dict[str, float]] = None
    labels: Optional[Dict[str, float]] = None
    images: int = 0  # images scored for depth
    normal_pixels: int = 0
    label_pixels: int = 0
    coverage: float = 1.0  # mean share of scored ground-truth pixels inside the footprint


@dataclasses.dataclass
class EvaluationResult:
    """Everything one evaluation produced: the table's columns and the figure's rows."""

    dataset: str
    protocol: EvalProtocol
    train_mean: float
    input_mode: str
    outside: str
    num_images: int
    skipped_images: int
    columns: List[ColumnResult]
    figure_rows: List[FigureRow]

    def to_dict(self) -> Dict[str, Any]:
        """Return the JSON form: the table's numbers plus how they were obtained."""
        return {
            'format': RESULT_FORMAT,
            'format_version': 1,
            'dataset': self.dataset,
            'protocol': dataclasses.asdict(self.protocol),
            'input_mode': self.input_mode,
            'outside': self.outside,
            'aggregation': {'depth': 'per image, then mean over images',
                            'normals': 'pooled over all valid pixels',
                            'labels': 'one confusion matrix over all labelled pixels'},
            'num_images': self.num_images,
            'skipped_images': self.skipped_images,
            'train_mean_depth': self.train_mean,
            'columns': [c.name for c in self.columns],
            'results': {c.name: {'source': c.source, 'images': c.images,
                                 'coverage': c.coverage, 'normal_pixels': c.normal_pixels,
                                 'label_pixels': c.label_pixels, 'depth': c.depth,
                                 'normals': c.normals, 'labels': c.labels}
                        for c in self.columns},
        }


def _figure_indices(count: int, rows: int) -> List[int]:
    if count == 0 or rows <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, count - 1, min(rows, count)).round()})


def evaluate(dataset: Any, runners: Sequence[ModelRunner], protocol: EvalProtocol,
             train_mean: float, dataset_name: str = '', figure_rows: int = 4,
             limit: Optional[int] = None, progress: bool = True,
             median_scaling: bool = False) -> EvaluationResult:
    """
    Score the Mean baseline and every model on a dataset of sample dicts.

    Depth: per image under ``protocol``, then averaged over the images with at least one scored
    pixel. Normals (where the model predicts them and the sample has them): angles pooled over
    all valid pixels inside the protocol's crop. With ``median_scaling``, each model gets a
    second column, '<name> (median-scaled)', scored after multiplying each image's prediction
    by median(truth / prediction) over its scored pixels (monodepth2's protocol for models
    without metric scale; it shows the layout apart from the scale), and the Mean baseline gets
    'Mean (median-scaled)': each image's median true depth everywhere.
    """
    if not train_mean > 0:
        raise EvaluationError(f'the Mean baseline needs a positive training mean, got '
                              f'{train_mean}')
    names = [MEAN_COLUMN] + [r.name for r in runners]
    if median_scaling:
        names += [name + MEDIAN_SCALED_SUFFIX for name in names]
    if len(set(names)) != len(names):
        raise EvaluationError(f'column names must be distinct, got {names}')
    count = len(dataset) if limit is None else min(limit, len(dataset))
    show = set(_figure_indices(count, figure_rows))
    records: Dict[str, List[Dict[str, float]]] = {n: [] for n in names}
    coverage: Dict[str, List[float]] = {r.name: [] for r in runners}
    angles = {r.name: AngleAccumulator() for r in runners if r.has_normals}
    label_counts = {r.name: LabelAccumulator(r.label_ids) for r in runners if r.label_ids}
    rows: List[FigureRow] = []
    skipped = 0
    for index in tqdm(range(count), desc='evaluating', unit='image', disable=not progress):
        sample = dataset[index]
        rgb = sample_rgb8(sample['image'])
        truth = sample_depth(sample['depth'])
        height, width = truth.shape
        if rgb.shape[:2] != truth.shape:
            raise EvaluationError(f'sample {index}: image {rgb.shape[:2]} and depth '
                                  f'{truth.shape} differ in size')
        region = protocol.mask(height, width)
        with np.errstate(invalid='ignore'):
            scored = region & np.isfinite(truth) & (truth > protocol.min_depth) \
                & (truth < protocol.max_depth)
        if not scored.any():
            skipped += 1
            _log.warning('sample %d has no ground truth inside the protocol; skipped', index)
            continue
        records[MEAN_COLUMN].append(protocol.depth_metrics(np.full_like(truth, train_mean),
                                                           truth))
        if median_scaling:
            records[MEAN_COLUMN + MEDIAN_SCALED_SUFFIX].append(protocol.depth_metrics(
                np.full_like(truth, np.median(truth[scored])), truth))
        normals_truth = sample.get('normals')
        if normals_truth is not None:
            normals_truth = np.asarray(normals_truth, dtype=np.float64).transpose(1, 2, 0)
        predictions: Dict[str, np.ndarray] = {}
        for runner in runners:
            intrinsics = sample.get('intrinsics')
            labels_truth = sample.get('labels') if runner.name in label_counts else None
            pred = runner.predict(rgb, None if intrinsics is None
                                  else [float(v) for v in intrinsics],
                                  want_labels=labels_truth is not None)
            predictions[runner.name] = pred.depth
            coverage[runner.name].append(float(np.mean(pred.footprint[scored])))
            try:
                records[runner.name].append(protocol.depth_metrics(pred.depth, truth))
                if median_scaling:
                    records[runner.name + MEDIAN_SCALED_SUFFIX].append(protocol.depth_metrics(
                        pred.depth * median_ratio(pred.depth, truth, scored), truth))
            except ValueError:
                _log.warning('sample %d: %s covers no scored pixel', index, runner.name)
            if runner.name in angles and normals_truth is not None:
                angles[runner.name].add(normal_angles(pred.normals[region],
                                                      normals_truth[region]))
            if labels_truth is not None:
                truth_ids = np.asarray(labels_truth, dtype=np.int64)
                label_counts[runner.name].add(pred.labels[region], truth_ids[region])
        if index in show:
            rows.append(FigureRow(index=index, image=rgb,
                                  truth=np.where(truth > 0, truth, np.nan),
                                  predictions=predictions))
    if skipped == count:
        raise EvaluationError(f'none of the {count} test images has scorable ground truth')

    columns = [ColumnResult(MEAN_COLUMN, f'constant {train_mean:.6g} m (training-set mean)',
                            depth=mean_metrics(records[MEAN_COLUMN]),
                            images=len(records[MEAN_COLUMN]))]
    for runner in runners:
        column = ColumnResult(runner.name, runner.source, images=len(records[runner.name]),
                              coverage=float(np.mean(coverage[runner.name])))
        if records[runner.name]:
            column.depth = mean_metrics(records[runner.name])
        accumulator = angles.get(runner.name)
        if accumulator is not None and accumulator.count:
            column.normals = accumulator.result()
            column.normal_pixels = accumulator.count
        confusion = label_counts.get(runner.name)
        if confusion is not None and confusion.count:
            column.labels = confusion.result()
            column.label_pixels = confusion.count
        columns.append(column)
    if median_scaling:
        for name, source in [(MEAN_COLUMN, 'the median true depth of each image everywhere')] \
                + [(r.name, r.source) for r in runners]:
            scaled = name + MEDIAN_SCALED_SUFFIX
            column = ColumnResult(scaled, f'{source}, scaled per image by its median ratio',
                                  images=len(records[scaled]))
            if name in coverage:
                column.coverage = float(np.mean(coverage[name]))
            if records[scaled]:
                column.depth = mean_metrics(records[scaled])
            columns.append(column)
    return EvaluationResult(dataset=dataset_name, protocol=protocol, train_mean=train_mean,
                            input_mode=runners[0].input_mode if runners else '',
                            outside=runners[0].outside if runners else '', num_images=count,
                            skipped_images=skipped, columns=columns, figure_rows=rows)


def median_ratio(pred: np.ndarray, truth: np.ndarray, scored: np.ndarray) -> float:
    """Return median(truth / pred) over the scored pixels where the prediction is positive."""
    with np.errstate(invalid='ignore', divide='ignore'):
        usable = scored & np.isfinite(pred) & (pred > 0)
        if not usable.any():
            raise ValueError('no scored pixel has a positive prediction')
        return float(np.median(truth[usable] / pred[usable]))


# --------------------------------------------------------------------------------------------
# Reporting


def _arrow(key: str) -> str:
    return '↑' if key in HIGHER_IS_BETTER or key in dict(LABEL_ROWS) else '↓'


def _table_block(title: str, rows: Sequence[Tuple[str, str]], columns: Sequence[ColumnResult],
                 field: str, label_width: int, cell_width: int) -> List[str]:
    lines = [title]
    for key, label in rows:
        cells = []
        for column in columns:
            values = getattr(column, field)
            cells.append('-' if values is None else f'{values[key]:.3f}')
        lines.append(f'{label:<{label_width}} {_arrow(key)} '
                     + ' '.join(f'{c:>{cell_width}}' for c in cells))
    return lines


def format_table(result: EvaluationResult) -> str:
    """Lay the numbers out like the papers' tables: metric rows, one column per method."""
    protocol = result.protocol
    label_width = max(len(label) for _, label in DEPTH_ROWS + NORMAL_ROWS + LABEL_ROWS)
    cell_width = max([9] + [len(c.name) for c in result.columns])
    header = ' ' * (label_width + 2) + ' '.join(f'{c.name:>{cell_width}}'
                                                for c in result.columns)
    scored = result.num_images - result.skipped_images
    lines = [
        f'{result.dataset or "dataset"}: {scored} image(s) scored; protocol {protocol.name} '
        f'(crop {protocol.crop}, ground truth in ({protocol.min_depth:g}, '
        f'{protocol.max_depth:g}) m, predictions clipped to it); depth metrics per image, then '
        'averaged',
        f'Mean = {result.train_mean:.4g} m everywhere (training-set mean depth); '
        f'input {result.input_mode}, outside the prediction: {result.outside}',
        header,
    ]
    lines += _table_block('depth', DEPTH_ROWS, result.columns, 'depth', label_width,
                          cell_width)
    if any(c.normals is not None for c in result.columns):
        pixels = max(c.normal_pixels for c in result.columns)
        lines += _table_block(f'normals (pooled over {pixels} pixels)', NORMAL_ROWS,
                              result.columns, 'normals', label_width, cell_width)
    if any(c.labels is not None for c in result.columns):
        pixels = max(c.label_pixels for c in result.columns)
        lines += _table_block(f'labels (pooled over {pixels} pixels)', LABEL_ROWS,
                              result.columns, 'labels', label_width, cell_width)
    return '\n'.join(lines) + '\n'


def write_outputs(result: EvaluationResult, output: Path) -> Dict[str, Path]:
    """Write table.txt, metrics.json and figure.png (when there are rows) into ``output``."""
    import json

    from ros2_depth_trainer.figures import depth_figure

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = {'table': output / 'table.txt', 'json': output / 'metrics.json'}
    paths['table'].write_text(format_table(result), encoding='utf-8')
    paths['json'].write_text(json.dumps(result.to_dict(), indent=2) + '\n', encoding='utf-8')
    if result.figure_rows:
        models = [c.name for c in result.columns if c.name in result.figure_rows[0].predictions]
        paths['figure'] = depth_figure(result.figure_rows, models, output / 'figure.png')
    return paths
