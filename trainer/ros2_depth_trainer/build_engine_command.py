"""`ros2-depth-train build-engine`: a TensorRT engine of an exported model, for this GPU."""

from __future__ import annotations

import argparse
from typing import Any, Iterable, Tuple

HELP = 'build a TensorRT engine of an exported model for this GPU (INT8 calibrated on scenes)'
DESCRIPTION = (
    "Build a TensorRT engine with the runtime's builder (ros2_depth.backends.tensorrt_build, "
    'the same as "ros2-depth build-engine"), writing it with its manifest into the engine cache '
    'that depth_node reads. For INT8 by calibration (TensorRT 8.5-10.x) the pictures are '
    'generated scenes of the training generator unless --calibration-images is given; on '
    'TensorRT 11 pass a Q/DQ ONNX with --onnx. See docs/tensorrt.md.')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the runtime's build-engine options and the generated-scene ones."""
    from ros2_depth.cli import add_build_engine_arguments
    from ros2_depth_trainer.synth.scenes import KINDS

    add_build_engine_arguments(parser)
    parser.add_argument('--scene-kinds', nargs='+', choices=KINDS, default=list(KINDS),
                        help='generated scene kinds to calibrate on, taken in turn (default: all)')
    parser.add_argument('--scene-seed', type=int, default=1234,
                        help='seed of the generated calibration scenes (default: %(default)s)')


def scene_frames(kinds: Tuple[str, ...], seed: int, count: int, height: int, width: int
                 ) -> Iterable[Tuple[Any, Any]]:
    """Yield `count` generated views (rgb8, camera), the kinds taken in turn."""
    from ros2_depth_trainer.synth.sample import render_sample

    for index in range(count):
        kind = kinds[index % len(kinds)]
        frame = render_sample(kind, seed, index // len(kinds), height, width).rendered.frame
        yield frame.rgb, frame.camera


def run(args: argparse.Namespace) -> int:
    """Build the engine; return the exit status."""
    from ros2_depth.cli import run_build_engine

    kinds = tuple(args.scene_kinds)
    # 480x640 views: the node resizes them to the network input as it would a camera's.
    frames = scene_frames(kinds, args.scene_seed, args.calibration_count, 480, 640)
    description = f'generated {"/".join(kinds)} scenes, seed {args.scene_seed}'
    return run_build_engine(args, scenes=(description, frames))
