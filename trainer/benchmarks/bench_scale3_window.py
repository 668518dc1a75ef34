"""
Benchmark the scale-3 training step with and without output windows (the 2015 second stage).

The second stage trains scale 3 alone on 55 x 74 windows of its 109 x 147 output. Computing only
the window (``forward_windows``, 120 x 158 input windows) instead of the full map and cropping
the loss does about a quarter of the scale-3 work. Scales 1 and 2 are frozen here as in that
stage, so the step is their forward pass, scale 3 forward and backward, and the optimiser step.

Usage::

    .venv/bin/python trainer/benchmarks/bench_scale3_window.py --variant light --batch 16
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from bench_models import median_ms
from ros2_depth_trainer.models import build_model, VARIANTS
from ros2_depth_trainer.models.eigen15 import OutputWindows
import torch

WINDOW = (55, 74)


def main(argv: Optional[List[str]] = None) -> int:
    """Time one scale-3 training step, full map versus windows; log the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--variant', default='light', choices=sorted(VARIANTS))
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(VARIANTS[args.variant]).train()
    trained = [p for name, p in model.named_parameters() if name.startswith('scale3_')]
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith('scale3_'))
    optimizer = torch.optim.Adam(trained, lr=1e-4)
    config = model.config
    image = torch.randn(args.batch, 3, config.input_height, config.input_width)
    height, width = model.output_size
    offsets = [(int(torch.randint(height - WINDOW[0] + 1, ())),
                int(torch.randint(width - WINDOW[1] + 1, ()))) for _ in range(args.batch)]

    def step(windows: Optional[OutputWindows]) -> None:
        optimizer.zero_grad()
        if windows is None:
            outputs = model(image)
            outputs = {k: torch.stack([v[b, :, t:t + WINDOW[0], l:l + WINDOW[1]]
                                       for b, (t, l) in enumerate(offsets)])
                       for k, v in outputs.items()}
        else:
            outputs = model.forward_windows(image, windows)
        sum(v.float().square().mean() for v in outputs.values()).backward()
        optimizer.step()

    full = median_ms(lambda: step(None), args.runs, 2, args.repeat)
    windowed = median_ms(lambda: step(OutputWindows(offsets, WINDOW)), args.runs, 2,
                         args.repeat)
    sys.stdout.write(f'{args.variant}, batch {args.batch}, {args.threads} threads: full map '
                     f'{full:.0f} ms, windows {windowed:.0f} ms per step '
                     f'({full / windowed:.2f}x)\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
