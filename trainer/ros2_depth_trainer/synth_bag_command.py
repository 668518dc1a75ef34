"""`ros2-depth-train synth-bag`: render a camera trajectory and write it as a rosbag2."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import re
import shutil
from typing import Tuple

HELP = 'render a camera trajectory through a generated scene and write it as a rosbag2'
DESCRIPTION = (
    'Render a camera moving through one generated indoor or street scene and write it as a '
    'rosbag2 (MCAP, zstd chunks): rgb8 images on <ns>/image_rect, their camera_info on '
    '<ns>/camera_info and the exact depth (32FC1 metres, NaN invalid) on <ns>/depth_gt/image, '
    'stamped at a fixed start time plus the frame time. The same options give a byte-identical '
    'bag.'
)
KINDS = ('indoor', 'street')

_log = logging.getLogger('ros2_depth_trainer')


def parse_size(text: str) -> Tuple[int, int]:
    """Parse 'HxW' (e.g. 240x320) into (height, width)."""
    match = re.fullmatch(r'\s*(\d+)\s*[xX]\s*(\d+)\s*', text)
    if match is None or min(int(match.group(1)), int(match.group(2))) <= 0:
        raise argparse.ArgumentTypeError(f'size must be HxW in pixels, e.g. 240x320, got {text!r}')
    return int(match.group(1)), int(match.group(2))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the synth-bag options."""
    from ros2_depth_trainer.bag_writer import DEFAULT_FRAME_ID, DEFAULT_NAMESPACE

    parser.add_argument('--output', type=Path, required=True,
                        help='bag directory to create (must not exist unless --overwrite)')
    parser.add_argument('--kind', choices=KINDS, default='indoor',
                        help='scene kind (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='scene and trajectory seed (default: %(default)s)')
    parser.add_argument('--seconds', type=float, default=4.0,
                        help='trajectory length in seconds (default: %(default)s)')
    parser.add_argument('--rate', type=float, default=10.0,
                        help='frame rate in Hz (default: %(default)s)')
    parser.add_argument('--size', type=parse_size, default=(240, 320), metavar='HxW',
                        help='image size, height x width (default: 240x320)')
    parser.add_argument('--namespace', default=DEFAULT_NAMESPACE,
                        help='topic namespace (default: %(default)s)')
    parser.add_argument('--frame-id', default=DEFAULT_FRAME_ID,
                        help='header frame_id (default: %(default)s)')
    parser.add_argument('--no-compression', dest='compress', action='store_false',
                        help='store the MCAP chunks uncompressed')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace --output if it is an existing bag directory')


def command_line(args: argparse.Namespace) -> str:
    """Return the options that reproduce this bag, as a command line (stored in the bag)."""
    height, width = args.size
    line = (f'ros2-depth-train synth-bag --kind {args.kind} --seed {args.seed} '
            f'--seconds {args.seconds:g} --rate {args.rate:g} --size {height}x{width}')
    if args.namespace != '/camera':
        line += f' --namespace {args.namespace}'
    if args.frame_id != 'camera_optical_frame':
        line += f' --frame-id {args.frame_id}'
    if not args.compress:
        line += ' --no-compression'
    return line


def run(args: argparse.Namespace) -> int:
    """Render and write the bag; return the exit status."""
    from ros2_depth_trainer.bag_writer import BagWriteError, write_bag
    from ros2_depth_trainer.synth.trajectory import render_trajectory
    from tqdm import tqdm

    if args.seconds <= 0 or args.rate <= 0:
        _log.error('--seconds and --rate must be positive, got %g s at %g Hz',
                   args.seconds, args.rate)
        return 2
    frames = max(int(round(args.seconds * args.rate)), 1)
    output = Path(args.output)
    if output.exists() and args.overwrite:
        if not (output / 'metadata.yaml').is_file() and any(output.iterdir()):
            _log.error('%s is not a bag directory (no metadata.yaml); not overwriting it', output)
            return 1
        shutil.rmtree(output)
    height, width = args.size
    trajectory = render_trajectory(args.kind, args.seed, frames, args.rate, height, width)
    progress = tqdm(trajectory, total=frames, desc=f'{args.kind} trajectory', unit='frame')
    custom = {
        'ros2_depth.command': command_line(args),
        'ros2_depth.kind': args.kind,
        'ros2_depth.seed': str(args.seed),
        'ros2_depth.rate_hz': f'{args.rate:g}',
        'ros2_depth.frames': str(frames),
    }
    try:
        summary = write_bag(output, progress, namespace=args.namespace, frame_id=args.frame_id,
                            custom_data=custom, compress=args.compress)
    except BagWriteError as exc:
        _log.error('%s', exc)
        return 1
    finally:
        progress.close()
    _log.info('%s: %d frames (%s trajectory) at %g Hz, %.1f MB; topics %s',
              summary.path, summary.frames, args.kind, args.rate, summary.size_bytes / 1e6,
              ', '.join(summary.topics))
    return 0
