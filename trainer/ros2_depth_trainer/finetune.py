"""
Fine-tune a model on a user's own RGB-D recordings: train, score before and after, export, report.

``finetune`` starts from a model that ships its torch checkpoint (the bundled
``engines/default.pt`` by default), trains it on the training blocks of one or more recordings
(the ``recording`` dataset kind: rosbag2, TUM RGB-D, 7-Scenes, Open3D/Redwood folders or frame
lists), optionally mixed with generated scenes so that it stays general, scores the model before
and after on each recording's held-out block (the paper metrics, the Mean baseline and
median-scaled numbers), exports the result (ONNX, sidecar, checkpoint) and writes a report.

The recordings keep their own intrinsics, and a camera-aware model keeps learning depth in its
canonical camera (``train.canonical_depth``), so the exported model runs in the node as it is.
Recordings have depth only: their samples get empty normals and labels (0, which the losses
skip), so a batch can mix them with generated scenes that have all three tasks.

The run folder holds the options (``OPTIONS_FILE``), the training run (its config,
``checkpoints/``, ``final.pt``), ``after/N/`` (the evaluation of recording N: the Mean, the
start model and the result), ``model.onnx`` with its sidecar and checkpoint, and the report
(``REPORT_FILE``). Interrupted, it is resumed with the same folder; the model files are written
only at the end, each atomically.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
import shlex
from typing import Any, Dict, List, Optional

import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

_log = logging.getLogger(__name__)

OPTIONS_FILE = 'finetune.json'
REPORT_FILE = 'report.md'
MODEL_FILE = 'model.onnx'
DEFAULT_MIN_INTERVAL = 0.2  # seconds between the recorded frames used


class FinetuneError(RuntimeError):
    """Fine-tuning cannot start or continue; the message says why and what to do."""


@dataclasses.dataclass
class FinetuneOptions:
    """Everything that defines a fine-tuning run (saved as finetune.json in its folder)."""

    recordings: List[str]
    output: str
    start: Optional[str] = None  # checkpoint, or a sidecar/ONNX with its .pt beside it
    synthetic: List[str] = dataclasses.field(default_factory=list)  # generated folders
    synthetic_ratio: float = 0.0  # share of generated samples in the training data
    steps: int = 600
    batch_size: int = 8
    lr: float = 1e-4
    device: str = 'auto'
    num_workers: int = 2
    max_depth: Optional[float] = 10.0
    # Options of the ``recording`` kind (data.recording_sources.RecordingSourceDataset); frames
    # at least 0.2 s apart by default (near-duplicate video frames add time, not information).
    recording_args: Dict[str, Any] = dataclasses.field(
        default_factory=lambda: {'min_interval': DEFAULT_MIN_INTERVAL})
    eval_limit: Optional[int] = None  # frames of each held-out block scored (None: all)
    seed: int = 0

    def check(self) -> None:
        """Reject options that cannot run, with what to change."""
        if not self.recordings:
            raise FinetuneError('give at least one recording (a rosbag2 folder or file, or an '
                                'RGB-D folder or frame list)')
        if not 0.0 <= self.synthetic_ratio < 1.0:
            raise FinetuneError(f'--synthetic-ratio must be in [0, 1), got {self.synthetic_ratio}')
        if self.synthetic_ratio > 0 and not self.synthetic:
            raise FinetuneError('--synthetic-ratio needs --synthetic FOLDER (generated scenes, '
                                '"ros2-depth-train synth")')
        if self.steps < 1 or self.batch_size < 1 or not self.lr > 0:
            raise FinetuneError('--steps and --batch-size must be positive, and --lr above 0')


@dataclasses.dataclass
class FinetuneResult:
    """Where everything went, and the held-out abs rel before and after per recording."""

    output: Path
    model: Path
    report: Path
    before: Dict[str, Dict[str, float]]
    after: Dict[str, Dict[str, float]]


def start_checkpoint(start: Optional[str]) -> Path:
    """
    Return the torch checkpoint to start from.

    None: the bundled model's (``engines/default.pt``); a ``.pt``: itself; a sidecar ``.json``
    or an ``.onnx``: the ``.pt`` that ``export`` writes beside it.
    """
    if start is None:
        from ros2_depth.resources import default_model_path

        path = default_model_path().with_suffix('.pt')
    else:
        path = Path(start)
        if path.suffix in ('.json', '.onnx'):
            path = path.with_suffix('.pt')
    if not path.is_file():
        raise FinetuneError(f'{path} does not exist: fine-tuning starts from a torch checkpoint; '
                            'give --from a .pt, or a model exported from a checkpoint (its .pt '
                            'lies beside the .onnx)')
    return path


class WithAllTasks(Dataset):
    """A dataset whose samples get empty normals and labels where they have none."""

    def __init__(self, dataset: Dataset) -> None:
        """Wrap ``dataset`` (samples with 'image' and 'depth' at least)."""
        self.dataset = dataset

    def __len__(self) -> int:
        """Return the wrapped dataset's length."""
        return len(self.dataset)

    def __getitem__(self, item: int) -> Dict[str, torch.Tensor]:
        """Return the sample, with zero normals (3, H, W) and labels (H, W) added if missing."""
        sample = dict(self.dataset[item])
        height, width = sample['image'].shape[-2:]
        if 'normals' not in sample:
            sample['normals'] = torch.zeros(3, height, width)
        if 'labels' not in sample:
            sample['labels'] = torch.zeros(height, width, dtype=torch.int64)
        return sample


