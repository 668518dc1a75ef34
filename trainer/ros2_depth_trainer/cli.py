"""
Command line entry point: ``ros2-depth-train <command> ...``.

Each command lives in its own module, which defines ``HELP`` (and optionally ``DESCRIPTION``),
``add_arguments(parser)`` and ``run(args) -> int``, and keeps heavy imports (torch) inside its
functions so that building the parser stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

# Command name -> module implementing it.
COMMANDS = {
    'export': 'ros2_depth_trainer.export_command',
    'synth': 'ros2_depth_trainer.synth_command',
    'train': 'ros2_depth_trainer.train_command',
    'synth-bag': 'ros2_depth_trainer.synth_bag_command',
    'evaluate': 'ros2_depth_trainer.evaluate_command',
    'curves': 'ros2_depth_trainer.curves_command',
    'finetune': 'ros2_depth_trainer.finetune_command',
    'build-engine': 'ros2_depth_trainer.build_engine_command',
    'quantize': 'ros2_depth_trainer.quantize_command',
}


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every command's options."""
    parser = argparse.ArgumentParser(
        prog='ros2-depth-train',
        description='Train, evaluate and export depth networks for ros2_depth.')
    parser.add_argument('--log-level', default='INFO',
                        choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'),
                        help='logging verbosity (default: %(default)s)')
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP,
                                  description=getattr(module, 'DESCRIPTION', module.HELP))
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Parse the command line, run the chosen command and return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    return args.run(args)


if __name__ == '__main__':
    sys.exit(main())
