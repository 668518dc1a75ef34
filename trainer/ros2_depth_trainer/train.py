"""
The training loop: staged schedules, per-layer rates, exact resume, DDP, TensorBoard.

A run is a list of stages (see ``config.StageConfig``): each trains the parameters its patterns
match, with the rest frozen, for a number of optimiser steps, computing the loss on one model
output ('final', or the coarse / scale-2 output of the papers' first stage). Targets are taken
from the ground truth at exactly the network-input pixels of the output grid (``grid.scale * j +
grid.offset``, integers for these networks), so no target is ever interpolated. Images reach the
network normalised with the model config's mean and std.

Reproducibility: the data order and each sample's augmentation come from (seed, epoch, index)
(``distributed.ShardedSampler``), and checkpoints hold every random generator state, so a
resumed run repeats the loss curve of an uninterrupted one, and N processes on a global batch
repeat one process on it (models without dropout; with dropout, the masks differ per process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
from pathlib import Path
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from ros2_depth.metrics import depth_metrics
from ros2_depth_trainer import losses
from ros2_depth_trainer.checkpoint import (
    load_training_checkpoint, rng_state, save_training_checkpoint, set_rng_state, TrainingState)
from ros2_depth_trainer.config import (
    ConfigError, DatasetConfig, LossConfig, ModelSection, run_config_from_dict, RunConfig,
    save_config, StageConfig)
from ros2_depth_trainer.data import registry
from ros2_depth_trainer.distributed import (
    all_gather_objects, all_reduce_mean, all_reduce_min, barrier, DistInfo, init_distributed,
    is_initialized, SEED_KEY, SeededDataset, ShardedSampler, shutdown_distributed)
from ros2_depth_trainer.models import build_model, get_config, ModelConfig
from ros2_depth_trainer.models.eigen15 import OutputWindows
from ros2_depth_trainer.optim import (
    build_optimizer, build_scheduler, current_rates, matches, set_trainable)
import torch
from torch import nn, Tensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

_log = logging.getLogger(__name__)

FINAL_OUTPUT = 'final'
TARGET_KEYS = ('depth', 'normals', 'labels')
METRICS_FILE = 'metrics.jsonl'
CONFIG_FILE = 'config.yaml'
FINAL_CHECKPOINT = 'final.pt'
CHECKPOINT_DIR = 'checkpoints'
TENSORBOARD_DIR = 'tensorboard'
KEEP_CHECKPOINTS = 3
IMAGES_LOGGED = 4
CROP_SEED_SALT = 0x5EED  # separates the output-crop draws from the augmentation draws
NO_BAD_STEP = 2**62  # "no non-finite loss yet", above any step number


class TrainingError(RuntimeError):
    """Training cannot start or continue (bad data, a non-finite loss, a bad checkpoint)."""


@dataclasses.dataclass
class TrainResult:
    """What a finished run returns (on every process; ``history`` is filled on rank 0)."""

    output: Path
    final_checkpoint: Path
    step: int
    history: List[Dict[str, float]] = dataclasses.field(default_factory=list)
    validation: Dict[str, float] = dataclasses.field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Model, outputs and the output grid


def model_config(config: ModelSection) -> ModelConfig:
    """Return the network config of a run's model section: its variant with the overrides."""
    try:
        base = get_config(config.variant)
        return dataclasses.replace(base, **config.overrides) if config.overrides else base
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'model: {exc}') from None


def model_inputs(model: nn.Module) -> Tuple[str, ...]:
    """Return the batch keys ``model.forward`` takes after the image (semantic: depth, normals)."""
    names = list(inspect.signature(model.forward).parameters)[1:]
    return tuple(names)


def model_outputs(model: nn.Module, image: Tensor, extra: Sequence[Tensor], output: str,
                  windows: Optional[OutputWindows] = None) -> Dict[str, Tensor]:
    """
    Run ``model`` on a normalised batch and return the named output's maps by task.

    With ``windows`` (final output only), the maps of those output windows, computed from the
    matching input windows where the model can (``forward_windows``), else cut from the full
    maps.
    """
    if output == FINAL_OUTPUT:
        if windows is None:
            return model(image, *extra)
        if hasattr(model, 'forward_windows'):
            return model.forward_windows(image, *extra, windows=windows)
        return crop_maps(model(image, *extra), windows.offsets, windows.size)
    if windows is not None:
        raise ConfigError(f'output windows need the {FINAL_OUTPUT!r} output, not {output!r}')
    outputs = model.forward_outputs(image, *extra)
    if output not in outputs:
        raise ConfigError(f'{model.config.name} has no output {output!r}; it has '
                          f'{sorted(outputs) + [FINAL_OUTPUT]}')
    return outputs[output]


def output_grid(model: nn.Module, output: str) -> Any:
    """Return the AffineGrid (output pixel -> network-input pixel) of a model output."""
    try:
        return model.output_grid(output)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _integer(value: float, what: str) -> int:
    if abs(value - round(value)) > 1e-6:
        raise TrainingError(f'the output grid {what} {value} is not an integer; targets would '
                            'need interpolation')
    return int(round(value))


