"""Command line entry point: ``ros2-depth-train <command> ...``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
import sys
from typing import List, Optional

_log = logging.getLogger('ros2_depth_trainer')

DEFAULT_VARIANT = 'light'


def _build_parser() -> argparse.ArgumentParser:
    from ros2_depth_trainer.models import VARIANTS

    parser = argparse.ArgumentParser(
        prog='ros2-depth-train',
        description='Train, evaluate and export depth networks for ros2_depth.')
    parser.add_argument('--log-level', default='INFO',
                        choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'),
                        help='logging verbosity (default: %(default)s)')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    export = commands.add_parser(
        'export', help='export a model to ONNX plus its JSON sidecar',
        description='Export a model to ONNX (opset 17, static 1x3xHxW input "image") and write '
                    'the JSON sidecar that the ros2_depth runtime reads. Without --checkpoint '
                    'the seeded, untrained initialisation is exported and the sidecar says '
                    '"trained": false.')
    export.add_argument('--variant', choices=sorted(VARIANTS),
                        help=f'model variant (default: {DEFAULT_VARIANT}, or the config stored '
                             'in --checkpoint)')
    export.add_argument('--seed', type=int, default=0,
                        help='weight seed when no checkpoint is given (default: %(default)s)')
    export.add_argument('--checkpoint', type=Path, help='trained checkpoint to export')
    export.add_argument('--output', type=Path, required=True,
                        help='ONNX file to write; the sidecar goes beside it, suffix .json')
    export.add_argument('--no-verify', dest='verify', action='store_false',
                        help='skip the onnxruntime-against-torch check of the exported file')
    return parser


def _run_export(args: argparse.Namespace) -> int:
    from ros2_depth_trainer.checkpoint import CheckpointError
    from ros2_depth_trainer.export import export_model, ExportError

    variant = args.variant
    if variant is None and args.checkpoint is None:
        variant = DEFAULT_VARIANT
    try:
        spec = export_model(args.output, variant=variant, seed=args.seed,
                            checkpoint=args.checkpoint, verify=args.verify)
    except (ExportError, CheckpointError) as exc:
        _log.error('%s', exc)
        return 1
    grid = spec.output_grid
    _log.info('%s: network-input pixel x = %g * col + %g, y = %g * row + %g; trained: %s',
              spec.name, grid.scale_x, grid.offset_x, grid.scale_y, grid.offset_y, spec.trained)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Parse the command line, run the chosen command and return its exit status."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    if args.command == 'export':
        return _run_export(args)
    raise AssertionError(f'unhandled command {args.command!r}')  # argparse rejects the rest


if __name__ == '__main__':
    sys.exit(main())
