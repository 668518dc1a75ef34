"""`ros2-depth`: the runtime's command line (demo, model information, benchmark)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import sys
from typing import List, Optional

from ros2_depth.backends import BACKENDS


def _demo(args: argparse.Namespace) -> int:
    from ros2_depth.demo.run import DemoError, DemoOptions, describe, run_demo

    options = DemoOptions(
        output=args.output,
        bags=args.bag or (),
        frames=args.frames,
        rate_hz=args.rate,
        model=args.model,
        backend=args.backend,
        num_threads=args.threads,
        image_topic=args.image_topic,
        camera_info_topic=args.camera_info_topic,
        depth_topic=args.depth_topic,
    )
    try:
        summary = run_demo(options)
    except DemoError as exc:
        logging.getLogger('ros2-depth').error('demo failed: %s', exc)
        return 1
    print(describe(summary, args.output))
    return 0


def _info(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from ros2_depth.backends import BackendError, create_backend
    from ros2_depth.model_spec import ModelSpecError, load_spec
    from ros2_depth.resources import default_model_path

    path = Path(args.model) if args.model else default_model_path()
    try:
        spec = load_spec(path)
        backend = create_backend(args.backend, spec, num_threads=args.threads)
    except (ModelSpecError, BackendError) as exc:
        logging.getLogger('ros2-depth').error('%s', exc)
        return 1
    inp = spec.input
    print(f'model     {spec.name} ({spec.path})')
    print(f'weights   {"trained" if spec.trained else "UNTRAINED (initialisation only)"}')
    print(f'onnx      {spec.onnx_path} sha256 {spec.onnx_sha256[:16]}')
    if spec.precision != 'fp32':
        print(f'precision {spec.precision}, quantised from the FP32 model with sha256 '
              f'{spec.parent_onnx_sha256[:16]}')
    print(
        f'input     "{inp.name}" 1x3x{inp.height}x{inp.width} {inp.color_order}, mean {inp.mean}, '
        f'std {inp.std}'
    )
    for key, out in spec.outputs.items():
        print(
            f'output    {key}: "{out.name}" {out.channels}x{out.height}x{out.width} {out.kind} '
            f'{out.encoding} {out.units}'.rstrip()
        )
        if out.kind == 'labels' and out.class_names:
            ids = range(out.first_class_id, out.first_class_id + out.channels)
            names = ', '.join(f'{i} {out.class_names[i]}' for i in ids if i < len(out.class_names))
            print(f'classes   {names}')
    if spec.metric_scale is not None:
        print(
            f'scale     depth for a camera of focal length '
            f'{spec.metric_scale.canonical_focal_px:g} input pixels; metres = output x '
            'f / that, f from camera_info after the crop and resize'
        )
    grid = spec.output_grid
    print(
        f'grid      input x = {grid.scale_x:g} * out x + {grid.offset_x:g}, '
        f'y = {grid.scale_y:g} * out y + {grid.offset_y:g}'
    )
    image = np.zeros((1, 3, inp.height, inp.width), np.float32)
    backend.infer(image)
    runs = []
    for _ in range(args.runs):
        start = time.perf_counter()
        backend.infer(image)
        runs.append(1e3 * (time.perf_counter() - start))
    print(f'backend   {backend.describe()}: median {np.median(runs):.1f} ms over {args.runs} runs')
    return 0


def _bench(args: argparse.Namespace) -> int:
    import json

    from ros2_depth.backends import BackendError
    from ros2_depth.demo.bench import format_table, run_bench
    from ros2_depth.model_spec import ModelSpecError
    from ros2_depth.resources import default_model_path

    path = Path(args.model) if args.model else default_model_path()
    try:
        summary = run_bench(path, num_threads=args.threads, runs=args.runs, frames=args.frames,
                            real=args.real, real_limit=args.real_limit, node=args.node,
                            node_frames=args.node_frames)
    except (ModelSpecError, BackendError, FileNotFoundError, RuntimeError) as exc:
        logging.getLogger('ros2-depth').error('bench failed: %s', exc)
        return 1
    print(format_table(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + '\n')
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of `ros2-depth`."""
    parser = argparse.ArgumentParser(prog='ros2-depth', description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)

    demo = sub.add_parser(
        'demo',
        help='replay the sample bags (or --bag) through depth_node and score its depth',
        description='Replay rosbag2 camera recordings through a live depth_node (started as its '
        'own process) with their header stamps, score each depth map against the depth in the '
        'bag where it has one, and write a preview sheet, per-frame pictures, the last point '
        'cloud and summary.json per bag.',
    )
    demo.add_argument('--output', type=Path, default=Path('demo_output'), help='output folder')
    demo.add_argument(
        '--bag',
        type=Path,
        action='append',
        help='rosbag2 (directory or .mcap/.db3) to replay instead of the bundled sample bags; '
        'repeat for several',
    )
    demo.add_argument(
        '--frames', type=int, default=0, help='at most this many frames per bag (0: all)'
    )
    demo.add_argument(
        '--rate', type=float, default=0.0, help='replay rate in Hz (0: as recorded)'
    )
    demo.add_argument(
        '--model', default='', help='model sidecar (.json); default: the bundled model'
    )
    demo.add_argument('--backend', default='onnxruntime', choices=sorted(BACKENDS))
    demo.add_argument('--threads', type=int, default=2, help='inference threads')
    demo.add_argument(
        '--image-topic', help='colour image topic in the bag (default: found by type and name)'
    )
    demo.add_argument(
        '--camera-info-topic', help="the image's camera_info topic (default: beside the image)"
    )
    demo.add_argument(
        '--depth-topic',
        help='depth topic to score against, 32FC1 m or 16UC1 mm ("" for none; default: found)',
    )
    demo.set_defaults(func=_demo)

    info = sub.add_parser('info', help='check a model and its sidecar and time its inference')
    info.add_argument(
        'model', nargs='?', default='', help='model sidecar (.json); default: bundled'
    )
    info.add_argument('--backend', default='onnxruntime', choices=sorted(BACKENDS))
    info.add_argument('--threads', type=int, default=2, help='inference threads')
    info.add_argument('--runs', type=int, default=10, help='timed inference runs')
    info.set_defaults(func=_info)

    bench = sub.add_parser(
        'bench',
        help='latency and parity of every backend and precision present here',
        description='Time every backend and precision present on this machine (ONNX Runtime on '
        'the CPU in FP32 and INT8; its CUDA and TensorRT providers and the native TensorRT '
        'backend where installed; what is absent is listed as skipped, with why) at batch 1, '
        'and compare their depth and normals through the node pipeline with ONNX Runtime FP32 '
        'on the CPU, on generated frames and on --real frames. With --node, also time '
        'depth_node end to end over DDS against a bare rclpy relay.',
    )
    bench.add_argument(
        'model', nargs='?', default='', help='FP32 model sidecar (.json); default: bundled'
    )
    bench.add_argument('--threads', type=int, default=2, help='inference threads')
    bench.add_argument('--runs', type=int, default=50, help='timed runs per row')
    bench.add_argument('--frames', type=int, default=8, help='generated frames for parity')
    bench.add_argument(
        '--real', type=Path, help='folder of real RGB-D frames with frames.json (e.g. '
        '../shared/data/real_rgbd) for parity on real images'
    )
    bench.add_argument('--real-limit', type=int, default=0, help='at most this many (0: all)')
    bench.add_argument(
        '--node', action='store_true',
        help='also time depth_node end to end (a process, over DDS) and a bare relay'
    )
    bench.add_argument('--node-frames', type=int, default=30, help='frames per node timing')
    bench.add_argument('--json', type=Path, help='also write the results here as JSON')
    bench.set_defaults(func=_bench)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of `ros2-depth`."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
