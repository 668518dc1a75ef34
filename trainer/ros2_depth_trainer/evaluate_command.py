"""`ros2-depth-train evaluate`: score models and the Mean baseline as the papers do."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Sequence, Tuple

HELP = 'evaluate models against ground truth and the Mean baseline'
DESCRIPTION = (
    'Run every model given (trainer checkpoints and exported ONNX sidecars) on the test samples, '
    'resample each prediction onto the ground-truth pixels through the exact input and output '
    'geometry, and score it per image (then averaged) under the protocol of the dataset, next '
    'to the "Mean" baseline that predicts the mean depth of the training set everywhere. Prints '
    'the table, and writes table.txt, metrics.json and figure.png into --output. See '
    'docs/evaluation.md.')

_log = logging.getLogger('ros2_depth_trainer')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the evaluate options."""
    from ros2_depth_trainer.data.registry import evaluation_kinds, KINDS
    from ros2_depth_trainer.evaluate import INPUT_MODES, OUTSIDE_MODES
    from ros2_depth_trainer.protocols import CROPS, PROTOCOLS

    kinds = '|'.join(evaluation_kinds())
    defaults = ', '.join(f'{KINDS[k].protocol} for {k}' for k in evaluation_kinds())
    parser.add_argument('--data', nargs='+', required=True, metavar='ARG',
                        help=f'test data, KIND LOCATION... with KIND one of {kinds}: '
                             '"synthetic DIR", "nyu nyu_depth_v2_labeled.mat [splits.mat]", '
                             '"nyu FRAME_ROOT [FILE_LIST]", "kitti RAW_ROOT [ANNOTATED_ROOT]" '
                             '(the Eigen test split; Velodyne depth unless ANNOTATED_ROOT), '
                             '"rgbd_list LIST..." (RGB-D frames listed in .json or text files, '
                             'e.g. shared/data/real_rgbd/frames.json; protocol rgbd), '
                             '"recording PATH... [KEY=VALUE...]" (rosbag2, TUM RGB-D, 7-Scenes '
                             'or Open3D folders, frame lists, with options such as '
                             'intrinsics=[fx,fy,cx,cy] or min_interval=0.5; protocol rgbd; see '
                             'docs/datasets.md, "Recordings")')
    parser.add_argument('--split', default='test',
                        help="split of --data to evaluate; a recording's test split is its "
                             'held-out validation block (train, val: its time blocks; all: '
                             'every frame) (default: %(default)s)')
    parser.add_argument('--nyu-depth', choices=('raw', 'filled'), default='raw',
                        help='ground truth of the NYU labeled file: raw (rawDepths, the Kinect '
                             'depth with missing pixels skipped, as the published protocol '
                             'scores) or filled (the in-painted depths) (default: %(default)s)')
    parser.add_argument('--kitti-depth', choices=('camera', 'velodyne_x'), default='camera',
                        help='value of a projected KITTI Velodyne point: camera (depth along '
                             'the camera axis) or velodyne_x (its Velodyne x, as in '
                             "monodepth2's exported gt_depths.npz) (default: %(default)s)")
    parser.add_argument('--checkpoint', type=Path, action='append', default=[],
                        help='trainer checkpoint to evaluate (repeatable)')
    parser.add_argument('--onnx', type=Path, action='append', default=[],
                        help='exported model sidecar (.json, or its .onnx) to evaluate on ONNX '
                             'Runtime (repeatable)')
    parser.add_argument('--output', type=Path, required=True,
                        help='folder for table.txt, metrics.json and figure.png')
    mean = parser.add_mutually_exclusive_group(required=True)
    mean.add_argument('--train-mean', type=float,
                      help='training-set mean depth in metres, for the Mean baseline')
    mean.add_argument('--train-data', nargs='+', metavar='ARG',
                      help='training data (KIND LOCATION..., as --data) to compute the mean from')
    parser.add_argument('--train-split', default='train',
                        help='split of --train-data (default: %(default)s)')
    parser.add_argument('--protocol', choices=sorted(PROTOCOLS),
                        help=f'crop and depth caps (default: {defaults})')
    parser.add_argument('--crop', choices=CROPS, help='override the crop of the protocol')
    parser.add_argument('--min-depth', type=float,
                        help='override the minimum depth of the protocol')
    parser.add_argument('--max-depth', type=float,
                        help='override the maximum depth of the protocol')
    parser.add_argument('--input-mode', choices=INPUT_MODES, default='canonical',
                        help='how an image becomes the network input: canonical (scaled to the '
                             "model's canonical focal length, as the node does by default; "
                             'crop for a model without a metric scale), crop (aspect-ratio crop '
                             'and resize), stretch, or center (a centre crop at native scale, as '
                             'the papers crop at test time) '
                             '(default: %(default)s)')
    parser.add_argument('--base-size', type=_size, metavar='HxW',
                        help='with --input-mode center: resize images to HxW first (NYU as '
                             'the papers: 240x320)')
    parser.add_argument('--outside', choices=OUTSIDE_MODES, default='nearest',
                        help='ground-truth pixels outside the footprint of a prediction: '
                             'filled from its nearest edge, or excluded (default: %(default)s)')
    parser.add_argument('--figure-rows', type=int, default=4,
                        help='test images shown in figure.png (default: %(default)s)')
    parser.add_argument('--limit', type=int, help='evaluate only the first N test samples')
    parser.add_argument('--median-scaling', action='store_true',
                        help='add a median-scaled column per model and for Mean: each image '
                             'scaled by median(truth / prediction), to show the layout apart '
                             "from the metric scale (not part of the papers' protocol)")
    parser.add_argument('--device', default='auto',
                        help='torch device for --checkpoint models: auto (cuda when available), '
                             'cpu, cuda, cuda:1, ... (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=2,
                        help='CPU threads for torch and ONNX Runtime (default: %(default)s)')
    parser.add_argument('--no-progress', dest='progress', action='store_false',
                        help='hide the progress bars')


