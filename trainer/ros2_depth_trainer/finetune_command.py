"""`ros2-depth-train finetune`: fine-tune a model on RGB-D recordings, score it, export it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = 'fine-tune a model on your own RGB-D recordings'
DESCRIPTION = (
    'Fine-tune a model (default: the bundled one) on the training blocks of one or more RGB-D '
    'recordings (rosbag2 .mcap/.db3 or folder, TUM RGB-D, 7-Scenes or Open3D folder, frame '
    'list), optionally mixed with generated scenes; score it before and after on each '
    "recording's held-out block; export model.onnx, its .json and .pt into --output and write "
    'report.md there. Ctrl-C stops with a resumable checkpoint: continue with --resume. '
    'docs/your_robot.md walks through recording and deploying.')

# (steps, batch size, loader workers) of each preset; the cpu one fits a 2,500-frame 640x480
# recording into 30 minutes on 2 cores (docs/your_robot.md has the measurement).
PRESETS = {'cpu': (600, 8, 2), 'gpu': (3000, 16, 8)}

_log = logging.getLogger('ros2_depth_trainer')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the finetune options."""
    parser.add_argument('recordings', nargs='*', metavar='RECORDING',
                        help='rosbag2 folder or file, RGB-D folder or frame list (repeatable)')
    parser.add_argument('--output', type=Path, required=True,
                        help='run folder: checkpoints, evaluations, model.onnx, report.md')
    parser.add_argument('--from', dest='start', metavar='MODEL',
                        help='checkpoint (.pt), or an exported model whose .pt lies beside it '
                             '(default: the bundled model)')
    parser.add_argument('--synthetic', nargs='+', default=[], metavar='FOLDER',
                        help='generated scenes ("ros2-depth-train synth") to mix in')
    parser.add_argument('--synthetic-ratio', type=float, default=0.0,
                        help='share of generated samples in the training data, e.g. 0.3 '
                             '(default: %(default)s)')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='cpu',
                        help='steps, batch size and loader workers: cpu %s, gpu %s (default: '
                             '%%(default)s)' % (PRESETS['cpu'], PRESETS['gpu']))
    parser.add_argument('--steps', type=int, help='training steps (default: from --preset)')
    parser.add_argument('--batch-size', type=int, help='batch size (default: from --preset)')
    parser.add_argument('--lr', type=float, default=1e-4,
                        help='Adam learning rate, cosine decay (default: %(default)s)')
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:N or auto')
    parser.add_argument('--max-depth', type=float, default=10.0,
                        help='recorded depth beyond this (metres) is ignored '
                             '(default: %(default)s)')
    parser.add_argument('--min-interval', type=float, default=0.2,  # DEFAULT_MIN_INTERVAL
                        help='keep recorded frames at least this many seconds apart (near-'
                             'duplicate video frames add time, not information; default: '
                             '%(default)s)')
    parser.add_argument('--eval-limit', type=int,
                        help='score at most this many held-out frames per recording')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in --output (its options come from there)')


def one_line(exc: BaseException) -> str:
    """
    Return an error's message as one line.

    A frame that fails to decode in a DataLoader worker comes back as the same exception type
    with the worker's traceback in its message; its last line is the original message.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    last = lines[-1]
    name, colon, message = last.partition(': ')
    return message if colon and name.replace('.', '').replace('_', '').isalnum() else last


def run(args: argparse.Namespace) -> int:
    """Fine-tune; return the exit status."""
    from ros2_depth_trainer.checkpoint import CheckpointError
    from ros2_depth_trainer.config import ConfigError
    from ros2_depth_trainer.evaluate import EvaluationError
    from ros2_depth_trainer.export import ExportError
    from ros2_depth_trainer.finetune import (finetune, FinetuneError, FinetuneOptions,
                                             load_options)
    from ros2_depth_trainer.train import TrainingError

    steps, batch_size, workers = PRESETS[args.preset]
    try:
        if args.resume:
            if args.recordings:
                raise FinetuneError('--resume takes its recordings and options from '
                                    f'{args.output}; give only --output')
            options = load_options(args.output)
        else:
            options = FinetuneOptions(
                recordings=list(args.recordings), output=str(args.output), start=args.start,
                synthetic=list(args.synthetic), synthetic_ratio=args.synthetic_ratio,
                steps=args.steps or steps, batch_size=args.batch_size or batch_size,
                lr=args.lr, device=args.device, num_workers=workers, max_depth=args.max_depth,
                eval_limit=args.eval_limit, seed=args.seed,
                recording_args={'min_interval': args.min_interval})
        result = finetune(options, resume=args.resume)
    except KeyboardInterrupt:
        _log.error('interrupted; continue with: ros2-depth-train finetune --resume --output %s',
                   args.output)
        return 130
    except (FinetuneError, ConfigError, CheckpointError, TrainingError, EvaluationError,
            ExportError, OSError, ValueError) as exc:
        _log.error('%s', one_line(exc))
        return 1
    _log.info('wrote %s and %s; run it with: ros2 run ros2_depth depth_node --ros-args -p '
              'model:=%s', result.model, result.report, result.model.with_suffix('.json'))
    return 0
