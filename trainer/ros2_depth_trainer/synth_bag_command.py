"""`ros2-depth-train synth-bag`: render a camera trajectory and write it as a rosbag2."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import re
import shutil
from typing import List, Optional, Tuple, TYPE_CHECKING

if TYPE_CHECKING:
    from ros2_depth_trainer.synth.rig import DepthRig

HELP = 'render a camera trajectory through a generated scene and write it as a rosbag2'
DESCRIPTION = (
    'Render a camera moving through one generated indoor or street scene and write it as a '
    'rosbag2 (MCAP, zstd chunks): rgb8 images on <ns>/image_rect, their camera_info on '
    '<ns>/camera_info and the exact depth (32FC1 metres, NaN invalid) on <ns>/depth_gt/image, '
    'stamped at a fixed start time plus the frame time. The same options give a byte-identical '
    'bag. Options below write what real drivers write instead: SQLite3 storage, a compressed '
    'colour topic, 16UC1 or compressedDepth depth, and an unaligned depth camera with its own '
    'camera_info and /tf_static; --write-truth keeps the exact aligned depth beside the bag.'
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
    _add_driver_arguments(parser)


def _add_driver_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that write what real camera drivers record."""
    from ros2_depth_trainer.bag_codecs import DEPTH_ENCODINGS, DEPTH_MAX_M, IMAGE_FORMATS
    from ros2_depth_trainer.bag_writer import (
        DEFAULT_BASE_FRAME_ID, DEFAULT_DEPTH_FRAME_ID, STORAGES)
    from ros2_depth_trainer.synth.rig import DEPTH_BASELINE_M, DEPTH_FOV_DEG

    group = parser.add_argument_group('driver-like recordings (docs/synthetic_data.md)')
    group.add_argument('--storage', choices=STORAGES, default='mcap',
                       help='rosbag2 storage; sqlite3 bags are not compressed '
                            '(default: %(default)s)')
    group.add_argument('--image-format', choices=('raw',) + IMAGE_FORMATS, default='raw',
                       help='colour as Image rgb8 (raw) or as a CompressedImage on '
                            '<image topic>/compressed (default: %(default)s)')
    group.add_argument('--jpeg-quality', type=int, default=95,
                       help='JPEG quality 0-100 for --image-format jpeg (default: %(default)s)')
    group.add_argument('--depth-encoding', choices=DEPTH_ENCODINGS, default=None,
                       help='depth as 32FC1 metres or 16UC1 millimetres (default: 32FC1, '
                            '16UC1 with --depth-camera)')
    group.add_argument('--compressed-depth', action='store_true',
                       help="depth through image_transport's compressedDepth (PNG) on "
                            '<depth topic>/compressedDepth')
    group.add_argument('--compressed-depth-max', type=float, default=DEPTH_MAX_M, metavar='M',
                       help="compressedDepth's depth_max: farther depth becomes invalid "
                            '(default: %(default)s m, the plugin default)')
    group.add_argument('--depth-camera', action='store_true',
                       help='depth from a second camera beside the colour camera, not aligned: '
                            '<ns>/depth/image_rect_raw, <ns>/depth/camera_info and /tf_static')
    group.add_argument('--depth-size', type=parse_size, default=None, metavar='HxW',
                       help='depth camera image size (default: --size)')
    group.add_argument('--depth-fov', type=float, default=DEPTH_FOV_DEG, metavar='DEG',
                       help='depth camera horizontal field of view (default: %(default)s, the '
                            'RealSense D435 depth imager)')
    group.add_argument('--depth-baseline', type=float, default=DEPTH_BASELINE_M, metavar='M',
                       help='depth camera distance to the left of the colour camera '
                            '(default: %(default)s m)')
    group.add_argument('--depth-rotation-deg', type=float, nargs=3, default=[0.0, 0.0, 0.0],
                       metavar=('RX', 'RY', 'RZ'),
                       help='depth camera rotation about the colour optical x, y, z axes, '
                            'Rz Ry Rx (default: 0 0 0)')
    group.add_argument('--depth-frame-id', default=DEFAULT_DEPTH_FRAME_ID,
                       help='depth camera frame_id (default: %(default)s)')
    group.add_argument('--base-frame-id', default=DEFAULT_BASE_FRAME_ID,
                       help='parent of both optical frames on /tf_static (default: %(default)s)')
    group.add_argument('--write-truth', nargs='?', const='', default=None, metavar='NPZ',
                       help='also write the exact depth of the colour camera (and of the depth '
                            'camera) per frame to NPZ, outside the bag (default NPZ: '
                            '<output>.truth.npz)')


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
    return line + ''.join(f' {option}' for option in _driver_options(args))