def _size(text: str) -> Tuple[int, int]:
    """Parse 'HxW' into (height, width)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected HxW, e.g. 240x320, got {text!r}') from None
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f'sizes must be positive, got {text!r}')
    return height, width


def _names(paths: Sequence[Path]) -> List[str]:
    """Column names: file stems, made distinct with a suffix where two are equal."""
    names: List[str] = []
    for path in paths:
        name, suffix = Path(path).stem, 2
        while name in names or name == 'Mean':
            name, suffix = f'{Path(path).stem}-{suffix}', suffix + 1
        names.append(name)
    return names


def run(args: argparse.Namespace) -> int:
    """Evaluate; print the table; return the exit status."""
    import dataclasses

    from ros2_depth.backends import BackendError
    from ros2_depth.model_spec import ModelSpecError
    from ros2_depth_trainer.checkpoint import CheckpointError
    from ros2_depth_trainer.data.registry import default_protocol, NYU_DEPTH_MAPS
    from ros2_depth_trainer.evaluate import (
        dataset_mean_depth,
        evaluate,
        EvaluationError,
        format_table,
        open_dataset,
        runner_from_checkpoint,
        runner_from_onnx,
        write_outputs,
    )
    from ros2_depth_trainer.protocols import PROTOCOLS
    import torch

    if not args.checkpoint and not args.onnx:
        _log.error('give at least one --checkpoint or --onnx model to evaluate')
        return 2
    torch.set_num_threads(max(args.threads, 1))
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    kind, locations = args.data[0], args.data[1:]
    try:
        protocol = PROTOCOLS[args.protocol or default_protocol(kind) or 'full']
        overrides = {k: v for k, v in (('crop', args.crop), ('min_depth', args.min_depth),
                                       ('max_depth', args.max_depth)) if v is not None}
        if overrides:
            protocol = dataclasses.replace(protocol, name=f'{protocol.name}*', **overrides)
        dataset = open_dataset(kind, locations, split=args.split, nyu_depth=args.nyu_depth,
                               kitti_depth=args.kitti_depth)
        if args.train_mean is not None:
            train_mean = args.train_mean
        else:
            train_set = open_dataset(args.train_data[0], args.train_data[1:],
                                     split=args.train_split, nyu_depth=args.nyu_depth,
                                     kitti_depth=args.kitti_depth)
            train_mean = dataset_mean_depth(train_set, progress=args.progress)
            _log.info('training-set mean depth %.4f m', train_mean)
        paths = list(args.checkpoint) + list(args.onnx)
        names = _names(paths)
        runners = [runner_from_checkpoint(p, args.input_mode, args.outside, name=n,
                                          base_size=args.base_size, device=device)
                   for p, n in zip(args.checkpoint, names)]
        runners += [runner_from_onnx(p, args.input_mode, args.outside, name=n,
                                     num_threads=args.threads, base_size=args.base_size)
                    for p, n in zip(args.onnx, names[len(args.checkpoint):])]
        name = ' '.join(args.data)
        if kind == 'nyu' and Path(locations[0]).is_file():
            name += f' ({NYU_DEPTH_MAPS[args.nyu_depth]})'
        if kind == 'kitti' and len(locations) == 1:
            name += f' (Velodyne, {args.kitti_depth})'
        result = evaluate(dataset, runners, protocol, train_mean,
                          dataset_name=name, figure_rows=args.figure_rows,
                          limit=args.limit, progress=args.progress,
                          median_scaling=args.median_scaling)
    except (EvaluationError, CheckpointError, ModelSpecError, BackendError, ValueError,
            OSError, RuntimeError) as exc:
        _log.error('%s', exc)
        return 1
    print(format_table(result), end='')
    for what, path in write_outputs(result, args.output).items():
        _log.info('wrote %s %s', what, path)
    return 0
