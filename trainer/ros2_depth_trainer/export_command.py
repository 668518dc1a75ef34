"""`ros2-depth-train export`: a model (initialisation or checkpoint) to ONNX plus its sidecar."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = 'export a model to ONNX plus its JSON sidecar'
DESCRIPTION = (
    'Export a model to ONNX (opset 17, static 1x3xHxW input "image") and write the JSON sidecar '
    'that the ros2_depth runtime reads. Without --checkpoint the seeded, untrained initialisation '
    'is exported and the sidecar says "trained": false.')
DEFAULT_VARIANT = 'light'

_log = logging.getLogger('ros2_depth_trainer')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the export options."""
    from ros2_depth_trainer.models import VARIANTS

    parser.add_argument('--variant', choices=sorted(VARIANTS),
                        help=f'model variant (default: {DEFAULT_VARIANT}, or the config stored '
                             'in --checkpoint)')
    parser.add_argument('--seed', type=int, default=0,
                        help='weight seed when no checkpoint is given (default: %(default)s)')
    parser.add_argument('--checkpoint', type=Path, help='trained checkpoint to export')
    parser.add_argument('--output', type=Path, required=True,
                        help='ONNX file to write; the sidecar goes beside it, suffix .json')
    parser.add_argument('--depth-range', nargs=2, type=float, metavar=('MIN', 'MAX'),
                        help='valid depths in metres, written to the sidecar (the node publishes '
                             'NaN outside); default: the depth caps of the training data '
                             '(generated scenes and KITTI 80 m, NYU 10 m), or 0.1-20 m')
    parser.add_argument('--no-verify', dest='verify', action='store_false',
                        help='skip the onnxruntime-against-torch check of the exported file')


def run(args: argparse.Namespace) -> int:
    """Export; return the exit status."""
    from ros2_depth_trainer.checkpoint import CheckpointError
    from ros2_depth_trainer.export import export_model, ExportError

    variant = args.variant
    if variant is None and args.checkpoint is None:
        variant = DEFAULT_VARIANT
    try:
        spec = export_model(args.output, variant=variant, seed=args.seed,
                            checkpoint=args.checkpoint, verify=args.verify,
                            depth_range=args.depth_range)
    except (ExportError, CheckpointError) as exc:
        _log.error('%s', exc)
        return 1
    grid = spec.output_grid
    _log.info('%s: network-input pixel x = %g * col + %g, y = %g * row + %g; trained: %s; '
              'depth range %g-%g m', spec.name, grid.scale_x, grid.offset_x, grid.scale_y,
              grid.offset_y, spec.trained, *spec.depth_range)
    return 0
