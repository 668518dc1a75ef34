"""`ros2-depth-train quantize`: an exported FP32 model to a static INT8 (QDQ) model + sidecar."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = 'quantise an exported model to INT8 for ONNX Runtime on the CPU'
DESCRIPTION = (
    'Write a statically quantised copy of an exported FP32 model (ONNX Runtime QDQ: int8 '
    'weights per output channel, 8-bit activations per tensor) calibrated on generated scenes '
    'pre-processed as the node does, with its own sidecar (precision int8, its sha256 and the '
    "FP32 parent's). By default it goes beside the model as NAME.int8.onnx / NAME.int8.json, "
    "where depth_node's precision:=int8 looks. The convolutions that produce the outputs stay "
    'in float unless --keep-fp32 says otherwise. See docs/benchmarks.md, "INT8".')

_log = logging.getLogger('ros2_depth_trainer')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the quantize options."""
    from ros2_depth_trainer.quantize import (ACTIVATIONS, CALIBRATION_SEED, DEFAULT_COUNT,
                                             KEEP_FP32, METHODS, QuantizeOptions)

    defaults = QuantizeOptions()
    parser.add_argument('--model', type=Path, required=True,
                        help='the FP32 model: sidecar (.json) or its .onnx')
    parser.add_argument('--output', type=Path,
                        help='INT8 ONNX file to write (default: NAME.int8.onnx beside the model); '
                             'its sidecar goes beside it with .json')
    parser.add_argument('--count', type=int, default=DEFAULT_COUNT,
                        help='generated calibration scenes (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=CALIBRATION_SEED,
                        help='seed of the calibration scenes (default: %(default)s)')
    parser.add_argument('--method', choices=METHODS, default=defaults.method,
                        help='activation range calibration (default: %(default)s)')
    parser.add_argument('--keep-fp32', choices=KEEP_FP32, default=defaults.keep_fp32,
                        help='weighted layers left in float: the output heads, the layers that '
                             'read the image, both, or none (default: %(default)s)')
    parser.add_argument('--activations', choices=ACTIVATIONS, default=defaults.activations,
                        help='activation type, signed or unsigned 8-bit (default: %(default)s)')
    parser.add_argument('--threads', type=int, default=2,
                        help='ONNX Runtime threads for calibration and the check')


def run(args: argparse.Namespace) -> int:
    """Quantise; return the exit status."""
    from ros2_depth.model_spec import ModelSpecError
    from ros2_depth_trainer.quantize import quantize_model, QuantizeOptions
    from ros2_depth_trainer.sidecar import ExportError

    options = QuantizeOptions(count=args.count, seed=args.seed, method=args.method,
                              keep_fp32=args.keep_fp32, activations=args.activations,
                              num_threads=args.threads)
    try:
        spec, diffs = quantize_model(args.model, args.output, options)
    except (ExportError, ModelSpecError) as exc:
        _log.error('%s', exc)
        return 1
    _log.info('%s (int8): against FP32 on %d other generated scenes: depth changed by %.2f %% '
              'on average (max %.1f %%)%s', spec.path, options.verify_count,
              100 * diffs['depth_relative_mean'], 100 * diffs['depth_relative_max'],
              f", normals by {diffs['normals_angle_mean_deg']:.2f} degrees on average"
              if 'normals_angle_mean_deg' in diffs else '')
    return 0
