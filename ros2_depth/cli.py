"""`ros2-depth`: the runtime's command line (demo, info, bench, bags, images, TensorRT)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import sys
from typing import Any, Iterable, List, Optional, Tuple

from ros2_depth.backends import BACKEND_CHOICES, BACKENDS


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


def _process_bag(args: argparse.Namespace) -> int:
    from ros2_depth.demo.bag_processing import process_bag, ProcessBagError, ProcessBagOptions

    log = logging.getLogger('ros2-depth')
    options = ProcessBagOptions(
        input_bag=args.input,
        output=args.output,
        image_topic=args.image_topic,
        camera_info_topic=args.camera_info_topic,
        prefix=args.prefix,
        model=args.model,
        backend=args.backend,
        num_threads=args.threads,
        resize_mode=args.resize_mode,
        outputs=args.outputs.split(',') if args.outputs else None,
        storage=args.storage,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    try:
        summary = process_bag(options)
    except ProcessBagError as exc:
        log.error('process-bag: %s', exc)
        return 1
    except KeyboardInterrupt:
        log.error('process-bag: interrupted; no output written (%s)', args.output)
        return 130
    print(summary.describe())
    return 0


def _infer(args: argparse.Namespace) -> int:
    from ros2_depth.demo.image_files import infer_images, InferError, InferOptions

    options = InferOptions(
        images=args.images,
        output=args.output,
        fx=args.fx,
        fy=args.fy,
        cx=args.cx,
        cy=args.cy,
        camera_info=args.camera_info,
        model=args.model,
        backend=args.backend,
        num_threads=args.threads,
        resize_mode=args.resize_mode,
        progress=not args.no_progress,
    )
    try:
        summary = infer_images(options)
    except InferError as exc:
        logging.getLogger('ros2-depth').error('infer: %s', exc)
        return 1
    print(summary.describe())
    return 0 if summary.written else 1


def _info(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from ros2_depth.backends import BackendError, create_backend
    from ros2_depth.model_spec import ModelSpecError, load_spec
    from ros2_depth.resources import default_model_path

    path = Path(args.model) if args.model else default_model_path()
    try:
        spec = load_spec(path)
        backend = create_backend(args.backend, spec, num_threads=args.threads,
                                 precision=args.precision)
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


def corridor_frames(count: int) -> Iterable[Tuple[Any, Any]]:
    """Yield `count` rgb8 views of the demo's corridor scene with their intrinsics."""
    from ros2_depth.camera_model import PinholeCamera
    from ros2_depth.demo.scene import Corridor, render_image

    corridor = Corridor()
    for index in range(count):
        scale = 0.8 + 0.1 * (index % 5)  # focal lengths across a 1.5x range
        camera = PinholeCamera(640, 480, 525.0 * scale, 525.0 * scale, 319.5, 239.5)
        yield render_image(corridor, camera, index, count, seed=index), camera


