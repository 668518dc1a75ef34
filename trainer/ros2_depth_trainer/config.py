"""
Run configurations: typed dataclasses read from YAML files, with command-line overrides.

A run config (``trainer/configs/*.yaml``) has six sections: ``model``, ``data``, ``loss``,
``optim``, ``stages`` and ``train``; see ``docs/training.md`` for every key. A file may name a
``base`` file (relative to itself) whose settings it extends: mappings merge key by key, and
everything else (lists included) is replaced. Overrides such as ``optim.lr=0.01`` or
``stages.1.steps=500`` are applied to the merged mapping before it is checked, their values read
as YAML (``1e-3`` is a number, ``[55, 74]`` a list, ``null`` None).

Unknown keys and values of the wrong type are errors that name the offending key.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
import typing
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar

import yaml

T = TypeVar('T')

OPTIMIZERS = ('sgd', 'adam')
SCHEDULES = ('constant', 'step', 'cosine')
DEVICES = ('auto', 'cpu', 'cuda')
REDUCTIONS = ('image', 'batch')


class ConfigError(ValueError):
    """A run config is unreadable, has unknown keys or values of the wrong type."""


@dataclasses.dataclass
class ModelSection:
    """The network: a registered variant, with some of its config fields changed."""

    variant: str = 'light'
    overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    # Warm start: a trainer checkpoint (.pt) or an exported model (.onnx or its .json) whose
    # tensors initialise every parameter of the same name and shape (``warm_start``).
    init_from: Optional[str] = None


@dataclasses.dataclass
class DatasetConfig:
    """One dataset: a registered kind and the keyword arguments of its constructor."""

    kind: str = 'synthetic'
    args: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class DataConfig:
    """Training and validation data and how it is batched."""

    train: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    val: Optional[DatasetConfig] = None
    # An augmentation preset (data.augment.PRESETS): random per sample for training, the
    # centre crop for validation. None: the datasets' own settings.
    augment: Optional[str] = None
    batch_size: int = 8  # global: split evenly over the processes of a distributed run
    val_batch_size: int = 8
    num_workers: int = 0
    val_max_batches: int = 0  # 0: the whole validation set

    def __post_init__(self) -> None:
        """Reject impossible batch settings."""
        if self.batch_size < 1 or self.val_batch_size < 1:
            raise ConfigError('data.batch_size and data.val_batch_size must be positive')
        if self.num_workers < 0 or self.val_max_batches < 0:
            raise ConfigError('data.num_workers and data.val_max_batches must be >= 0')


@dataclasses.dataclass
class LossConfig:
    """Weights and settings of the loss terms (a term with weight 0 is not computed)."""

    depth_weight: float = 1.0
    scale_invariance: float = 0.5  # lambda of the scale-invariant loss: 0, 0.5 or 1
    gradient_weight: float = 1.0  # the 2015 gradient term; 0 gives the 2014 loss
    normals_weight: float = 1.0  # the authors train normals with 10 x the loss
    labels_weight: float = 1.0
    reduction: str = 'image'  # 'image': mean of per-image losses; 'batch': the authors' code
    # The authors' depth units: their targets are ln(metres) / sigma (``divide_std_depths``,
    # sigma 0.45723134 on NYU), so their depth terms are 1 / sigma^2 times those on ln(metres).
    # None: plain ln(metres).
    log_depth_std: Optional[float] = None

    def __post_init__(self) -> None:
        """Reject negative weights, an impossible lambda and unknown reductions."""
        if self.log_depth_std is not None and not self.log_depth_std > 0:
            raise ConfigError('loss.log_depth_std must be positive (or null)')
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and value < 0:
                raise ConfigError(f'loss.{field.name} must be >= 0')
        if self.scale_invariance > 1:
            raise ConfigError('loss.scale_invariance (lambda) must be in [0, 1]')
        if self.reduction not in REDUCTIONS:
            raise ConfigError(f'loss.reduction must be one of {REDUCTIONS}')


@dataclasses.dataclass
class ParamGroupConfig:
    """Parameters (glob patterns over ``named_parameters`` names) sharing an lr and decay."""

    name: str
    params: List[str]
    lr: Optional[float] = None  # None: optim.lr
    weight_decay: Optional[float] = None  # None: optim.weight_decay

    def __post_init__(self) -> None:
        """Reject empty groups and negative rates."""
        if not self.params:
            raise ConfigError(f'parameter group {self.name!r} has no patterns')
        if (self.lr is not None and self.lr < 0) or (
                self.weight_decay is not None and self.weight_decay < 0):
            raise ConfigError(f'parameter group {self.name!r}: lr and weight_decay must be >= 0')


@dataclasses.dataclass
class OptimConfig:
    """The optimiser, and the per-layer learning rates and weight decay of the papers."""

    name: str = 'sgd'
    lr: float = 0.001
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD
    betas: Tuple[float, float] = (0.9, 0.999)  # Adam
    lr_scale: float = 1.0  # multiplies every group's learning rate
    grad_clip: float = 0.0  # max global gradient norm; 0: no clipping
    groups: List[ParamGroupConfig] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        """Check the optimiser name and that group names are distinct."""
        if self.name not in OPTIMIZERS:
            raise ConfigError(f'optim.name must be one of {OPTIMIZERS}, got {self.name!r}')
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ConfigError(f'optim.groups names must be distinct, got {names}')
        if self.lr < 0 or self.weight_decay < 0 or self.lr_scale < 0 or self.grad_clip < 0:
            raise ConfigError('optim.lr, weight_decay, lr_scale and grad_clip must be >= 0')


@dataclasses.dataclass
class ScheduleConfig:
    """A learning-rate multiplier over the steps of one stage."""

    kind: str = 'constant'
    milestones: List[int] = dataclasses.field(default_factory=list)  # 'step': stage steps
    gamma: float = 0.1  # 'step': factor at each milestone
    min_factor: float = 0.0  # 'cosine': the multiplier reached at the stage's end
    warmup_steps: int = 0  # linear ramp from 0 at the start of the stage

    def __post_init__(self) -> None:
        """Check the schedule kind and its numbers."""
        if self.kind not in SCHEDULES:
            raise ConfigError(f'schedule kind must be one of {SCHEDULES}, got {self.kind!r}')
        if self.warmup_steps < 0 or any(m < 0 for m in self.milestones):
            raise ConfigError('schedule warmup_steps and milestones must be >= 0')


@dataclasses.dataclass
class StageConfig:
    """
    One training stage: which parameters train, for how many steps, at which rates.

    ``train`` lists glob patterns of the parameters that train; every other parameter is
    frozen. ``output`` names the model output the loss is computed on ('final', or e.g.
    'scale2' / 'coarse' for the first stage of the papers). ``eval_modules`` lists module-name
    patterns kept in eval mode (the dropout of a frozen coarse network). ``lr`` sets a
    learning rate per parameter group, ``lr_scale`` scales them all. ``output_crop`` (h, w)
    computes the loss on a random crop of the output grid per sample (the 2015 scale-3 stage).
    """

    name: str
    steps: int
    train: List[str] = dataclasses.field(default_factory=lambda: ['*'])
    output: str = 'final'
    eval_modules: List[str] = dataclasses.field(default_factory=list)
    lr: Dict[str, float] = dataclasses.field(default_factory=dict)
    lr_scale: float = 1.0
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    output_crop: Optional[List[int]] = None

    def __post_init__(self) -> None:
        """Check the step count, the patterns and the crop size."""
        if self.steps < 1:
            raise ConfigError(f'stage {self.name!r}: steps must be positive')
        if not self.train:
            raise ConfigError(f'stage {self.name!r}: train lists no parameters')
        if self.output_crop is not None and (
                len(self.output_crop) != 2 or min(self.output_crop) < 1):
            raise ConfigError(f'stage {self.name!r}: output_crop must be [height, width]')
        if any(m >= self.steps for m in self.schedule.milestones):
            raise ConfigError(f'stage {self.name!r}: schedule milestones must be < steps')


@dataclasses.dataclass
class TrainConfig:
    """Seeds, device, precision and how often to log, validate and checkpoint."""

    seed: int = 0
    device: str = 'auto'  # auto: cuda when available; 'cuda:1' picks a GPU
    amp: bool = True  # mixed precision (float16 autocast + GradScaler), on CUDA only
    log_every: int = 10
    val_every: int = 500  # 0: at the end of each stage only
    image_every: int = 1000  # TensorBoard pictures; 0: never
    checkpoint_every: int = 1000  # 0: only at the end
    find_unused_parameters: bool = False  # DDP, for heads that get no loss
    # Steps between checks for a non-finite loss (0: every log_every steps). The check is the
    # only host sync it adds, and it stops every process at the same step; a checkpoint or
    # validation step is always checked first.
    finite_check_every: int = 0

    def __post_init__(self) -> None:
        """Check the device and the intervals."""
        if self.device.split(':')[0] not in DEVICES:
            raise ConfigError(f'train.device must be auto, cpu, cuda or cuda:N, '
                              f'got {self.device!r}')
        if self.log_every < 1:
            raise ConfigError('train.log_every must be positive')
        if min(self.val_every, self.image_every, self.checkpoint_every,
               self.finite_check_every) < 0:
            raise ConfigError('train intervals must be >= 0')


@dataclasses.dataclass
class RunConfig:
    """Everything that defines a training run; saved in its checkpoints and output folder."""

    model: ModelSection = dataclasses.field(default_factory=ModelSection)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    stages: List[StageConfig] = dataclasses.field(
        default_factory=lambda: [StageConfig(name='all', steps=1000)])
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        """Check that stage names are distinct and refer to existing parameter groups."""
        if not self.stages:
            raise ConfigError('stages must list at least one stage')
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f'stage names must be distinct, got {names}')
        groups = {g.name for g in self.optim.groups} or {'all'}
        for stage in self.stages:
            unknown = sorted(set(stage.lr) - groups)
            if unknown:
                raise ConfigError(f'stage {stage.name!r}: lr names unknown parameter groups '
                                  f'{unknown}; groups: {sorted(groups)}')

    @property
    def total_steps(self) -> int:
        """Return the number of optimiser steps over all stages."""
        return sum(s.steps for s in self.stages)

    def to_dict(self) -> Dict[str, Any]:
        """Return plain data (dicts, lists, numbers, strings) that ``from_dict`` reads back."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    """Turn tuples into lists, recursively, so the dict is plain YAML/JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _convert(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against the type ``hint`` and convert it (e.g. '1e-3' to a float)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin is typing.Union:  # Optional[X]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{where}: expected a list, got {value!r}')
        return [_convert(v, args[0], f'{where}.{i}') for i, v in enumerate(value)]
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{where}: expected a list, got {value!r}')
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(value) != len(args):
            raise ConfigError(f'{where}: expected {len(args)} values, got {value!r}')
        return tuple(_convert(v, a, f'{where}.{i}') for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f'{where}: expected a mapping, got {value!r}')
        return {str(k): _convert(v, args[1], f'{where}.{k}') for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{where}: expected true or false, got {value!r}')
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{where}: expected an integer, got {value!r}')
        return value
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f'{where}: expected a number, got {value!r}')
        try:
            return float(value)  # PyYAML reads 1e-3 (no dot) as a string
        except (TypeError, ValueError):
            raise ConfigError(f'{where}: expected a number, got {value!r}') from None
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f'{where}: expected a string, got {value!r}')
        return value
    raise ConfigError(f'{where}: unsupported type {hint!r}')  # pragma: no cover