def synthetic_share(recorded: int, ratio: float) -> int:
    """Return how many generated samples make them ``ratio`` of the training data."""
    if ratio <= 0:
        return 0
    return max(1, int(round(recorded * ratio / (1.0 - ratio))))


def mixed_training_set(recorded: Dataset, synthetic: Optional[Dataset], ratio: float,
                       seed: int) -> Dataset:
    """
    Return the recordings' training samples with generated ones making up ``ratio`` of them.

    The generated samples are a fixed random subset (``seed``), so a resumed run sees the same
    data; both kinds carry all three tasks (``WithAllTasks``).
    """
    count = synthetic_share(len(recorded), ratio)
    if synthetic is None or count == 0:
        return recorded
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(synthetic), generator=generator).tolist()
    picks = [order[i % len(order)] for i in range(count)]  # repeats if it is too small
    return ConcatDataset([WithAllTasks(recorded), WithAllTasks(Subset(synthetic, picks))])


def save_options(options: FinetuneOptions, folder: Path) -> None:
    """Write the options as finetune.json into the run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OPTIONS_FILE).write_text(json.dumps(dataclasses.asdict(options), indent=2) + '\n',
                                       encoding='utf-8')


def load_options(folder: Path) -> FinetuneOptions:
    """Read the options of an earlier run from its folder."""
    path = Path(folder) / OPTIONS_FILE
    if not path.is_file():
        raise FinetuneError(f'{path} does not exist: --resume continues a run folder that '
                            '"ros2-depth-train finetune" started')
    try:
        return FinetuneOptions(**json.loads(path.read_text(encoding='utf-8')))
    except (TypeError, ValueError) as exc:
        raise FinetuneError(f'{path}: not a finetune options file ({exc})') from None


def command_line(options: FinetuneOptions) -> str:
    """Return the finetune command that reproduces ``options``."""
    words = ['ros2-depth-train', 'finetune', *options.recordings, '--output', options.output]
    if options.start is not None:
        words += ['--from', options.start]
    if options.synthetic:
        words += ['--synthetic', *options.synthetic,
                  '--synthetic-ratio', f'{options.synthetic_ratio:g}']
    defaults = FinetuneOptions(recordings=[], output='')
    for name, flag in (('steps', '--steps'), ('batch_size', '--batch-size'), ('lr', '--lr'),
                       ('device', '--device'), ('max_depth', '--max-depth'),
                       ('eval_limit', '--eval-limit'), ('seed', '--seed')):
        value = getattr(options, name)
        if value != getattr(defaults, name) and value is not None:
            words += [flag, f'{value:g}' if isinstance(value, float) else str(value)]
    interval = options.recording_args.get('min_interval', 0.0)
    if interval != DEFAULT_MIN_INTERVAL:
        words += ['--min-interval', f'{interval:g}']
    return ' '.join(shlex.quote(w) for w in words)


def run_config(options: FinetuneOptions, checkpoint: Path) -> Any:
    """
    Build the run config: the start model's own network, warm-started from its checkpoint.

    One stage trains every layer at the final output with Adam and a cosine decay; the losses
    are those of the run that made the start model (its run config travels in the checkpoint),
    so depth, normals and labels keep their weights.
    """
    from ros2_depth_trainer.checkpoint import load_checkpoint
    from ros2_depth_trainer.config import run_config_from_dict

    _, _, extra = load_checkpoint(checkpoint)
    # A training checkpoint keeps it under 'training', an exported one under 'trained_with'.
    stored = (extra.get('training') or extra.get('trained_with') or {}).get('run_config')
    if not isinstance(stored, dict):
        raise FinetuneError(f'{checkpoint} has no run config: export the model from a training '
                            'checkpoint ("ros2-depth-train export --checkpoint") and start from '
                            'the .pt it writes')
    base = run_config_from_dict(stored)
    groups = sorted({group for stage in base.stages for group in stage.train})
    # The last stage is the one that trained the final output: keep what it kept in eval mode.
    eval_modules = list(base.stages[-1].eval_modules)
    config = {
        'model': {'variant': base.model.variant, 'overrides': dict(base.model.overrides),
                  'init_from': str(checkpoint)},
        # What train logs and saves; finetune builds the (mixed) datasets itself.
        'data': {'train': {'kind': 'recording',
                           'args': {'paths': list(options.recordings), 'split': 'train',
                                    **recording_options(options)}},
                 'val': {'kind': 'recording',
                         'args': {'paths': list(options.recordings), 'split': 'val',
                                  **recording_options(options)}},
                 'augment': 'synthetic_robust', 'batch_size': options.batch_size,
                 'val_batch_size': options.batch_size, 'num_workers': options.num_workers,
                 'val_max_batches': 8},
        'loss': dataclasses.asdict(base.loss),
        'optim': {'name': 'adam', 'lr': options.lr},
        'stages': [{'name': 'finetune', 'steps': options.steps, 'output': 'final',
                    'train': groups, 'eval_modules': eval_modules,
                    'schedule': {'kind': 'cosine', 'min_factor': 0.05,
                                 'warmup_steps': min(20, options.steps // 10)}}],
        'train': {'seed': options.seed, 'device': options.device, 'amp': True,
                  'log_every': 10, 'val_every': max(50, options.steps // 4),
                  'image_every': 0, 'checkpoint_every': max(25, options.steps // 12)},
    }
    return run_config_from_dict(config)


def recording_options(options: FinetuneOptions) -> Dict[str, Any]:
    """Return the ``recording`` kind's options of a run (depth range, subsampling, ...)."""
    return {'max_depth': options.max_depth, **options.recording_args}


