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
SIDECAR_VERSION = 1

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
        data['format'] = SIDECAR_FORMAT
        data['format_version'] = SIDECAR_VERSION
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
    if data.get('format_version') != SIDECAR_VERSION:
        raise ModelSpecError(
            f'{where}: sidecar format_version {data.get("format_version")!r} is not supported '
            f'(this runtime reads version {SIDECAR_VERSION}); '
            're-export the model with a matching trainer'
        )

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
            class_names=tuple(str(c) for c in raw.get('class_names', ())),
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

    return ModelSpec(
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


def load_spec(path: Path, verify_hash: bool = True) -> ModelSpec:
    """Read and validate a sidecar; with verify_hash, check the ONNX file's SHA-256 against it."""
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
    if verify_hash and spec.onnx_sha256:
        actual = file_sha256(spec.onnx_path)
        if actual != spec.onnx_sha256:
            raise ModelSpecError(
                f'{spec.onnx_path} does not match its sidecar '
                f'(sha256 {actual[:12]}..., sidecar says {spec.onnx_sha256[:12]}...); '
                're-export the model so both come from one run'
            )
    return spec
