"""
Benchmark the registered networks on this machine's CPU.

For each variant (aliases counted once): the parameter count (from the meta device, so even the
largest costs nothing), the ONNX file size, ONNX Runtime's median latency for one image at 1 and
2 intra-op threads, and the median time of one torch training step (forward, a dummy loss and
backward) on a batch. Variants above ``--max-params`` are only counted, not run.

Each timing is measured in ``--repeat`` blocks and the lowest block median is reported: on a
machine shared with other jobs, that discounts the blocks they slowed down.

Usage::

    .venv/bin/python trainer/benchmarks/bench_models.py                 # every affordable one
    .venv/bin/python trainer/benchmarks/bench_models.py --variants light --runs 50
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import onnxruntime as ort
from ros2_depth_trainer.export import onnx_bytes, seeded_model
from ros2_depth_trainer.models import build_model, ModelConfig, VARIANTS
from ros2_depth_trainer.sidecar import EXPORTABLE_FAMILIES
import torch
from torch import nn, Tensor

DEFAULT_MAX_PARAMS = 150e6  # the VGG16 variants (about 218 M) take minutes per step here


@dataclasses.dataclass
class Result:
    """The measurements of one variant; None where not measured."""

    name: str
    params: int
    onnx_mb: Optional[float] = None
    ort_ms: Dict[int, float] = dataclasses.field(default_factory=dict)
    train_ms: Optional[float] = None
    note: str = ''


def distinct_variants(names: Optional[Sequence[str]] = None) -> Dict[str, ModelConfig]:
    """Return {variant: config} for ``names`` (default: all), one per config, canonical names."""
    chosen: Dict[str, ModelConfig] = {}
    for name in names or sorted(VARIANTS, key=lambda n: (VARIANTS[n].name != n, n)):
        config = VARIANTS[name]
        if config not in chosen.values():
            chosen[name] = config
    return dict(sorted(chosen.items()))


def parameter_count(config: ModelConfig) -> int:
    """Return the parameter count, building the model on the meta device (no memory)."""
    with torch.device('meta'):
        model = build_model(config)
    return sum(p.numel() for p in model.parameters())


def median_ms(run: Callable[[], object], runs: int, warmup: int, repeat: int = 1) -> float:
    """Return the lowest of ``repeat`` medians of ``runs`` timed calls, in milliseconds."""
    for _ in range(warmup):
        run()
    medians = []
    for _ in range(repeat):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return 1000.0 * min(medians)


def ort_latency_ms(model_bytes: bytes, height: int, width: int, threads: int, runs: int,
                   warmup: int, repeat: int = 1) -> float:
    """Return ONNX Runtime's median latency for one image with ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model_bytes, options, providers=['CPUExecutionProvider'])
    image = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    return median_ms(lambda: session.run(None, {'image': image}), runs, warmup, repeat)


def model_inputs(config: ModelConfig, batch: int) -> List[Tensor]:
    """Return random forward() inputs: the image, plus depth and normals for 'semantic'."""
    size = (config.input_height, config.input_width)
    inputs = [torch.randn(batch, 3, *size)]
    if config.family == 'semantic':
        inputs += [1.0 + 4.0 * torch.rand(batch, 1, *size), torch.randn(batch, 3, *size)]
    return inputs


def train_step_ms(model: nn.Module, config: ModelConfig, batch: int, runs: int,
                  warmup: int, repeat: int = 1) -> float:
    """Return the median time of forward + dummy loss + backward on a batch (train mode)."""
    model.train()
    inputs = model_inputs(config, batch)

    def step() -> None:
        outputs = model(*inputs)
        loss = sum(out.float().square().mean() for out in outputs.values())
        loss.backward()
        model.zero_grad(set_to_none=True)

    return median_ms(step, runs, warmup, repeat)


def benchmark(name: str, config: ModelConfig, args: argparse.Namespace) -> Result:
    """Measure one variant as the command line asks."""
    result = Result(name=name, params=parameter_count(config))
    if result.params > args.max_params:
        result.note = f'not run (> {args.max_params / 1e6:.0f} M parameters)'
        return result
    model = seeded_model(config, 0).eval()
    if config.family in EXPORTABLE_FAMILIES and not args.no_onnx:
        data = onnx_bytes(model)
        result.onnx_mb = len(data) / 1e6
        for threads in args.ort_threads:
            result.ort_ms[threads] = ort_latency_ms(
                data, config.input_height, config.input_width, threads, args.runs, args.warmup,
                args.repeat)
        del data
    elif config.family not in EXPORTABLE_FAMILIES:
        result.note = 'not exportable (depth and normals inputs)'
    if args.batch > 0:
        torch.set_num_threads(args.torch_threads)
        result.train_ms = train_step_ms(model, config, args.batch, args.train_runs, 1,
                                        args.repeat)
    return result


def format_row(result: Result, threads: Sequence[int]) -> str:
    """Return one table row."""
    def cell(value: Optional[float], width: int, digits: int) -> str:
        return f'{"-":>{width}}' if value is None else f'{value:{width}.{digits}f}'

    cells = [f'{result.name:<20}', cell(result.params / 1e6, 9, 2), cell(result.onnx_mb, 8, 1)]
    cells += [cell(result.ort_ms.get(t), 9, 1) for t in threads]
    cells += [cell(result.train_ms, 10, 0), result.note]
    return ' '.join(cells)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[1])
    parser.add_argument('--variants', nargs='+', choices=sorted(VARIANTS),
                        help='variants to measure (default: all, aliases once)')
    parser.add_argument('--runs', type=int, default=20,
                        help='timed ONNX Runtime runs per block')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs first')
    parser.add_argument('--ort-threads', type=int, nargs='+', default=[1, 2],
                        help='intra-op thread counts for ONNX Runtime (default: 1 2)')
    parser.add_argument('--batch', type=int, default=8,
                        help='training-step batch size; 0 skips the training step')
    parser.add_argument('--train-runs', type=int, default=3,
                        help='timed training steps per block')
    parser.add_argument('--repeat', type=int, default=3,
                        help='timing blocks; the lowest block median is reported')
    parser.add_argument('--torch-threads', type=int, default=2,
                        help='torch intra-op threads for the training step')
    parser.add_argument('--max-params', type=float, default=DEFAULT_MAX_PARAMS,
                        help='count, but do not run, larger models (default: %(default).0f)')
    parser.add_argument('--no-onnx', action='store_true', help='skip export and ONNX Runtime')
    args = parser.parse_args(argv)

    print(f'torch {torch.__version__}, onnxruntime {ort.__version__}, '
          f'{torch.get_num_threads()} torch threads available; ONNX latency: one image, lowest '
          f'of {args.repeat} medians of {args.runs}; training step (forward + backward): batch '
          f'{args.batch}, lowest of {args.repeat} medians of {args.train_runs}, '
          f'{args.torch_threads} threads')
    header = [f'{"variant":<20}', f'{"params M":>9}', f'{"ONNX MB":>8}']
    header += [f'{f"ORT {t}t ms":>9}' for t in args.ort_threads]
    header += [f'{"train ms":>10}', 'note']
    print(' '.join(header))
    for name, config in distinct_variants(args.variants).items():
        result = benchmark(name, config, args)
        print(format_row(result, args.ort_threads), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