def recording_set(path: str, split: str, options: FinetuneOptions, train: bool) -> Dataset:
    """Return one recording's training or held-out block through the dataset registry."""
    from ros2_depth_trainer.config import DatasetConfig
    from ros2_depth_trainer.train import build_dataset

    args = {'paths': [path], 'split': split, **recording_options(options)}
    return build_dataset(DatasetConfig(kind='recording', args=args), 'synthetic_robust', train)


def training_sets(options: FinetuneOptions) -> Dataset:
    """Return the recordings' training blocks, mixed with generated scenes as asked."""
    from ros2_depth_trainer.config import DatasetConfig
    from ros2_depth_trainer.train import build_dataset

    recorded = [recording_set(path, 'train', options, train=True)
                for path in options.recordings]
    joined = recorded[0] if len(recorded) == 1 else ConcatDataset(recorded)
    synthetic = None
    if options.synthetic_ratio > 0:
        synthetic = build_dataset(DatasetConfig(kind='synthetic',
                                                args={'roots': list(options.synthetic)}),
                                  'synthetic_robust', train=True)
    return mixed_training_set(joined, synthetic, options.synthetic_ratio, options.seed)


def latest_checkpoint(folder: Path) -> Optional[Path]:
    """Return the newest resumable checkpoint of a run folder, or None."""
    from ros2_depth_trainer.train import CHECKPOINT_DIR

    found = sorted((folder / CHECKPOINT_DIR).glob('step_*.pt'))
    return found[-1] if found else None