def _driver_options(args: argparse.Namespace) -> List[str]:
    """Return the driver-like options that differ from their defaults, as command-line words."""
    from ros2_depth_trainer.bag_codecs import DEPTH_MAX_M
    from ros2_depth_trainer.bag_writer import DEFAULT_BASE_FRAME_ID, DEFAULT_DEPTH_FRAME_ID

    words = []
    if args.storage != 'mcap':
        words.append(f'--storage {args.storage}')
    if args.image_format != 'raw':
        words.append(f'--image-format {args.image_format}')
        if args.image_format == 'jpeg' and args.jpeg_quality != 95:
            words.append(f'--jpeg-quality {args.jpeg_quality}')
    if args.depth_encoding is not None:
        words.append(f'--depth-encoding {args.depth_encoding}')
    if args.compressed_depth:
        words.append('--compressed-depth')
        if args.compressed_depth_max != DEPTH_MAX_M:
            words.append(f'--compressed-depth-max {args.compressed_depth_max:g}')
    if args.depth_camera:
        words.append('--depth-camera')
        if args.depth_size is not None:
            words.append('--depth-size {}x{}'.format(*args.depth_size))
        words.append(f'--depth-fov {args.depth_fov:g} --depth-baseline {args.depth_baseline:g}')
        if any(args.depth_rotation_deg):
            words.append('--depth-rotation-deg ' + ' '.join(
                f'{v:g}' for v in args.depth_rotation_deg))
        if args.depth_frame_id != DEFAULT_DEPTH_FRAME_ID:
            words.append(f'--depth-frame-id {args.depth_frame_id}')
        if args.base_frame_id != DEFAULT_BASE_FRAME_ID:
            words.append(f'--base-frame-id {args.base_frame_id}')
    return words


def _depth_rig(args: argparse.Namespace) -> Optional[DepthRig]:
    """Return the depth camera rig of the options, or None without --depth-camera."""
    from ros2_depth_trainer.synth.rig import depth_rig

    if not args.depth_camera:
        return None
    height, width = args.depth_size or args.size
    return depth_rig(width, height, args.depth_fov, args.depth_baseline, args.depth_rotation_deg)


def _option_error(args: argparse.Namespace) -> Optional[str]:
    """Return what is wrong with the options in one line, or None."""
    from ros2_depth_trainer.synth.rig import DEPTH_BASELINE_M, DEPTH_FOV_DEG

    if args.seconds <= 0 or args.rate <= 0:
        return f'--seconds and --rate must be positive, got {args.seconds:g} s at {args.rate:g} Hz'
    if not args.depth_camera:
        given = [name for name, value, default in (
            ('--depth-size', args.depth_size, None),
            ('--depth-fov', args.depth_fov, DEPTH_FOV_DEG),
            ('--depth-baseline', args.depth_baseline, DEPTH_BASELINE_M),
            ('--depth-rotation-deg', list(args.depth_rotation_deg), [0.0, 0.0, 0.0]))
            if value != default]
        if given:
            return f'{", ".join(given)} describe the depth camera; add --depth-camera'
    elif not 0 < args.depth_fov < 180:
        return f'--depth-fov must be between 0 and 180 degrees, got {args.depth_fov:g}'
    if not 0 <= args.jpeg_quality <= 100:
        return f'--jpeg-quality must be 0-100, got {args.jpeg_quality}'
    if not args.compressed_depth_max > 0:
        return f'--compressed-depth-max must be positive, got {args.compressed_depth_max:g}'
    return None


def run(args: argparse.Namespace) -> int:
    """Render and write the bag; return the exit status."""
    import contextlib

    from ros2_depth_trainer.bag_truth import truth_path, TruthWriter
    from ros2_depth_trainer.bag_writer import BagFormat, BagWriteError, write_bag
    from ros2_depth_trainer.synth.trajectory import render_rig_trajectory
    from tqdm import tqdm

    problem = _option_error(args)
    if problem:
        _log.error('%s', problem)
        return 2
    frames = max(int(round(args.seconds * args.rate)), 1)
    output = Path(args.output)
    if output.exists() and args.overwrite:
        if not (output / 'metadata.yaml').is_file() and any(output.iterdir()):
            _log.error('%s is not a bag directory (no metadata.yaml); not overwriting it', output)
            return 1
        shutil.rmtree(output)
    bag_format = BagFormat(
        storage=args.storage, image_format=args.image_format, jpeg_quality=args.jpeg_quality,
        depth_encoding=args.depth_encoding, compressed_depth=args.compressed_depth,
        compressed_depth_max_m=args.compressed_depth_max, depth_frame_id=args.depth_frame_id,
        base_frame_id=args.base_frame_id)
    height, width = args.size
    trajectory = render_rig_trajectory(args.kind, args.seed, frames, args.rate, height, width,
                                       _depth_rig(args))
    progress = tqdm(trajectory, total=frames, desc=f'{args.kind} trajectory', unit='frame')
    custom = {
        'ros2_depth.command': command_line(args),
        'ros2_depth.kind': args.kind,
        'ros2_depth.seed': str(args.seed),
        'ros2_depth.rate_hz': f'{args.rate:g}',
        'ros2_depth.frames': str(frames),
    }
    truth_file = None
    if args.write_truth is not None:
        truth_file = Path(args.write_truth) if args.write_truth else truth_path(output)
    try:
        with (TruthWriter(truth_file) if truth_file else contextlib.nullcontext()) as truth:
            summary = write_bag(output, truth.frames(progress) if truth else progress,
                                namespace=args.namespace, frame_id=args.frame_id,
                                custom_data=custom, compress=args.compress,
                                bag_format=bag_format)
    except (BagWriteError, OSError) as exc:
        _log.error('%s', exc)
        return 1
    finally:
        progress.close()
    _log.info('%s: %d frames (%s trajectory) at %g Hz, %.1f MB; topics %s',
              summary.path, summary.frames, args.kind, args.rate, summary.size_bytes / 1e6,
              ', '.join(summary.topics))
    if truth_file:
        _log.info('exact depth for tests: %s', truth_file)
    return 0
