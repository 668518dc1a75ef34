"""
The JSON sidecar that travels with every exported model.

The trainer writes it next to the ONNX file; the node reads it before it runs anything. It says
what the network expects (input name, size, colour order, normalisation), what it returns (output
names, their meaning and units) and where each output pixel lies in the network input, which is
what lets the node publish intrinsics that match its output images exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

SIDECAR_FORMAT = 'ros2_depth/model'
# Version 2 adds ``metric_scale``: a runtime that reads only version 1 would ignore it and publish
# depth in the wrong scale, so the exporter writes 2 exactly when a model has a metric scale.
SIDECAR_VERSION = 2
SIDECAR_VERSIONS = (1, 2)
METRIC_SCALE_SCHEMES = ('canonical_focal',)
# Numeric precision of a model file. An 'int8' model is a statically quantised copy of an FP32
# one (``ros2-depth-train quantize``): the same interface, so a runtime that does not know the
# field runs it unchanged; it lies beside its parent as ``<parent stem>.int8.json``.
MODEL_PRECISIONS = ('fp32', 'int8')
# The precisions a model runs at (depth_node's `precision`): fp16 is a TensorRT build of an FP32
# model; int8 an INT8 model file (ONNX Runtime), or a TensorRT INT8 engine.
PRECISIONS = ('fp32', 'fp16', 'int8')
INT8_SUFFIX = '.int8'

OUTPUT_KINDS = ('depth', 'normals', 'labels')
DEPTH_ENCODINGS = ('log', 'linear')


class ModelSpecError(ValueError):
    """A sidecar is missing, malformed, or does not match its model file."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What the network takes: one NCHW float32 image tensor."""

    name: str
    height: int
    width: int
    color_order: str = 'rgb'
    scale: float = 1.0 / 255.0
    mean: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: Tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """One network output: a map of `channels` x `height` x `width` on the output grid."""

    name: str
    kind: str
    height: int
    width: int
    channels: int = 1
    encoding: str = 'linear'
    units: str = ''
    class_names: Tuple[str, ...] = ()
    class_colors: Tuple[Tuple[int, int, int], ...] = ()
    first_class_id: int = 0


@dataclasses.dataclass(frozen=True)
class OutputGrid:
    """
    Affine map from output pixel centres to network-input pixel centres, per axis.

    Network-input column = scale_x * output column + offset_x, and likewise for rows, with pixel
    centres at integer coordinates (the OpenCV and ROS convention).
    """

    scale_x: float
    offset_x: float
    scale_y: float
    offset_y: float


@dataclasses.dataclass(frozen=True)
class MetricScale:
    """
    How a depth output becomes metres for a given camera.

    Scheme 'canonical_focal': the network predicts depth as a camera with focal length
    ``canonical_focal_px`` (in network-input pixels) would see it. An object of size S at depth Z
    spans f S / Z pixels, so an image taken with focal length f (after the crop and resize to the
    network input) shows it as the canonical camera would at depth Z f_c / f; the metric depth is
    therefore the output times f / f_c. For cameras with fx != fy, f is sqrt(fx * fy).
    """

    scheme: str = 'canonical_focal'
    canonical_focal_px: float = 250.0

    def factor(self, input_focal_px: float) -> float:
        """Return metric depth / output depth for a network-input focal length in pixels."""
        return float(input_focal_px) / self.canonical_focal_px