def grid_indices(grid: Any, out_size: Tuple[int, int],
                 in_size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    """Return the input rows and columns under the output pixels (integer grids only)."""
    rows = (_integer(grid.offset_y, 'row offset')
            + _integer(grid.scale_y, 'row scale') * torch.arange(out_size[0]))
    cols = (_integer(grid.offset_x, 'column offset')
            + _integer(grid.scale_x, 'column scale') * torch.arange(out_size[1]))
    if rows.min() < 0 or cols.min() < 0 or rows.max() >= in_size[0] or cols.max() >= in_size[1]:
        raise TrainingError(f'the output grid ({out_size[0]}x{out_size[1]}) falls outside the '
                            f'{in_size[0]}x{in_size[1]} input')
    return rows, cols


def sample_on_grid(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Pick the pixels (rows x cols) of the last two dimensions of ``x``, no interpolation."""
    rows = rows.to(x.device)
    cols = cols.to(x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def centre_crop(batch: Dict[str, Tensor], size: Tuple[int, int]) -> Dict[str, Tensor]:
    """Centre-crop the image and target maps to the network input (the papers' test crop)."""
    height, width = batch['image'].shape[-2:]
    if (height, width) == tuple(size):
        return batch
    if height < size[0] or width < size[1]:
        raise TrainingError(f'images are {height}x{width}, smaller than the network input '
                            f'{size[0]}x{size[1]}')
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    out = dict(batch)
    for key in ('image',) + TARGET_KEYS:
        if key in out:
            out[key] = out[key][..., top:top + size[0], left:left + size[1]]
    return out


def canonical_depth(batch: Dict[str, Tensor], canonical_focal: Optional[float]
                    ) -> Dict[str, Tensor]:
    """
    Return the batch with depth as a camera of focal ``canonical_focal`` would see it.

    Each sample's depth is multiplied by canonical_focal / sqrt(fx * fy) of its (augmented)
    intrinsics at the network input: the camera-aware metric scale of
    ``ros2_depth.model_spec.MetricScale``, undone by the runtime with the camera_info's focal
    length. Invalid depth (0) stays 0. Without ``canonical_focal`` the batch is returned as is.
    """
    if canonical_focal is None or 'depth' not in batch:
        return batch
    if 'intrinsics' not in batch:
        raise TrainingError('the model predicts depth in a canonical camera (canonical_focal) '
                            'but the data has no intrinsics to convert its depth with')
    intrinsics = batch['intrinsics'].to(torch.float64)
    focal = torch.sqrt(intrinsics[:, 0] * intrinsics[:, 1])
    if not bool((focal > 0).all()):
        raise TrainingError(f'focal lengths must be positive, got {focal.tolist()}')
    factor = (canonical_focal / focal).to(batch['depth'].dtype).reshape(-1, 1, 1, 1)
    return dict(batch, depth=batch['depth'] * factor)


def check_augment_scale(model_cfg: Any, preset: Any, where: str = 'data.augment') -> None:
    """
    Refuse a canonical-camera model with an augmentation that divides depth by its zoom.

    ``preset`` is a preset name or an ``AugmentConfig`` (None: no augmentation); ``where``
    names the config entry in the error.
    """
    if getattr(model_cfg, 'canonical_focal', None) is None or preset is None:
        return
    from ros2_depth_trainer.data import augment

    aug = augment.resolve_config(preset)
    zooms = aug.scale_range != (1.0, 1.0)
    if zooms and aug.depth_follows_scale:
        raise ConfigError(f'{where} {preset!r} divides depth by its zoom factor (Eigen '
                          "2014's trick for an unknown camera), but the model's canonical_focal "
                          'already accounts for the zoom through the focal length: use a preset '
                          'with depth_follows_scale false, e.g. synthetic_robust')


def check_run_augment_scale(config: RunConfig) -> None:
    """Apply ``check_augment_scale`` to data.augment and to any dataset's own augment."""
    model_cfg = model_config(config.model)
    check_augment_scale(model_cfg, config.data.augment)
    for name in ('train', 'val'):
        dataset = getattr(config.data, name)
        if dataset is not None and dataset.args.get('augment') is not None:
            check_augment_scale(model_cfg, dataset.args['augment'], f'data.{name}.args.augment')


class StageNet(nn.Module):
    """
    Normalise the [0, 1] RGB batch with the model's mean/std, return one model output.

    Label logits with a score channel for "unlabelled" (the semantic model's channel 0) are
    returned without it, so that channel k - 1 scores class k as ``losses.labels_loss`` expects.
    """

    def __init__(self, model: nn.Module, output: str) -> None:
        """Wrap ``model``, returning its output named ``output``."""
        super().__init__()
        self.model = model
        self.output = output
        self.inputs = model_inputs(model)
        config = model.config
        num_classes = getattr(config, 'num_classes', None)
        self.drop_unlabelled = (num_classes is not None
                                and config.task_channels.get('labels') == num_classes + 1)
        self.register_buffer('mean', torch.tensor(config.mean).reshape(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(config.std).reshape(1, 3, 1, 1),
                             persistent=False)

    def forward(self, image: Tensor, *extra: Tensor,
                windows: Optional[OutputWindows] = None) -> Dict[str, Tensor]:
        """Map RGB in [0, 1] (N, 3, H, W) (and the model's other inputs) to the output's maps."""
        outputs = model_outputs(self.model, (image - self.mean) / self.std, extra, self.output,
                                windows)
        if self.drop_unlabelled and 'labels' in outputs:
            outputs = dict(outputs, labels=outputs['labels'][:, 1:])
        return outputs

    def batch_inputs(self, batch: Mapping[str, Tensor]) -> List[Tensor]:
        """Return the image and the model's other inputs from a batch."""
        missing = [key for key in self.inputs if key not in batch]
        if missing:
            raise TrainingError(f'{self.model.config.name} needs {list(missing)} as inputs; '
                                'the data does not provide them')
        return [batch['image']] + [batch[key] for key in self.inputs]


# ----------------------------------------------------------------------------------------------
# Targets, crops and the loss


def targets_on_grid(batch: Mapping[str, Tensor], rows: Tensor,
                    cols: Tensor) -> Dict[str, Tensor]:
    """Return the batch's depth, normals and labels at the output grid's pixels."""
    return {key: sample_on_grid(batch[key], rows, cols) for key in TARGET_KEYS if key in batch}


def crop_offsets(seeds: Tensor, size: Tuple[int, int],
                 crop: Sequence[int]) -> List[Tuple[int, int]]:
    """Return a (top, left) per sample for a crop of ``crop`` in ``size``, from its seed."""
    if crop[0] > size[0] or crop[1] > size[1]:
        raise ConfigError(f'output_crop {list(crop)} exceeds the output grid {list(size)}')
    offsets = []
    for seed in seeds.tolist():
        generator = torch.Generator().manual_seed((seed + CROP_SEED_SALT) % 2**63)
        top = int(torch.randint(size[0] - crop[0] + 1, (1,), generator=generator))
        left = int(torch.randint(size[1] - crop[1] + 1, (1,), generator=generator))
        offsets.append((top, left))
    return offsets


def crop_maps(maps: Mapping[str, Tensor], offsets: Sequence[Tuple[int, int]],
              crop: Sequence[int]) -> Dict[str, Tensor]:
    """Crop every (N, ..., H, W) map per sample at its offset."""
    out = {}
    for key, value in maps.items():
        out[key] = torch.stack([value[b, ..., top:top + crop[0], left:left + crop[1]]
                                for b, (top, left) in enumerate(offsets)])
    return out


def compute_losses(outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                   config: LossConfig) -> Dict[str, Tensor]:
    """
    Return the weighted loss terms and their sum, under 'total'.

    A term is computed where the model predicts the task, the batch has its ground truth and
    its weight is positive. Predictions are cast to float32 first (mixed precision). With
    ``log_depth_std`` sigma, the depth terms are those of ln(depth) / sigma (the authors' units):
    both are quadratic in the log difference, so each is divided by sigma^2.
    """
    terms: Dict[str, Tensor] = {}
    if 'depth' in outputs and 'depth' in targets and config.depth_weight > 0:
        pred = outputs['depth'].float()
        unit = 1.0 if config.log_depth_std is None else config.log_depth_std ** -2
        terms['depth'] = config.depth_weight * unit * losses.scale_invariant_loss(
            pred, targets['depth'], lam=config.scale_invariance, reduction=config.reduction)
        if config.gradient_weight > 0:
            terms['depth_gradient'] = config.gradient_weight * unit * losses.gradient_loss(
                pred, targets['depth'], reduction=config.reduction)
    if 'normals' in outputs and 'normals' in targets and config.normals_weight > 0:
        terms['normals'] = config.normals_weight * losses.normals_loss(
            outputs['normals'].float(), targets['normals'], reduction=config.reduction)
    if 'labels' in outputs and 'labels' in targets and config.labels_weight > 0:
        terms['labels'] = config.labels_weight * losses.labels_loss(
            outputs['labels'].float(), targets['labels'])
    if not terms:
        raise TrainingError(f'no loss term: the model predicts {sorted(outputs)}, the data has '
                            f'{sorted(targets)}')
    terms['total'] = sum(terms.values())  # type: ignore[assignment]
    return terms


# ----------------------------------------------------------------------------------------------
# Data


class SeededAugment:
    """
    The random training augmentation of a preset, drawn from torch's global generator.

    Under ``SeededDataset`` that generator is seeded per sample from (seed, epoch, index), so
    a sample's augmentation does not depend on the process, the worker or where a resumed run
    starts (the presets' own ``RandomTransform`` keeps one stream per process instead).
    """

    def __init__(self, preset: str) -> None:
        """Use the augmentation preset ``preset`` (``data.augment.PRESETS``)."""
        from ros2_depth_trainer.data import augment

        self.config = augment.resolve_config(preset)

    def __call__(self, sample: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Return a randomly augmented copy of ``sample``."""
        from ros2_depth_trainer.data import augment

        return augment.augment(sample, self.config, torch.default_generator)


def build_dataset(config: DatasetConfig, augment: Optional[str] = None,
                  train: bool = True) -> Dataset:
    """
    Build a dataset kind of ``data.registry`` (its class) with the config's keyword arguments.

    With an ``augment`` preset, the dataset gets ``transform=``: ``SeededAugment`` for
    training, the preset's centre crop otherwise.
    """
    if config.kind not in registry.train_kinds():
        raise ConfigError(f'unknown dataset kind {config.kind!r}; known: '
                          f'{registry.train_kinds()}')
    factory = registry.KINDS[config.kind].dataset_class()
    args = dict(config.args)
    if augment is not None:
        from ros2_depth_trainer.data.augment import CentreCrop

        if 'transform' in args or 'augment' in args:
            raise ConfigError(f'dataset {config.kind!r}: give data.augment or the '
                              'augment/transform argument of the dataset, not both')
        args['transform'] = SeededAugment(augment) if train else CentreCrop(augment)
    try:
        return factory(**args)
    except TypeError as exc:  # unknown or missing constructor arguments
        raise ConfigError(f'dataset {config.kind!r}: {exc}') from None
    except (OSError, ValueError) as exc:  # missing files, bad formats
        raise TrainingError(f'dataset {config.kind!r}: {exc}') from None


def _loader(dataset: Dataset, sampler: ShardedSampler, batch_size: int, num_workers: int,
            seed: int, pin_memory: bool, drop_last: bool) -> DataLoader:
    # The loader's own generator keeps creating iterators off the global torch stream.
    return DataLoader(SeededDataset(dataset), batch_size=batch_size, sampler=sampler,
                      num_workers=num_workers, drop_last=drop_last, pin_memory=pin_memory,
                      generator=torch.Generator().manual_seed(seed))


def to_device(batch: Mapping[str, Tensor], device: torch.device) -> Dict[str, Tensor]:
    """Move every tensor of a batch to ``device``."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v
            for k, v in batch.items()}


# ----------------------------------------------------------------------------------------------
# Validation and pictures


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Put every module in eval mode and no-grad, then restore each module's own mode."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training


def validate(net: StageNet, loader: DataLoader, config: RunConfig, device: torch.device,
             max_batches: int = 0) -> Dict[str, float]:
    """Return the mean loss and the per-image-averaged depth metrics of ``net`` on ``loader``."""
    with evaluation_mode(net.model):
        return _validate(net, loader, config, device, max_batches)


def _validate(net: StageNet, loader: DataLoader, config: RunConfig, device: torch.device,
              max_batches: int) -> Dict[str, float]:
    model = net.model
    input_size = (model.config.input_height, model.config.input_width)
    grid = output_grid(model, net.output)
    rows = cols = None
    loss_sum, batches = 0.0, 0
    per_image: Dict[str, List[float]] = {}
    for index, batch in enumerate(loader):
        if max_batches and index >= max_batches:
            break
        batch = canonical_depth(centre_crop(to_device(batch, device), input_size),
                                getattr(model.config, 'canonical_focal', None))
        outputs = net(*net.batch_inputs(batch))
        if rows is None:
            out_size = next(iter(outputs.values())).shape[-2:]
            rows, cols = grid_indices(grid, tuple(out_size), input_size)
        targets = targets_on_grid(batch, rows, cols)
        loss_sum += float(compute_losses(outputs, targets, config.loss)['total'])
        batches += 1
        if 'depth' in outputs and 'depth' in targets:
            pred = torch.exp(outputs['depth'].float()).cpu().numpy()
            gt = targets['depth'].cpu().numpy()
            for b in range(pred.shape[0]):
                try:
                    values = depth_metrics(pred[b, 0], gt[b, 0])
                except ValueError:  # no valid pixel in this image
                    continue
                for name, value in values.items():
                    per_image.setdefault(name, []).append(value)
    result = {name: float(np.mean(values)) for name, values in per_image.items()}
    if batches:
        result['loss'] = loss_sum / batches
    return result


def depth_pictures(image: Tensor, pred_log: Tensor, depth: Tensor) -> Tensor:
    """Return (N, 3, h, 3w) uint8 rows: RGB on the grid | prediction | truth (shared colours)."""
    from ros2_depth.demo.visualize import colorize_depth

    rows = []
    for rgb, pred, gt in zip(image, torch.exp(pred_log.float()), depth):
        gt_np = gt[0].cpu().numpy().astype(np.float32)
        gt_np[~(gt_np > 0)] = np.nan
        valid = gt_np[np.isfinite(gt_np)]
        near, far = (float(valid.min()), float(valid.max())) if valid.size else (0.1, 10.0)
        far = max(far, near + 1e-3)
        pictures = [colorize_depth(m, near, far)[..., ::-1] for m in (pred[0].cpu().numpy(),
                                                                      gt_np)]
        rgb_np = (rgb.permute(1, 2, 0).cpu().numpy().clip(0, 1) * 255).astype(np.uint8)
        rows.append(np.concatenate([rgb_np] + pictures, axis=1))
    return torch.from_numpy(np.stack(rows)).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------------
# The run


def resolve_device(name: str, info: DistInfo) -> torch.device:
    """Turn 'auto', 'cpu', 'cuda' or 'cuda:N' into a device (cuda:LOCAL_RANK under DDP)."""
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name.startswith('cuda'):
        if not torch.cuda.is_available():
            raise TrainingError(f'device {name!r} asked for, but CUDA is not available')
        if info.distributed:
            return torch.device('cuda', info.local_rank)
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_train_mode(model: nn.Module, stage: StageConfig) -> None:
    """Put the model in training mode except the modules the stage keeps in eval mode."""
    model.train()
    for name, module in model.named_modules():
        if name and matches(name, stage.eval_modules):
            module.eval()


def stage_bounds(config: RunConfig) -> List[Tuple[int, int]]:
    """Return each stage's [first, end) range of global steps."""
    bounds, start = [], 0
    for stage in config.stages:
        bounds.append((start, start + stage.steps))
        start += stage.steps
    return bounds


class _Run:
    """The state of one training process; ``run`` drives it (see ``train``)."""

    def __init__(self, config: RunConfig, output: Path, info: DistInfo, device: torch.device,
                 train_set: Dataset, val_set: Optional[Dataset]) -> None:
        self.config = config
        self.output = output
        self.info = info
        self.device = device
        self.amp = config.train.amp and device.type == 'cuda'
        data = config.data
        if data.batch_size % info.world_size:
            raise ConfigError(f'data.batch_size {data.batch_size} is not divisible by the '
                              f'{info.world_size} processes')
        self.local_batch = data.batch_size // info.world_size
        seed = config.train.seed
        self.sampler = ShardedSampler(len(train_set), info, seed)
        self.batches_per_epoch = len(self.sampler) // self.local_batch
        if self.batches_per_epoch < 1:
            raise TrainingError(f'{len(train_set)} training samples do not fill one batch of '
                                f'{data.batch_size}')
        pin = device.type == 'cuda'
        self.loader = _loader(train_set, self.sampler, self.local_batch, data.num_workers,
                              seed, pin, drop_last=True)
        self.val_loader = None
        if val_set is not None and info.is_main:
            val_sampler = ShardedSampler(len(val_set), DistInfo(), seed, shuffle=False)
            self.val_loader = _loader(val_set, val_sampler, data.val_batch_size,
                                      data.num_workers, seed, pin, drop_last=False)
        self.writer = None
        self.metrics_stream = None
        self.history: List[Dict[str, float]] = []
        self.saved: List[Path] = []

    # -- bookkeeping -----------------------------------------------------------------------

    def open_logs(self, step: int) -> None:
        if not self.info.is_main:
            return
        from torch.utils.tensorboard import SummaryWriter

        # A resumed run drops what an interrupted run logged after its checkpoint.
        self.writer = SummaryWriter(str(self.output / TENSORBOARD_DIR), purge_step=step or None)
        path = self.output / METRICS_FILE
        if path.exists():
            kept = [line for line in path.read_text(encoding='utf-8').splitlines()
                    if line.strip() and json.loads(line)['step'] <= step]
            path.write_text(''.join(line + '\n' for line in kept), encoding='utf-8')
        self.metrics_stream = open(path, 'a', encoding='utf-8')
        self.saved = sorted((self.output / CHECKPOINT_DIR).glob('step_*.pt'))

    def close_logs(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.metrics_stream is not None:
            self.metrics_stream.close()

    def record(self, kind: str, step: int, values: Mapping[str, float]) -> None:
        if not self.info.is_main:
            return
        entry = {'kind': kind, 'step': step, **values}
        if kind == 'train':
            self.history.append({'step': step, **values})
        self.metrics_stream.write(json.dumps(entry) + '\n')
        self.metrics_stream.flush()
        for name, value in values.items():
            self.writer.add_scalar(f'{kind}/{name}', value, step)

    def save(self, path: Path, model: nn.Module, state: Dict[str, Any]) -> None:
        """Gather every process's RNG state; rank 0 writes the checkpoint."""
        rng = all_gather_objects(rng_state())
        if not self.info.is_main:
            return
        scaler = state['scaler']
        training = TrainingState(
            step=state['step'], stage=state['stage'], epoch=state['epoch'],
            batch_in_epoch=state['batch_in_epoch'], world_size=self.info.world_size,
            run_config=self.config.to_dict(), optimizer=state['optimizer'].state_dict(),
            scheduler=state['scheduler'].state_dict(),
            scaler=None if scaler is None else scaler.state_dict(), rng=rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_training_checkpoint(path, model, training)
        _log.info('step %d: wrote %s', training.step, path)
        if path.parent.name == CHECKPOINT_DIR:
            if path in self.saved:
                self.saved.remove(path)
            self.saved.append(path)
            while len(self.saved) > KEEP_CHECKPOINTS:
                self.saved.pop(0).unlink(missing_ok=True)

    # -- the loop --------------------------------------------------------------------------

    def batches(self, epoch: int, start: int) -> Iterator[Dict[str, Tensor]]:
        self.sampler.set_epoch(epoch, start * self.local_batch)
        return iter(self.loader)

    def run(self, model: nn.Module, resume: Optional[TrainingState]) -> TrainResult:
        config = self.config
        input_size = (model.config.input_height, model.config.input_width)
        step = resume.step if resume else 0
        epoch = resume.epoch if resume else 0
        batch_in_epoch = resume.batch_in_epoch if resume else 0
        pending_rng = None
        if resume is not None:
            if resume.world_size == self.info.world_size and resume.rng:
                pending_rng = resume.rng[self.info.rank]
            else:
                # The data continues where it stopped (one global batch per step); only the
                # per-process streams (dropout) cannot be carried over.
                _log.warning('the checkpoint holds the random states of %d process(es), this '
                             'run has %d: the random streams restart from the seed',
                             len(resume.rng), self.info.world_size)
                seed_everything(config.train.seed + 1000 * self.info.rank + step)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        self.open_logs(step)
        progress = None
        redirect = contextlib.ExitStack()
        if self.info.is_main:
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            progress = tqdm(total=config.total_steps, initial=step, desc='train',
                            dynamic_ncols=True)
            redirect.enter_context(logging_redirect_tqdm())  # log lines above the bar
        iterator: Optional[Iterator[Dict[str, Tensor]]] = None
        validation: Dict[str, float] = {}
        stage_net = None
        state: Optional[Dict[str, Any]] = None
        first_bad = torch.full((), NO_BAD_STEP, dtype=torch.int64, device=self.device)
        try:
            for index, (stage, (first, end)) in enumerate(zip(config.stages,
                                                              stage_bounds(config))):
                if step >= end:
                    continue
                optimizer, scheduler, stage_net, net = self.start_stage(
                    model, index, stage, step, resume, scaler)
                set_train_mode(model, stage)
                grid = output_grid(model, stage.output)
                trained = [p for p in model.parameters() if p.requires_grad]
                if progress is not None:
                    progress.set_description(stage.name)
                _log.info('stage %s: steps %d-%d, output %r, training %d tensors (%d values)',
                          stage.name, first, end, stage.output, len(trained),
                          sum(p.numel() for p in trained))
                tick, tick_step = time.monotonic(), step
                while step < end:
                    if pending_rng is not None:
                        set_rng_state(pending_rng)
                        pending_rng = None
                    if iterator is None:
                        iterator = self.batches(epoch, batch_in_epoch)
                    batch = canonical_depth(
                        centre_crop(to_device(next(iterator), self.device), input_size),
                        getattr(model.config, 'canonical_focal', None))
                    terms, (rows, cols) = self.losses(net, stage_net, stage, batch, grid)
                    # Remember the first non-finite step on the device (no host sync here).
                    first_bad = torch.where(torch.isfinite(terms['total'].detach()), first_bad,
                                            torch.minimum(first_bad,
                                                          torch.full_like(first_bad, step + 1)))
                    rates = current_rates(optimizer)
                    self.update(terms['total'], optimizer, scheduler, scaler, trained)
                    step += 1
                    every = config.train
                    if self.finite_check_due(step, end):
                        self.check_finite(first_bad, step)
                    batch_in_epoch += 1
                    if batch_in_epoch >= self.batches_per_epoch:
                        epoch, batch_in_epoch, iterator = epoch + 1, 0, None

                    if step % config.train.log_every == 0 or step == end:
                        now = time.monotonic()
                        total = self.log_step(step, terms, rates,
                                              (now - tick) / (step - tick_step))
                        tick, tick_step = now, step
                        if progress is not None:
                            progress.set_postfix(loss=f'{total:.4f}')
                    if progress is not None:
                        progress.update(1)
                    state = {'step': step, 'stage': index, 'epoch': epoch,
                             'batch_in_epoch': batch_in_epoch, 'optimizer': optimizer,
                             'scheduler': scheduler, 'scaler': scaler if self.amp else None}
                    if self.val_loader is not None and (
                            (every.val_every and step % every.val_every == 0) or step == end):
                        validation = self.validate(stage_net, step)
                    if every.image_every and step % every.image_every == 0:
                        self.log_pictures(stage_net, batch, rows, cols, step)
                    if (every.checkpoint_every and step % every.checkpoint_every == 0
                            and step < config.total_steps):  # the last one is final.pt
                        self.save(self.output / CHECKPOINT_DIR / f'step_{step:08d}.pt', model,
                                  state)
            if stage_net is None:
                raise TrainingError(f'nothing to train: the checkpoint is at step {step}, the '
                                    "end of the run (raise a stage's steps to continue)")
            self.save(self.output / FINAL_CHECKPOINT, model, state)
        except KeyboardInterrupt:
            # Ctrl-C: keep what was trained as a resumable checkpoint (written atomically; at
            # most the step in flight is lost). With several processes a collective here could
            # hang, so they rely on the periodic checkpoints.
            if state is not None and self.info.world_size == 1:
                self.save(self.output / CHECKPOINT_DIR / f'step_{step:08d}.pt', model, state)
                _log.warning('interrupted at step %d; resume from %s', step,
                             self.output / CHECKPOINT_DIR / f'step_{step:08d}.pt')
            raise
        finally:
            redirect.close()
            if progress is not None:
                progress.close()
            self.close_logs()
        return TrainResult(output=self.output, final_checkpoint=self.output / FINAL_CHECKPOINT,
                           step=step, history=self.history, validation=validation)

    def finite_check_due(self, step: int, end: int) -> bool:
        """Return whether to check the loss at ``step``: the same answer on every process."""
        every = self.config.train
        interval = every.finite_check_every or every.log_every
        return (step % interval == 0 or step == end
                or any(n and step % n == 0 for n in (every.val_every, every.checkpoint_every)))

    def check_finite(self, first_bad: Tensor, step: int) -> None:
        """Raise TrainingError on every process if any process has had a non-finite loss."""
        bad = int(all_reduce_min(first_bad))  # the one host sync of the check
        if bad != NO_BAD_STEP:
            raise TrainingError(f'step {bad}: the loss is not finite (on at least one of '
                                f'{self.info.world_size} process(es)); stopped every process '
                                f'at step {step}')

    def start_stage(self, model: nn.Module, index: int, stage: StageConfig, step: int,
                    resume: Optional[TrainingState], scaler: torch.amp.GradScaler
                    ) -> Tuple[torch.optim.Optimizer, Any, StageNet, nn.Module]:
        """Freeze, build the optimiser and scheduler (restored when resuming), wrap for DDP."""
        first = stage_bounds(self.config)[index][0]
        set_trainable(model, stage.train)
        optimizer = build_optimizer(model, self.config.optim, stage)
        scheduler = build_scheduler(optimizer, stage)
        if resume is not None and resume.stage == index and step > first:
            optimizer.load_state_dict(resume.optimizer)
            scheduler.load_state_dict(resume.scheduler)
            if resume.scaler:
                scaler.load_state_dict(resume.scaler)
        elif step > first:
            raise TrainingError(f'the checkpoint (step {step}) has no optimiser state for stage '
                                f'{stage.name!r}')
        stage_net = StageNet(model, stage.output).to(self.device)
        net: nn.Module = stage_net
        if self.info.distributed:
            # Re-wrapped per stage: DDP hooks only the parameters that train when it is built.
            net = DistributedDataParallel(
                stage_net, device_ids=[self.device.index] if self.device.type == 'cuda' else None,
                find_unused_parameters=self.config.train.find_unused_parameters)
        return optimizer, scheduler, stage_net, net

    def losses(self, net: nn.Module, stage_net: StageNet, stage: StageConfig,
               batch: Mapping[str, Tensor], grid: Any
               ) -> Tuple[Dict[str, Tensor], Tuple[Tensor, Tensor]]:
        """
        Run the forward pass and return the loss terms and the grid's rows and columns.

        A stage with ``output_crop`` trains on one random window of the output grid per sample
        (the 2015 paper's scale-3 stage); models with ``forward_windows`` compute only that
        window.
        """
        input_size = tuple(batch['image'].shape[-2:])
        out_size = tuple(stage_net.model.output_size) if stage.output == FINAL_OUTPUT else None
        windows = None
        if stage.output_crop is not None:
            if out_size is None:
                raise ConfigError(f'stage {stage.name!r}: output_crop needs the '
                                  f'{FINAL_OUTPUT!r} output')
            windows = OutputWindows(crop_offsets(batch[SEED_KEY], out_size, stage.output_crop),
                                    tuple(stage.output_crop))
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            outputs = net(*stage_net.batch_inputs(batch), windows=windows)
        if windows is None:
            out_size = tuple(next(iter(outputs.values())).shape[-2:])
        rows, cols = grid_indices(grid, out_size, input_size)
        targets = targets_on_grid(batch, rows, cols)
        if windows is not None:
            targets = crop_maps(targets, windows.offsets, windows.size)
        return compute_losses(outputs, targets, self.config.loss), (rows, cols)

    def log_step(self, step: int, terms: Mapping[str, Tensor], rates: Mapping[str, float],
                 seconds_per_step: float) -> float:
        """Average the loss terms over the processes, record them; return the total."""
        values = {name: float(all_reduce_mean(value.detach())) for name, value in terms.items()}
        values.update({f'lr_{k}': v for k, v in rates.items()})
        values['seconds_per_step'] = seconds_per_step
        self.record('train', step, values)
        _log.debug('step %d: %s', step, values)
        return values['total']

    def update(self, loss: Tensor, optimizer: torch.optim.Optimizer, scheduler: Any,
               scaler: torch.amp.GradScaler, trained: Sequence[nn.Parameter]) -> None:
        """Back-propagate (scaled under mixed precision), clip, step and clear the gradients."""
        scaler.scale(loss).backward()
        if self.config.optim.grad_clip > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(trained, self.config.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    def validate(self, net: StageNet, step: int) -> Dict[str, float]:
        values = validate(net, self.val_loader, self.config, self.device,
                          self.config.data.val_max_batches)
        if values:
            self.record('val', step, values)
            _log.info('step %d: validation %s', step,
                      ', '.join(f'{k} {v:.4f}' for k, v in sorted(values.items())))
        return values

    def log_pictures(self, net: StageNet, batch: Mapping[str, Tensor], rows: Tensor,
                     cols: Tensor, step: int) -> None:
        """Log RGB | prediction | truth for the first images of a batch (whole output grid)."""
        if self.writer is None or 'depth' not in batch:
            return
        first = {key: value[:IMAGES_LOGGED] for key, value in batch.items()}
        with evaluation_mode(net.model):
            outputs = net(*net.batch_inputs(first))
        if 'depth' not in outputs:
            return
        pictures = depth_pictures(sample_on_grid(first['image'], rows, cols), outputs['depth'],
                                  sample_on_grid(first['depth'], rows, cols))
        self.writer.add_images('train/rgb_prediction_truth', pictures, step, dataformats='NCHW')


def train(config: RunConfig, output: Path, resume: Optional[Path] = None,
          train_set: Optional[Dataset] = None, val_set: Optional[Dataset] = None) -> TrainResult:
    """
    Train a model as ``config`` says, writing logs and checkpoints under ``output``.

    ``resume`` continues from a training checkpoint (weights, optimiser, scheduler, step, data
    position and random states). ``train_set`` / ``val_set`` replace the datasets of the config
    (tests, notebooks). Under ``torchrun`` each process calls this; rank 0 logs and writes.
    """
    output = Path(output)
    already_joined = is_initialized()
    info = init_distributed(resolve_device(config.train.device, DistInfo()).type)
    joined_here = info.distributed and not already_joined
    try:
        device = resolve_device(config.train.device, info)
        if device.type == 'cuda' and device.index is not None:
            torch.cuda.set_device(device)
        state = None
        weights = None
        if resume is not None:
            stored_model, weights, state = load_training_checkpoint(resume)
            wanted = model_config(config.model)
            if stored_model != wanted:
                raise TrainingError(f'{resume} holds a different model ({stored_model}) than '
                                    f'the config asks for ({wanted})')
        if info.is_main:
            if resume is None and (output / CONFIG_FILE).exists():
                _log.warning('%s holds an earlier run; its logs are replaced, its checkpoints '
                             'stay until overwritten', output)
            output.mkdir(parents=True, exist_ok=True)
            save_config(config, output / CONFIG_FILE)
        seed_everything(config.train.seed)
        check_run_augment_scale(config)
        model = build_model(model_config(config.model))
        if weights is not None:
            model.load_state_dict(weights)
        elif config.model.init_from:
            from ros2_depth_trainer.warm_start import warm_start, WarmStartError

            try:
                warm_start(model, config.model.init_from)
            except WarmStartError as exc:
                raise TrainingError(f'model.init_from: {exc}') from None
        model.to(device)
        # Per-process streams (dropout); the data streams come from the sampler's seeds.
        seed_everything(config.train.seed + 1000 * info.rank)
        if train_set is None:
            train_set = build_dataset(config.data.train, config.data.augment, train=True)
        if val_set is None and config.data.val is not None and info.is_main:
            val_set = build_dataset(config.data.val, config.data.augment, train=False)
        _log.info('training %s on %s: %d samples, %d steps in %d stage(s), batch %d on %d '
                  'process(es), device %s%s', model.config.name, config.data.train.kind,
                  len(train_set), config.total_steps, len(config.stages),
                  config.data.batch_size, info.world_size, device,
                  ', mixed precision' if config.train.amp and device.type == 'cuda' else '')
        started = time.monotonic()
        result = _Run(config, output, info, device, train_set, val_set).run(model, state)
        _log.info('finished at step %d in %.1f s; final checkpoint %s', result.step,
                  time.monotonic() - started, result.final_checkpoint)
        barrier()  # no process tears the group down while another still uses it
        return result
    finally:
        if joined_here:
            shutdown_distributed()


def resume_config(checkpoint: Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Return the run config stored in a training checkpoint, with ``overrides`` applied."""
    _, _, state = load_training_checkpoint(checkpoint)
    return run_config_from_dict(state.run_config, overrides)