def from_dict(cls: Type[T], data: Any, where: str = 'config') -> T:
    """Build the dataclass ``cls`` from a mapping, checking keys and types recursively."""
    if not isinstance(data, Mapping):
        raise ConfigError(f'{where}: expected a mapping, got {data!r}')
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f'{where}: unknown keys {unknown}; known: {sorted(fields)}')
    kwargs = {name: _convert(value, hints[name], f'{where}.{name}')
              for name, value in data.items()}
    missing = [name for name, f in fields.items() if name not in kwargs
               and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f'{where}: missing keys {missing}')
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f'{where}: {exc}') from None


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> Dict[str, Any]:
    """Merge ``update`` into a copy of ``base``: mappings key by key, anything else replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(path: Path, _seen: Sequence[Path] = ()) -> Dict[str, Any]:
    """Read a config file, following its ``base`` chain, and return the merged mapping."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f'{path}: base files form a cycle')
    try:
        with open(path, encoding='utf-8') as stream:
            data = yaml.safe_load(stream)
    except OSError as exc:
        raise ConfigError(f'cannot read config {path}: {exc}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: invalid YAML ({exc})') from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: the top level must be a mapping')
    base = data.pop('base', None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f'{path}: base must be a file name')
    return merge(read_yaml(path.parent / base, tuple(_seen) + (path,)), data)


