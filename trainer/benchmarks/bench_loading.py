"""
Benchmark what one data-loader worker does per training sample: read it, then augment it.

Reads samples of a generated folder (``ros2-depth-train synth``) with ``SyntheticDataset`` and
applies a random augmentation of the given preset, timing each part per sample in one thread
(a DataLoader worker runs torch with one thread). The loader-bound training speed is about
workers / (batch x per-sample time) steps per second.

Usage::

    .venv/bin/python trainer/benchmarks/bench_loading.py data/synth/indoor_train --count 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import List, Optional

from ros2_depth_trainer.data import augment
from ros2_depth_trainer.data.synthetic import SyntheticDataset
import torch


def main(argv: Optional[List[str]] = None) -> int:
    """Time reading and augmenting ``--count`` samples; write the medians to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('folder', help='a generated folder (ros2-depth-train synth --output)')
    parser.add_argument('--count', type=int, default=100)
    parser.add_argument('--preset', default='nyu_eigen14', choices=sorted(augment.PRESETS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dataset = SyntheticDataset(args.folder)
    generator = torch.Generator().manual_seed(0)
    read, warp = [], []
    for index in range(min(args.count, len(dataset))):
        start = time.perf_counter()
        sample = dataset[index]
        middle = time.perf_counter()
        augment.augment(sample, args.preset, generator)
        read.append(middle - start)
        warp.append(time.perf_counter() - middle)
    read_ms, warp_ms = 1e3 * statistics.median(read), 1e3 * statistics.median(warp)
    sys.stdout.write(f'{len(read)} samples of {args.folder}: read {read_ms:.1f} ms, augment '
                     f'({args.preset}) {warp_ms:.1f} ms per sample (medians, one thread)\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
