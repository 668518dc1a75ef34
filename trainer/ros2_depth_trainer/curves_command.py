"""`ros2-depth-train curves`: draw a run's training curves (loss, validation, rates) as PNG."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "draw a run's training curves as a PNG"
DESCRIPTION = (
    'Draw the training loss terms, the validation metrics and the learning rates of a run folder '
    '(its metrics.jsonl, with stage boundaries from its config.yaml) into one PNG, by default '
    'RUN/curves.png. Works on a run that is still going or was stopped.')

_log = logging.getLogger('ros2_depth_trainer')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the curves options."""
    parser.add_argument('run_dir', metavar='RUN', type=Path,
                        help='run folder (train --output), with metrics.jsonl')
    parser.add_argument('--output', type=Path, help='PNG to write (default: RUN/curves.png)')


def run(args: argparse.Namespace) -> int:
    """Draw the curves; return the exit status."""
    from ros2_depth_trainer.config import ConfigError, load_config
    from ros2_depth_trainer.curves import curves_figure, read_metrics, stage_starts
    from ros2_depth_trainer.train import CONFIG_FILE, METRICS_FILE

    metrics_path = args.run_dir / METRICS_FILE
    try:
        metrics = read_metrics(metrics_path)
    except OSError as exc:
        _log.error('cannot read %s (%s): give a run folder made by "ros2-depth-train train '
                   '--output"', metrics_path, exc.strerror or exc)
        return 1
    except ValueError as exc:
        _log.error('%s', exc)
        return 1
    if metrics.skipped_lines:
        _log.warning('%s: skipped %d unreadable line(s)', metrics_path, metrics.skipped_lines)
    stages, title = [], str(args.run_dir)
    config_path = args.run_dir / CONFIG_FILE
    if config_path.is_file():
        try:
            config = load_config(config_path)
        except (ConfigError, OSError, ValueError) as exc:
            _log.warning('%s: no stage marks (%s)', config_path, exc)
        else:
            stages = stage_starts([stage.name for stage in config.stages],
                                  [stage.steps for stage in config.stages])
            title = f'{args.run_dir}: {config.model.variant}'
    output = args.output or args.run_dir / 'curves.png'
    try:
        curves_figure(metrics, output, stages, title)
    except ValueError as exc:
        _log.error('%s: %s', metrics_path, exc)
        return 1
    _log.info('wrote %s', output)
    return 0
