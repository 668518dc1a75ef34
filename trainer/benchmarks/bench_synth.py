"""
Benchmark the procedural scene generator: samples per second, files written, for each kind.

Runs what ``ros2-depth-train synth`` runs (render, then write the PNG and .npy files) into a
temporary folder, after a warm-up, and prints samples/s, the wall time per sample and the load
average of the machine (other processes sharing the cores slow it down).

Usage::

    .venv/bin/python trainer/benchmarks/bench_synth.py                        # 240x320, 200 each
    .venv/bin/python trainer/benchmarks/bench_synth.py --count 400 --workers 2 --size 240x320
    .venv/bin/python trainer/benchmarks/bench_synth.py --kinds robot        # one kind only
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from typing import List, Optional

from ros2_depth_trainer.synth.scenes import KINDS
from ros2_depth_trainer.synth.writer import generate
from ros2_depth_trainer.synth_command import parse_size


def cpu_name() -> str:
    """Return the CPU model name (Linux) or the platform's processor string."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark and print one line per kind."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--count', type=int, default=200, help='samples per kind')
    parser.add_argument('--size', type=parse_size, default=(240, 320), metavar='HxW')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--kinds', nargs='+', choices=KINDS, default=list(KINDS))
    args = parser.parse_args(argv)
    height, width = args.size
    workers = f'{args.workers} worker' + ('s' if args.workers != 1 else '')
    print(f'{cpu_name()}, {os.cpu_count()} cores; {workers}; {height}x{width}; '
          f'{args.count} samples per kind')
    for kind in args.kinds:
        with tempfile.TemporaryDirectory() as folder:
            generate(folder, 4, args.seed + 1, kind, height, width, workers=1, progress=False)
        with tempfile.TemporaryDirectory() as folder:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            generate(folder, args.count, args.seed, kind, height, width, workers=args.workers,
                     progress=False)
            elapsed = time.perf_counter() - start
            size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print(f'{kind:7s} {args.count / elapsed:6.1f} samples/s  '
              f'({1000 * elapsed / args.count:.1f} ms per sample, '
              f'{size / args.count / 1e6:.2f} MB per sample; '
              f'load average before {load:.2f}, after {os.getloadavg()[0]:.2f})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