def add_build_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `build-engine` (shared with `ros2-depth-train build-engine`)."""
    from ros2_depth.backends.tensorrt_build import (
        DEFAULT_CALIBRATION_IMAGES, DEFAULT_OPTIMIZATION_LEVEL, DEFAULT_WORKSPACE_MB)
    from ros2_depth.backends.tensorrt_compat import PRECISIONS

    parser.add_argument('model', nargs='?', default='',
                        help='model sidecar (.json); default: the bundled model')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='engine precision (default: %(default)s)')
    parser.add_argument('--onnx', type=Path,
                        help='build from this converted copy of the model instead: a Q/DQ ONNX '
                        '(precision int8, explicit quantisation) or a ModelOpt AutoCast FP16 ONNX '
                        '(precision fp16; needed on TensorRT 11)')
    parser.add_argument('--engine-cache', type=Path,
                        help='engine cache folder, where depth_node looks (default: '
                        '$ROS_HOME/ros2_depth/engines, else ~/.cache/ros2_depth/engines)')
    parser.add_argument('--output', type=Path,
                        help='write the engine here instead of into the cache (its manifest '
                        'beside it, .json)')
    parser.add_argument('--workspace-mb', type=int, default=DEFAULT_WORKSPACE_MB,
                        help='builder workspace limit in MiB (default: %(default)s)')
    parser.add_argument('--optimization-level', type=int, default=DEFAULT_OPTIMIZATION_LEVEL,
                        help='builder optimisation level 0-5 (default: %(default)s)')
    parser.add_argument('--calibration-images', type=Path,
                        help='folder of pictures from your camera for INT8 calibration '
                        '(TensorRT 8.5-10.x, without --onnx)')
    parser.add_argument('--calibration-count', type=int, default=DEFAULT_CALIBRATION_IMAGES,
                        help='calibration pictures to use (default: %(default)s)')


def run_build_engine(args: argparse.Namespace,
                     scenes: Optional[Tuple[str, Iterable[Tuple[Any, Any]]]] = None) -> int:
    """
    Build an engine as `args` say; return the exit status.

    INT8 calibration reads --calibration-images, else ``scenes`` ((description, frames)), else
    the demo's corridor scene.
    """
    from ros2_depth.backends.tensorrt_build import (
        build_engine, BuildOptions, calibration_batches, EngineBuildError, folder_frames,
        local_machine)
    from ros2_depth.backends.tensorrt_compat import plan_build, TensorRTCompatError
    from ros2_depth.model_spec import load_spec, ModelSpecError
    from ros2_depth.resources import default_model_path

    log = logging.getLogger('ros2-depth')
    options = BuildOptions(precision=args.precision, onnx=args.onnx,
                           workspace_mb=args.workspace_mb,
                           optimization_level=args.optimization_level)
    try:
        spec = load_spec(Path(args.model) if args.model else default_model_path())
        machine = local_machine()
        plan = plan_build(machine.version, options.precision, options.source_kind(spec.precision))
        if plan.calibrate:
            if args.calibration_images is not None:
                source = f'folder {args.calibration_images}'
                frames = folder_frames(args.calibration_images)
            elif scenes is not None:
                source, frames = scenes
            else:
                source = 'generated corridor scenes (ros2_depth.demo.scene)'
                frames = corridor_frames(args.calibration_count)
            options.calibration = calibration_batches(spec, frames, args.calibration_count)
            options.calibration_source = source
            log.info('INT8 calibration with %d pictures: %s', len(options.calibration), source)
        path, manifest = build_engine(spec, options, cache_dir=args.engine_cache,
                                      output=args.output, machine=machine)
    except (ModelSpecError, EngineBuildError, TensorRTCompatError) as exc:
        log.error('%s', exc)
        return 1
    print(f'engine    {path}')
    print(f'manifest  {path.with_suffix(".json")}')
    print(f'built     {manifest["precision"]} on {manifest["gpu_name"]} (sm '
          f'{manifest["compute_capability"]}), TensorRT {manifest["tensorrt_version"]}, '
          f'{manifest["build"]["build_seconds"]:.1f} s, engine id {manifest["engine_id"]}')


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
                            node_frames=args.node_frames, dds_profile=args.dds_profile,
                            stages=args.stages)
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

    _add_process_bag(sub)
    _add_infer(sub)

    info = sub.add_parser('info', help='check a model and its sidecar and time its inference')
    info.add_argument(
        'model', nargs='?', default='', help='model sidecar (.json); default: bundled'
    )
    info.add_argument('--backend', default='onnxruntime', choices=BACKEND_CHOICES)
    info.add_argument('--precision', default='fp32', help='fp32, fp16 or int8 (tensorrt)')
    info.add_argument('--threads', type=int, default=2, help='inference threads')
    info.add_argument('--runs', type=int, default=10, help='timed inference runs')
    info.set_defaults(func=_info)

    build = sub.add_parser(
        'build-engine', help='build a TensorRT engine of a model for this GPU',
        description='Build a TensorRT engine of a model for the local GPU (fp32, fp16, or int8 '
        'by calibration on TensorRT 8.5-10.x or from a Q/DQ ONNX) with its manifest, into the '
        'engine cache that depth_node (backend tensorrt) reads. See docs/tensorrt.md.')
    add_build_engine_arguments(build)
    build.set_defaults(func=run_build_engine)

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
    bench.add_argument(
        '--stages', action='store_true',
        help="also time one frame through the node's code stage by stage (conversion, "
        'pre-processing, inference, post-processing, messages, serialisation)')
    bench.add_argument(
        '--dds-profile', choices=('shipped', 'default'), default='shipped',
        help="--node's middleware: 'shipped' config/fastdds.xml (images through shared memory, "
        "as the demo and the launch file run), or Fast DDS's 'default' transports")
    bench.add_argument('--json', type=Path, help='also write the results here as JSON')
    bench.set_defaults(func=_bench)
    return parser


def _add_process_bag(sub: Any) -> None:
    """Add the `process-bag` subcommand."""
    from ros2_depth.demo.bag_processing import OUTPUT_NAMES, STORAGES
    from ros2_depth.pipeline import RESIZE_MODES

    bag = sub.add_parser(
        'process-bag',
        help='copy a rosbag2 and add the outputs of depth_node for every image (no DDS)',
        description='Write a new rosbag2 with every message of IN (same bytes, receive times and '
        "connections) plus depth_node's outputs for each colour image (Image or "
        'CompressedImage), computed by the same code as the node, stamped with the header of '
        'their image and written at its receive time. OUT appears only when complete.',
    )
    bag.add_argument('input', type=Path, help='input rosbag2 (folder, .mcap or .db3)')
    bag.add_argument('output', type=Path, help='output rosbag2 folder (must not exist)')
    bag.add_argument('--image-topic', help='colour image topic (default: the only one)')
    bag.add_argument(
        '--camera-info-topic', help='its camera_info (default: camera_info beside the image)'
    )
    bag.add_argument(
        '--prefix',
        help='namespace of the output topics (default: <camera namespace>/mono_depth, e.g. '
        '/camera/mono_depth/depth/image for /camera/image_rect)',
    )
    bag.add_argument(
        '--model', default='', help='model sidecar (.json); default: the bundled model'
    )
    bag.add_argument('--backend', default='onnxruntime', choices=sorted(BACKENDS))
    bag.add_argument('--threads', type=int, default=2, help='inference threads')
    bag.add_argument('--resize-mode', default='canonical', choices=RESIZE_MODES,
                     help="as depth_node's resize_mode (default: %(default)s)")
    bag.add_argument(
        '--outputs',
        help=f'comma-separated outputs among {",".join(OUTPUT_NAMES)} (default: all the '
        'model predicts)',
    )
    bag.add_argument('--storage', choices=STORAGES, help="output storage (default: the input's)")
    bag.add_argument('--overwrite', action='store_true', help='replace OUT if it is a rosbag2')
    bag.add_argument('--no-progress', action='store_true', help='no progress bar')
    bag.set_defaults(func=_process_bag)


def _add_infer(sub: Any) -> None:
    """Add the `infer` subcommand."""
    from ros2_depth.pipeline import RESIZE_MODES

    infer = sub.add_parser(
        'infer',
        help='depth, normals, labels and a point cloud for image files (no ROS)',
        description='Run the depth pipeline on image files and write, per image, depth as a '
        '16-bit PNG in millimetres (0 = invalid) and as .npy in metres (NaN = invalid), normals '
        'and labels as PNG, a coloured binary PLY point cloud and a preview sheet, plus '
        'infer.json with the intrinsics of every output. Without --fx or --camera-info the '
        "model's canonical camera scaled to the image is assumed, and metric scale is a guess.",
    )
    infer.add_argument('images', nargs='+', help='image files, folders of images, or globs')
    infer.add_argument('--output', type=Path, required=True, help='output folder')
    intrinsics = infer.add_argument_group('intrinsics (pixels; default: assumed)')
    intrinsics.add_argument('--fx', type=float, help='focal length x')
    intrinsics.add_argument('--fy', type=float, help='focal length y (default: fx)')
    intrinsics.add_argument('--cx', type=float, help='principal point x (default: centre)')
    intrinsics.add_argument('--cy', type=float, help='principal point y (default: centre)')
    intrinsics.add_argument(
        '--camera-info', type=Path, metavar='YAML',
        help='camera_info YAML as camera_calibration writes it (its P, else K, is used)',
    )
    infer.add_argument(
        '--model', default='', help='model sidecar (.json); default: the bundled model'
    )
    infer.add_argument('--backend', default='onnxruntime', choices=sorted(BACKENDS))
    infer.add_argument('--threads', type=int, default=2, help='inference threads')
    infer.add_argument('--resize-mode', default='canonical', choices=RESIZE_MODES,
                       help="as depth_node's resize_mode (default: %(default)s)")
    infer.add_argument('--no-progress', action='store_true', help='no progress bar')
    infer.set_defaults(func=_infer)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of `ros2-depth`."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