def parse_override(text: str) -> Tuple[List[str], Any]:
    """Split ``a.b.c=value`` into (['a', 'b', 'c'], value read as YAML)."""
    key, sep, raw = text.partition('=')
    keys = key.strip().split('.')
    if not sep or not all(keys):
        raise ConfigError(f'override {text!r} is not of the form key.subkey=value')
    try:
        value = yaml.safe_load(raw) if raw.strip() else ''
    except yaml.YAMLError as exc:
        raise ConfigError(f'override {text!r}: invalid YAML value ({exc})') from exc
    return keys, value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Return a copy of ``data`` with every ``key.path=value`` override set (lists by index)."""
    out = copy.deepcopy(dict(data))
    for text in overrides:
        keys, value = parse_override(text)
        node: Any = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = '.'.join(keys[:depth + 1])
            if isinstance(node, list):
                index = int(key) if key.lstrip('-').isdigit() else len(node)
                if not -len(node) <= index < len(node):
                    raise ConfigError(f'override {text!r}: {where} is not an index of a '
                                      f'list of {len(node)}')
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, {})
            else:
                raise ConfigError(f'override {text!r}: {".".join(keys[:depth])} is a value, '
                                  'not a section')
    return out


def run_config_from_dict(data: Mapping[str, Any],
                         overrides: Sequence[str] = ()) -> RunConfig:
    """Apply ``overrides`` to a mapping and build the checked RunConfig."""
    return from_dict(RunConfig, apply_overrides(data, overrides), 'config')


def load_config(path: Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML run config (with its base files) and apply command-line overrides."""
    try:
        return run_config_from_dict(read_yaml(path), overrides)
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None


def save_config(config: RunConfig, path: Path) -> None:
    """Write ``config`` as YAML that ``load_config`` reads back to an equal config."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding='utf-8')
