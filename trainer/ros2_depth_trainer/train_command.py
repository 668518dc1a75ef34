"""`ros2-depth-train train`: train a model from a YAML run config (one process or torchrun)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = 'train a model from a YAML run config'
DESCRIPTION = (
    'Train a model as a run config (trainer/configs/*.yaml) says, with "--set key=value" '
    'overrides, writing the resolved config, TensorBoard logs, metrics.jsonl, checkpoints and '
    'final.pt (exportable with "ros2-depth-train export --checkpoint") under --output. '
    '--resume continues a run exactly where a checkpoint left it. For several GPUs, start it '
    'with "torchrun --nproc_per_node=N -m ros2_depth_trainer.cli train ...".')

_log = logging.getLogger('ros2_depth_trainer')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the train options."""
    parser.add_argument('--config', type=Path,
                        help='YAML run config (default with --resume: the one in the checkpoint)')
    parser.add_argument('--set', dest='overrides', action='append', default=[],
                        metavar='KEY=VALUE',
                        help='override a config value, e.g. optim.lr=0.01 or stages.1.steps=500 '
                             '(repeatable; values are read as YAML)')
    parser.add_argument('--resume', type=Path, metavar='CKPT',
                        help='training checkpoint to continue from')
    parser.add_argument('--output', type=Path, required=True,
                        help='run folder for logs and checkpoints, e.g. runs/NAME')
    parser.add_argument('--device',
                        help='cpu, cuda, cuda:N or auto (default: train.device of the config)')


def run(args: argparse.Namespace) -> int:
    """Train; return the exit status."""
    from ros2_depth_trainer.checkpoint import CheckpointError
    from ros2_depth_trainer.config import ConfigError, load_config
    from ros2_depth_trainer.distributed import env_info
    from ros2_depth_trainer.train import resume_config, train, TrainingError

    if not env_info().is_main:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 reports for everyone
    overrides = list(args.overrides)
    if args.device:
        overrides.append(f'train.device={args.device}')
    try:
        if args.config is not None:
            config = load_config(args.config, overrides)
        elif args.resume is not None:
            config = resume_config(args.resume, overrides)
        else:
            _log.error("give --config, or --resume to continue with the checkpoint's config")
            return 2
        result = train(config, args.output, resume=args.resume)
    except (ConfigError, CheckpointError, TrainingError) as exc:
        _log.error('%s', exc)
        return 1
    if env_info().is_main:
        _log.info('export it with: ros2-depth-train export --checkpoint %s --output '
                  'engines/NAME.onnx', result.final_checkpoint)
    return 0