def model_runner(path: Path, name: str, options: FinetuneOptions) -> Any:
    """
    Return an evaluation runner for a model, as the node runs it where possible.

    An exported model (the sidecar beside a checkpoint) runs on ONNX Runtime, exactly the file
    the node would load and faster than torch on a CPU; a bare checkpoint runs in torch.
    """
    from ros2_depth_trainer.evaluate import runner_from_checkpoint, runner_from_onnx

    sidecar = Path(path).with_suffix('.json')
    if sidecar.is_file() and Path(path).with_suffix('.onnx').is_file():
        return runner_from_onnx(sidecar, name=name)
    return runner_from_checkpoint(path, name=name, device=resolved_device(options))


def resolved_device(options: FinetuneOptions) -> str:
    """Return the device training runs on, as ``train`` resolves it ('auto': cuda if any)."""
    from ros2_depth_trainer.distributed import DistInfo
    from ros2_depth_trainer.train import resolve_device

    return str(resolve_device(options.device, DistInfo()))


def evaluate_recording(path: str, start: Path, model: Path, options: FinetuneOptions,
                       output: Path) -> Any:
    """Score the Mean baseline, the start model and the exported result on a held-out block."""
    from ros2_depth_trainer.data.registry import default_protocol
    from ros2_depth_trainer.evaluate import (dataset_mean_depth, evaluate, open_dataset,
                                             write_outputs)
    from ros2_depth_trainer.protocols import PROTOCOLS

    # The same blocks, subsampling and depth range as training, as evaluate's KEY=VALUE options.
    locations = [path] + [f'{key}={json.dumps(value)}'
                          for key, value in recording_options(options).items()]
    held_out = open_dataset('recording', locations, split='val')
    train_mean = dataset_mean_depth(open_dataset('recording', locations, split='train'),
                                    limit=200, progress=False)
    runners = [model_runner(start, 'before', options), model_runner(model, 'after', options)]
    protocol = PROTOCOLS[default_protocol('recording') or 'full']
    result = evaluate(held_out, runners, protocol, train_mean, dataset_name=path,
                      figure_rows=4, limit=options.eval_limit, median_scaling=True)
    write_outputs(result, output)
    return result


REPORT_ROWS = (('abs_rel', 'abs rel', False), ('sq_rel', 'sq rel', False),
               ('rmse', 'RMSE (m)', False), ('rmse_log', 'RMSE (log)', False),
               ('delta1', 'δ < 1.25', True), ('delta2', 'δ < 1.25²', True),
               ('delta3', 'δ < 1.25³', True))


