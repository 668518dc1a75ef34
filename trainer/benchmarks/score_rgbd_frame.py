"""
Score an exported model on one real RGB-D frame, the way depth_node runs it.

The colour image goes through the runtime pipeline (``DepthPipeline``: the node's crop, the
model, metric depth in metres on the output grid); the frame's depth is resampled onto that grid
through the two cameras (nearest neighbour, as ``scripts/demo`` scores bags) and the depth
metrics are computed over (min, max) metres, once as predicted and once with the prediction
scaled by its median ratio to the truth (what a model that got the scale wrong would score).
Writes a figure like the papers' Figure 2 (RGB, prediction, truth, one colour scale).

Usage (the TUM RGB-D frame beside the checkout, depth = value / 5000 m; one line)::

    .venv/bin/python trainer/benchmarks/score_rgbd_frame.py
        ../shared/data/tum_rgbd_frame/TUM_color.png ../shared/data/tum_rgbd_frame/TUM_depth.png
        --depth-scale 5000 --intrinsics 525 525 319.5 239.5 --figure eval/tum_frame.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Dict, List, Optional

import cv2
import numpy as np
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.run import resample_depth
from ros2_depth.metrics import depth_metrics
from ros2_depth.model_spec import load_spec
from ros2_depth.pipeline import DepthPipeline
from ros2_depth.resources import default_model_path
from ros2_depth_trainer.evaluate import median_ratio
from ros2_depth_trainer.figures import depth_figure, FigureRow

ROWS = ('delta1', 'delta2', 'delta3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'sc_inv')


def score(pred: np.ndarray, truth: np.ndarray, low: float, high: float) -> Dict[str, float]:
    """Return the depth metrics and the median truth/prediction ratio over the scored pixels."""
    metrics = depth_metrics(pred, truth, None, low, high)
    with np.errstate(invalid='ignore'):
        scored = np.isfinite(truth) & (truth > low) & (truth < high)
    metrics['median_ratio'] = median_ratio(pred, truth, scored)
    return metrics


def main(argv: Optional[List[str]] = None) -> int:
    """Score the model on one frame; write the table to stdout and the figure."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('color', type=Path, help='colour image (8-bit PNG or JPEG)')
    parser.add_argument('depth', type=Path, help='registered uint16 depth PNG, 0 = no depth')
    parser.add_argument('--depth-scale', type=float, required=True,
                        help='depth PNG units per metre (TUM 5000, NYU and Kinect mm 1000)')
    parser.add_argument('--intrinsics', type=float, nargs=4, required=True,
                        metavar=('FX', 'FY', 'CX', 'CY'))
    parser.add_argument('--model', type=Path, default=None, help='sidecar (default: bundled)')
    parser.add_argument('--range', type=float, nargs=2, default=(1e-3, 10.0),
                        metavar=('MIN', 'MAX'), help='scored depths in metres (default: NYU)')
    parser.add_argument('--figure', type=Path, help='PNG to write (RGB, prediction, truth)')
    args = parser.parse_args(argv)

    bgr = cv2.imread(str(args.color), cv2.IMREAD_COLOR)
    raw = cv2.imread(str(args.depth), cv2.IMREAD_UNCHANGED)
    if bgr is None or raw is None or raw.dtype != np.uint16 or raw.shape != bgr.shape[:2]:
        sys.stderr.write('need a colour image and a uint16 depth PNG of the same size\n')
        return 1
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    depth = np.where(raw > 0, raw / np.float32(args.depth_scale), np.nan).astype(np.float32)
    camera = PinholeCamera(rgb.shape[1], rgb.shape[0], *args.intrinsics)
    spec = load_spec(args.model or default_model_path())
    result = DepthPipeline(spec, create_backend('onnxruntime', spec)).run(rgb, 'rgb8', camera)
    truth = resample_depth(depth, camera, result.camera)
    low, high = args.range
    raw_scores = score(result.depth, truth, low, high)
    scaled_scores = score(result.depth * raw_scores['median_ratio'], truth, low, high)
    out = [f'{spec.name} on {args.color.name}: output {result.camera.width}x'
           f'{result.camera.height}, depth scored in ({low:g}, {high:g}) m',
           f'{"":24}{"as predicted":>14}{"median-scaled":>15}']
    for key in ROWS + ('median_ratio',):
        out.append(f'{key:24}{raw_scores[key]:14.3f}{scaled_scores[key]:15.3f}')
    sys.stdout.write('\n'.join(out) + '\n')
    if args.figure:
        small = cv2.resize(rgb, (result.camera.width, result.camera.height),
                           interpolation=cv2.INTER_AREA)
        row = FigureRow(index=0, image=small, truth=truth,
                        predictions={spec.name: result.depth})
        depth_figure([row], [spec.name], args.figure)
        sys.stdout.write(f'wrote {args.figure}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
