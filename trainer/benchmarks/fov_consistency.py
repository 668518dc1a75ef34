"""
How a model's depth scale changes with the camera's field of view, as the runtime pipeline runs it.

One generated scene is rendered from one pose at several horizontal fields of view (ideal sensor,
640x480); each view goes through ``DepthPipeline`` with its own intrinsics. Prints, per view, the
median ratio of its depth to the narrowest view's at the same rays, and its median
prediction/truth ratio (``synth.fov_views.scale_agreement``), then over all scenes the median
deviation of those ratios from 1 and the share of views within 10 %. A model with a metric scale
gives ratios near 1; one without it cannot tell a narrow view from a close-up. ``--resize-mode``
picks the pipeline's resize mode (the node's default, 'canonical', or 'crop', which leaves the
whole field-of-view difference to the depth factor).

Usage::

    .venv/bin/python trainer/benchmarks/fov_consistency.py --model engines/default.json \
        --kind robot --seed 7 --index 3 --fovs 45 60 90 --resize-mode canonical
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import List, Optional

import numpy as np
from ros2_depth.backends import create_backend
from ros2_depth.model_spec import load_spec
from ros2_depth.pipeline import DepthPipeline, RESIZE_MODES
from ros2_depth.resources import default_model_path
from ros2_depth_trainer.synth.fov_views import render_fov_views, scale_agreement


def main(argv: Optional[List[str]] = None) -> int:
    """Render the views, run the model, write one line per view to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', type=Path, default=None, help='sidecar (default: bundled)')
    parser.add_argument('--kind', default='robot')
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--index', type=int, nargs='+', default=[3])
    parser.add_argument('--fovs', type=float, nargs='+', default=[45.0, 60.0, 90.0])
    parser.add_argument('--resize-mode', choices=RESIZE_MODES, default='canonical')
    args = parser.parse_args(argv)
    spec = load_spec(args.model or default_model_path())
    pipeline = DepthPipeline(spec, create_backend('onnxruntime', spec, num_threads=2),
                             args.resize_mode)
    sys.stdout.write(f'{spec.name} ({"metric scale" if spec.metric_scale else "no metric scale"})'
                     f', {args.resize_mode}: {args.kind} seed {args.seed}\n')
    ratios = []
    for index in args.index:
        views = render_fov_views(args.kind, args.seed, index, args.fovs, 640, 480)
        outputs = {}
        for fov, (rgb, truth, camera) in views.items():
            result = pipeline.run(rgb, 'rgb8', camera, want_normals=False)
            outputs[fov] = (result.depth, result.camera, truth, camera)
        agreement = scale_agreement(outputs)
        ratios += list(agreement['rays'].values())
        for fov in sorted(views):
            ray = agreement['rays'].get(fov, 1.0)
            sys.stdout.write(f'index {index} fov {fov:5.1f}: depth / narrowest view at the same '
                             f'rays {ray:.3f}, prediction / truth {agreement["truth"][fov]:.3f}\n')
    deviation = np.abs(np.asarray(ratios) - 1.0)
    sys.stdout.write(f'{len(ratios)} views against the narrowest: median |ratio - 1| '
                     f'{np.median(deviation):.3f}, within 10 % {np.mean(deviation < 0.1):.0%}\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