def report_table(result: Any) -> str:
    """Return the depth numbers of one evaluation as a markdown table, the best in bold."""
    columns = [c for c in result.columns if c.depth]
    lines = ['| | ' + ' | '.join(c.name for c in columns) + ' |',
             '|---|' + '---|' * len(columns)]
    for key, label, higher in REPORT_ROWS:
        values = [c.depth.get(key) for c in columns]
        known = [v for v in values if v is not None]
        best = (max(known) if higher else min(known)) if known else None
        cells = ['–' if v is None else (f'**{v:.3f}**' if v == best else f'{v:.3f}')
                 for v in values]
        lines.append(f'| {label} {"↑" if higher else "↓"} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def write_report(options: FinetuneOptions, start: Path, results: Dict[str, Any],
                 folder: Path, model: Path, seconds: float) -> Path:
    """Write the report (``REPORT_FILE``): what ran, before/after per recording, commands."""
    lines = ['# Fine-tuning report', '',
             f'Started from `{start}`; {options.steps} steps of batch {options.batch_size}, '
             f'learning rate {options.lr:g}, on {resolved_device(options)} '
             f'({seconds / 60:.1f} minutes in all)'
             + (f'; {options.synthetic_ratio:.0%} of the training samples generated scenes '
                f'from {", ".join(options.synthetic)}' if options.synthetic_ratio > 0 else '')
             + '.', '',
             'Each recording is scored on its held-out block (the end of the recording, never '
             'trained on): **before** is the start model, **after** the fine-tuned one, '
             '**Mean** one constant depth (the mean of the training block). The median-scaled '
             'columns multiply each image by its median truth/prediction ratio: they show the '
             'layout apart from the scale. Lower is better for the errors, higher for δ.', '']
    for index, (path, result) in enumerate(results.items()):
        lines += [f'## {path}', '',
                  f'{result.num_images} held-out frames, protocol {result.protocol.name} '
                  f'(depth in ({result.protocol.min_depth:g}, {result.protocol.max_depth:g}) m).',
                  '', report_table(result), '']
        figure = Path('after') / str(index) / 'figure.png'
        if (folder / figure).is_file():
            lines += [f'![RGB, truth, before and after]({figure.as_posix()})', '']
    sidecar = model.with_suffix('.json')
    lines += ['## Commands', '', 'This run:', '', '```bash', command_line(options), '```', '',
              'Score it again, or on another recording:', '', '```bash',
              f'ros2-depth-train evaluate --data recording {shlex.quote(options.recordings[0])} '
              f'--train-data recording {shlex.quote(options.recordings[0])} --train-split train '
              f'--onnx {shlex.quote(str(sidecar))} --median-scaling --output eval/finetuned',
              '```', '', 'Run it in the node:', '', '```bash',
              f'ros2 run ros2_depth depth_node --ros-args -p model:={sidecar.resolve()} '
              '-r image:=<colour image topic> -r camera_info:=<its camera_info topic>', '```',
              '', 'or set `model:` in a copy of config/depth_node.yaml and pass it to '
              'depth.launch.py as `params_file:=` (docs/your_robot.md, "Deploy").', '']
    path = folder / REPORT_FILE
    path.write_text('\n'.join(lines), encoding='utf-8')
    return path


def finetune(options: FinetuneOptions, resume: bool = False) -> FinetuneResult:
    """
    Fine-tune, score before and after, export and report (module docstring).

    With ``resume``, continue the run in ``options.output`` from its newest checkpoint (or only
    redo what follows training, if it finished).
    """
    import time

    from ros2_depth_trainer.train import FINAL_CHECKPOINT, train

    options.check()
    folder = Path(options.output)
    if not resume and (folder / OPTIONS_FILE).exists():
        raise FinetuneError(f'{folder} holds a fine-tuning run already: continue it with '
                            f'"ros2-depth-train finetune --resume --output {folder}", or choose '
                            'another --output')
    start = start_checkpoint(options.start)
    config = run_config(options, start)
    save_options(options, folder)
    started = time.monotonic()
    final = folder / FINAL_CHECKPOINT
    if not (resume and final.is_file()):
        checkpoint = latest_checkpoint(folder) if resume else None
        if resume:
            _log.info('resuming from %s', checkpoint or 'the start (no checkpoint yet)')
        train(config, folder, resume=checkpoint, train_set=training_sets(options),
              val_set=ConcatDataset([recording_set(p, 'val', options, train=False)
                                     for p in options.recordings]))
    from ros2_depth_trainer.export import export_model

    model = folder / MODEL_FILE
    export_model(model, checkpoint=final)
    results = {}
    for index, path in enumerate(options.recordings):
        results[path] = evaluate_recording(path, start, model, options,
                                           folder / 'after' / str(index))
    report = write_report(options, start, results, folder, model, time.monotonic() - started)
    summary = {path: {'before': next(c.depth['abs_rel'] for c in r.columns if c.name == 'before'),
                      'after': next(c.depth['abs_rel'] for c in r.columns if c.name == 'after')}
               for path, r in results.items()}
    for path, values in summary.items():
        _log.info('%s: held-out abs rel %.3f before, %.3f after', path, values['before'],
                  values['after'])
    return FinetuneResult(output=folder, model=model, report=report,
                          before={p: {'abs_rel': v['before']} for p, v in summary.items()},
                          after={p: {'abs_rel': v['after']} for p, v in summary.items()})