def input_focal_px(fx: float, fy: float) -> float:
    """Return the one focal length of the canonical-focal scheme: sqrt(fx * fy), in pixels."""
    return float((fx * fy) ** 0.5)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the runtime needs to know about an exported network."""

    name: str
    onnx_file: str
    input: InputSpec  # noqa: A003 (the sidecar's JSON key; spec.input reads as the field it is)
    outputs: Dict[str, OutputSpec]
    output_grid: OutputGrid
    trained: bool
    onnx_sha256: str = ''
    depth_range: Tuple[float, float] = (1e-3, 100.0)
    model_config: Dict[str, Any] = dataclasses.field(default_factory=dict)
    git_revision: str = ''
    description: str = ''
    metric_scale: Optional[MetricScale] = None
    precision: str = 'fp32'
    parent_onnx_sha256: str = ''  # an int8 model: the sha256 of the FP32 file it was made from
    quantization: Dict[str, Any] = dataclasses.field(default_factory=dict)  # how, for int8
    path: Optional[Path] = None

    def output(self, kind: str) -> Optional[OutputSpec]:
        """Return the output of the given kind ('depth', 'normals', 'labels'), or None."""
        for out in self.outputs.values():
            if out.kind == kind:
                return out
        return None

    @property
    def onnx_path(self) -> Path:
        """Absolute path of the ONNX file, resolved next to the sidecar."""
        base = self.path.parent if self.path is not None else Path('.')
        return (base / self.onnx_file).resolve()

    def to_dict(self) -> Dict[str, Any]:
        """Return the JSON-serialisable form written to disk."""
        data = dataclasses.asdict(self)
        data.pop('path')
        if self.metric_scale is None:
            data.pop('metric_scale')
        # FP32 sidecars stay as they were before precisions existed.
        for key, default in (('precision', 'fp32'), ('parent_onnx_sha256', ''),
                             ('quantization', {})):
            if data[key] == default:
                data.pop(key)
        data['format'] = SIDECAR_FORMAT
        data['format_version'] = SIDECAR_VERSION if self.metric_scale is not None else 1
        return data

    def save(self, path: Path) -> None:
        """Write the sidecar as indented JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + '\n')


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _require(data: Dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise ModelSpecError(f'{where}: missing field "{key}"')
    return data[key]


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ModelSpecError(f'{where}: expected a positive integer, got {value!r}')
    return value


def _triple(value: Any, where: str) -> Tuple[float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ModelSpecError(f'{where}: expected three numbers, got {value!r}')
    return tuple(_number(v, where) for v in value)  # type: ignore[return-value]


def spec_from_dict(data: Dict[str, Any], path: Optional[Path] = None) -> ModelSpec:
    """Validate a parsed sidecar, build a ModelSpec; raise ModelSpecError naming the bad field."""
    where = str(path) if path is not None else 'sidecar'
    try:
        return _spec_from_dict(data, path, where)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        if isinstance(exc, ModelSpecError):
            raise
        raise ModelSpecError(
            f'{where}: a field has the wrong type or value ({type(exc).__name__}: '
            f'{exc}); compare it with a sidecar written by "ros2-depth-train export"'
        ) from exc


def _object(value: Any, where: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelSpecError(f'{where}: expected a JSON object, got {type(value).__name__}')
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelSpecError(f'{where}: expected a number, got {value!r}')
    return float(value)


def _spec_from_dict(data: Dict[str, Any], path: Optional[Path], where: str) -> ModelSpec:
    if data.get('format') != SIDECAR_FORMAT:
        raise ModelSpecError(
            f'{where}: not a ros2_depth model sidecar (format is {data.get("format")!r})'
        )
    version = data.get('format_version')
    if version not in SIDECAR_VERSIONS or isinstance(version, bool):
        raise ModelSpecError(
            f'{where}: sidecar format_version {version!r} is not supported '
            f'(this runtime reads versions {list(SIDECAR_VERSIONS)}); '
            'update ros2_depth or re-export the model with a matching trainer'
        )
    if data.get('metric_scale') is not None and version < 2:
        raise ModelSpecError(f'{where}: metric_scale needs format_version 2, got {version}')

    raw_in = _object(_require(data, 'input', where), where + ': input')
    std = _triple(raw_in.get('std', (1.0, 1.0, 1.0)), where + ': input.std')
    if min(std) <= 0:
        raise ModelSpecError(f'{where}: input.std must be positive, got {std}')
    color_order = raw_in.get('color_order', 'rgb')
    if color_order not in ('rgb', 'bgr'):
        raise ModelSpecError(
            f'{where}: input.color_order must be "rgb" or "bgr", got {color_order!r}'
        )
    inp = InputSpec(
        name=str(_require(raw_in, 'name', where + ': input')),
        height=_positive_int(
            _require(raw_in, 'height', where + ': input'), where + ': input.height'
        ),
        width=_positive_int(_require(raw_in, 'width', where + ': input'), where + ': input.width'),
        color_order=color_order,
        scale=_number(raw_in.get('scale', 1.0 / 255.0), where + ': input.scale'),
        mean=_triple(raw_in.get('mean', (0.0, 0.0, 0.0)), where + ': input.mean'),
        std=std,
    )
    if inp.scale <= 0:
        raise ModelSpecError(f'{where}: input.scale must be positive, got {inp.scale}')

    outputs: Dict[str, OutputSpec] = {}
    raw_outputs = _require(data, 'outputs', where)
    if not isinstance(raw_outputs, dict) or not raw_outputs:
        raise ModelSpecError(f'{where}: "outputs" must be a non-empty object')
    for key, raw in raw_outputs.items():
        owhere = f'{where}: outputs.{key}'
        raw = _object(raw, owhere)
        kind = _require(raw, 'kind', owhere)
        if kind not in OUTPUT_KINDS:
            raise ModelSpecError(f'{owhere}.kind must be one of {OUTPUT_KINDS}, got {kind!r}')
        encoding = raw.get('encoding', 'linear')
        if kind == 'depth' and encoding not in DEPTH_ENCODINGS:
            raise ModelSpecError(
                f'{owhere}.encoding must be one of {DEPTH_ENCODINGS}, got {encoding!r}'
            )
        channels = _positive_int(raw.get('channels', 1), owhere + '.channels')
        if kind == 'depth' and channels != 1:
            raise ModelSpecError(f'{owhere}: a depth output has 1 channel, not {channels}')
        if kind == 'normals' and channels != 3:
            raise ModelSpecError(f'{owhere}: a normals output has 3 channels, not {channels}')
        outputs[key] = OutputSpec(
            name=str(_require(raw, 'name', owhere)),
            kind=kind,
            height=_positive_int(_require(raw, 'height', owhere), owhere + '.height'),
            width=_positive_int(_require(raw, 'width', owhere), owhere + '.width'),
            channels=channels,
            encoding=encoding,
            units=str(raw.get('units', '')),
            **_class_table(raw, kind, channels, owhere),
        )
    shapes = {(o.height, o.width) for o in outputs.values()}
    if len(shapes) != 1:
        raise ModelSpecError(
            f'{where}: all outputs must share one grid, got sizes {sorted(shapes)}'
        )

    raw_grid = _require(data, 'output_grid', where)
    try:
        grid = OutputGrid(
            **{k: float(raw_grid[k]) for k in ('scale_x', 'offset_x', 'scale_y', 'offset_y')}
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelSpecError(
            f'{where}: output_grid needs numbers scale_x, offset_x, scale_y, offset_y ({exc})'
        )
    if grid.scale_x <= 0 or grid.scale_y <= 0:
        raise ModelSpecError(f'{where}: output_grid scales must be positive')

    raw_range = data.get('depth_range', (1e-3, 100.0))
    if not isinstance(raw_range, (list, tuple)) or len(raw_range) != 2:
        raise ModelSpecError(f'{where}: depth_range must be [min, max], got {raw_range!r}')
    depth_range = tuple(_number(v, where + ': depth_range') for v in raw_range)
    if not 0 <= depth_range[0] < depth_range[1]:
        raise ModelSpecError(f'{where}: depth_range must be [min, max] with 0 <= min < max')

    precision = data.get('precision', 'fp32')
    if precision not in MODEL_PRECISIONS:
        raise ModelSpecError(f'{where}: precision must be one of {list(MODEL_PRECISIONS)}, '
                             f'got {precision!r}')
    parent = str(data.get('parent_onnx_sha256', ''))
    if precision == 'int8' and not parent:
        raise ModelSpecError(f'{where}: an int8 model must name its FP32 parent '
                             '(parent_onnx_sha256); re-make it with "ros2-depth-train quantize"')

    return ModelSpec(
        precision=precision,
        parent_onnx_sha256=parent,
        quantization=dict(_object(data.get('quantization', {}), where + ': quantization')),
        metric_scale=_metric_scale(data.get('metric_scale'), where),
        name=str(_require(data, 'name', where)),
        onnx_file=str(_require(data, 'onnx_file', where)),
        input=inp,
        outputs=outputs,
        output_grid=grid,
        trained=bool(_require(data, 'trained', where)),
        onnx_sha256=str(data.get('onnx_sha256', '')),
        depth_range=depth_range,  # type: ignore[arg-type]
        model_config=dict(data.get('model_config', {})),
        git_revision=str(data.get('git_revision', '')),
        description=str(data.get('description', '')),
        path=path,
    )


def _class_table(raw: Dict[str, Any], kind: str, channels: int, where: str) -> Dict[str, Any]:
    """Check a labels output's class names, colours and first class id against its channels."""
    names = raw.get('class_names', ())
    colors = raw.get('class_colors', ())
    first = raw.get('first_class_id', 0)
    if not isinstance(names, (list, tuple)) or not isinstance(colors, (list, tuple)):
        raise ModelSpecError(f'{where}: class_names and class_colors must be lists')
    if not isinstance(first, int) or isinstance(first, bool) or first < 0:
        raise ModelSpecError(f'{where}.first_class_id must be a non-negative integer')
    if kind == 'labels':
        # Channel k scores class id first_class_id + k; names and colours are indexed by id.
        if first + channels > 256:
            raise ModelSpecError(f'{where}: class ids up to {first + channels - 1} do not fit '
                                 'a mono8 image')
        for what, table in (('class_names', names), ('class_colors', colors)):
            if table and len(table) != first + channels:
                raise ModelSpecError(
                    f'{where}: {len(table)} {what} for {channels} channels starting at class '
                    f'id {first} (expected {first + channels}, indexed by class id)')
    parsed_colors = []
    for color in colors:
        if (not isinstance(color, (list, tuple)) or len(color) != 3
                or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255
                           for c in color)):
            raise ModelSpecError(f'{where}: class colours must be [r, g, b] in 0..255, '
                                 f'got {color!r}')
        parsed_colors.append(tuple(color))
    return {'class_names': tuple(str(c) for c in names), 'class_colors': tuple(parsed_colors),
            'first_class_id': first}


def _metric_scale(raw: Any, where: str) -> Optional[MetricScale]:
    """Parse the optional metric_scale block."""
    if raw is None:
        return None
    raw = _object(raw, where + ': metric_scale')
    scheme = raw.get('scheme')
    if scheme not in METRIC_SCALE_SCHEMES:
        raise ModelSpecError(f'{where}: metric_scale.scheme must be one of '
                             f'{list(METRIC_SCALE_SCHEMES)}, got {scheme!r}')
    focal = _number(_require(raw, 'canonical_focal_px', where + ': metric_scale'),
                    where + ': metric_scale.canonical_focal_px')
    if not focal > 0 or focal == float('inf'):
        raise ModelSpecError(f'{where}: metric_scale.canonical_focal_px must be positive, '
                             f'got {focal}')
    return MetricScale(scheme=scheme, canonical_focal_px=focal)


def load_spec(path: Path, verify_hash: bool = True) -> ModelSpec:
    """Read and validate a sidecar; with verify_hash, require and check the ONNX file's SHA-256."""
    path = Path(path)
    if path.suffix == '.onnx':
        path = path.with_suffix('.json')
    if not path.is_file():
        raise ModelSpecError(
            f'model sidecar {path} does not exist; pass the .json written by '
            '"ros2-depth-train export", or its .onnx with the .json beside it'
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelSpecError(f'{path}: cannot be read as JSON ({exc})') from exc
    if not isinstance(data, dict):
        raise ModelSpecError(f'{path}: expected a JSON object at the top level')
    spec = spec_from_dict(data, path.resolve())
    if not spec.onnx_path.is_file():
        raise ModelSpecError(f'{path}: its model file {spec.onnx_path} does not exist')
    if verify_hash and not spec.onnx_sha256:
        raise ModelSpecError(
            f'{path}: has no onnx_sha256, so {spec.onnx_path.name} cannot be checked against it '
            '(another network with the same inputs and outputs would load silently); re-export '
            'the model with "ros2-depth-train export", or write the file\'s sha256sum into '
            'the sidecar'
        )
    if verify_hash:
        actual = file_sha256(spec.onnx_path)
        if actual != spec.onnx_sha256:
            raise ModelSpecError(
                f'{spec.onnx_path} does not match its sidecar '
                f'(sha256 {actual[:12]}..., sidecar says {spec.onnx_sha256[:12]}...); '
                're-export the model so both come from one run'
            )
    return spec


def int8_sibling(sidecar: Path) -> Path:
    """Return where the INT8 model of an FP32 sidecar lies: ``NAME.json`` -> ``NAME.int8.json``."""
    sidecar = Path(sidecar)
    if sidecar.suffix == '.onnx':
        sidecar = sidecar.with_suffix('.json')
    return sidecar.with_name(sidecar.stem + INT8_SUFFIX + '.json')


def load_spec_for_precision(path: Path, precision: str = 'fp32') -> ModelSpec:
    """
    Load the model at ``path`` for a precision: 'int8' its INT8 sibling, the others it as it is.

    A model file that is itself INT8 is used as it is for 'int8' (and for 'fp32', since the
    file was chosen by path). An 'int8' request for an FP32 model without a sibling raises
    ModelSpecError with the command that makes one.
    """
    if precision not in PRECISIONS:
        raise ModelSpecError(f'precision must be one of {list(PRECISIONS)}, got {precision!r}')
    spec = load_spec(path)
    if precision != 'int8' or spec.precision == 'int8':
        return spec
    sibling = int8_sibling(spec.path)
    if not sibling.is_file():
        raise ModelSpecError(
            f'precision int8: there is no INT8 model beside {spec.path} (looked for '
            f'{sibling.name}); make one with "ros2-depth-train quantize --model {spec.path}", '
            'or set precision to fp32')
    int8 = load_spec(sibling)
    if int8.precision != 'int8' or int8.parent_onnx_sha256 != spec.onnx_sha256:
        raise ModelSpecError(
            f'{sibling} is not the INT8 model of {spec.path} (its precision is '
            f'{int8.precision}, its parent sha256 {int8.parent_onnx_sha256[:12] or "none"}..., '
            f'the model\'s {spec.onnx_sha256[:12]}...); re-make it with "ros2-depth-train '
            f'quantize --model {spec.path}"')
    return int8
