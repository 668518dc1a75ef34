"""`ros2-depth-train synth`: procedural RGB-D scenes with exact depth, normals and labels."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Tuple

HELP = ('generate procedural RGB-D scenes (indoor rooms, streets or close-range robot views) '
        'with exact ground truth')
DESCRIPTION = (
    'Render COUNT random scenes of one KIND with a camera in each and write, per sample, an RGB '
    'PNG, metric depth (float32 .npy in metres and uint16 millimetre PNG), surface normals, a '
    'semantic label PNG, plus index.json with the intrinsics and camera pose of every sample. '
    'Sample i depends only on (SEED, KIND, i), whatever the number of workers. KIND robot shows '
    'desks, shelves, kitchens, cluttered floors and corridors from 0.3-3 m at robot heights '
    'through common robot cameras. With --preview, also write a sheet of 8 samples of each '
    'of --preview-kinds (default indoor and street: RGB, depth, normals, labels). See '
    'docs/synthetic_data.md.')

_log = logging.getLogger('ros2_depth_trainer')


def parse_size(text: str) -> Tuple[int, int]:
    """Parse 'HxW' (e.g. 240x320) into (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size must look like 240x320 (HxW), got {text!r}')
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f'size must be positive, got {text!r}')
    return height, width


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the synth options."""
    from ros2_depth_trainer.synth.scenes import KINDS

    parser.add_argument('--output', type=Path, help='folder to write the samples into')
    parser.add_argument('--count', type=int, default=100,
                        help='number of samples (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='random seed (default: %(default)s)')
    parser.add_argument('--kind', choices=KINDS, default='indoor',
                        help='scene kind (default: %(default)s)')
    parser.add_argument('--size', type=parse_size, default=(240, 320), metavar='HxW',
                        help='image size, height x width (default: 240x320)')
    parser.add_argument('--workers', type=int, default=2,
                        help='worker processes (default: %(default)s; 1 = no pool)')
    parser.add_argument('--preview', type=Path, metavar='PNG',
                        help='also write a preview sheet of 8 samples of each preview kind')
    parser.add_argument('--preview-kinds', nargs='+', choices=KINDS, default=['indoor', 'street'],
                        metavar='KIND', help='kinds on the preview sheet, one column each '
                        '(default: indoor street; also: robot)')
    parser.add_argument('--no-progress', dest='progress', action='store_false',
                        help='hide the progress bar')


def run(args: argparse.Namespace) -> int:
    """Generate the samples and/or the preview; return the exit status."""
    from ros2_depth_trainer.synth.preview import write_preview
    from ros2_depth_trainer.synth.writer import generate

    if args.output is None and args.preview is None:
        _log.error('nothing to do: give --output DIR and/or --preview PNG')
        return 2
    if args.count < 0 or args.workers < 1:
        _log.error('--count must be >= 0 and --workers >= 1')
        return 2
    height, width = args.size
    try:
        if args.output is not None:
            generate(args.output, args.count, args.seed, args.kind, height, width,
                     workers=args.workers, progress=args.progress)
        if args.preview is not None:
            write_preview(args.preview, args.seed, size=(height, width),
                          kinds=args.preview_kinds)
    except (OSError, ValueError) as exc:
        _log.error('%s', exc)
        return 1
    return 0
