"""
The demo: a camera walking down a corridor, fed to a live depth_node over ROS 2, results on disk.

The node runs as its own process on the bundled model (ONNX Runtime on the CPU unless told
otherwise); this process plays the camera (rgb8 640x480 plus camera_info) and records what the node
publishes. The corridor is ray-cast, so every predicted depth map is scored against exact ground
truth on the node's own output grid (read back from depth/camera_info).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
import time
from typing import Dict, List, Optional

import cv2
import numpy as np
from ros2_depth.camera_model import camera_from_info, PinholeCamera
from ros2_depth.demo_scene import Corridor, render_depth, render_image
from ros2_depth.depth_client import (
    camera_info_msg,
    DepthClient,
    image_msg,
    isolated_ros_env,
    start_node_process,
    stop_process,
)
from ros2_depth.geometry import backproject
from ros2_depth.image_encoding import image_to_numpy
from ros2_depth.metrics import depth_metrics
from ros2_depth.visualize import colorize_depth, colorize_normals, labelled, sheet, write_ply
from tqdm import tqdm

LOG = logging.getLogger(__name__)
NAMESPACE = '/demo_camera'
FRAME_ID = 'demo_camera_optical_frame'
CAMERA = PinholeCamera(width=640, height=480, fx=525.0, fy=525.0, cx=319.5, cy=239.5)


class DemoError(RuntimeError):
    """The demo could not run; the message says why and what to try."""


@dataclasses.dataclass
class DemoOptions:
    """What the demo runs and where it writes."""

    output: Path = Path('demo_output')
    frames: int = 24
    rate_hz: float = 5.0
    model: str = ''
    backend: str = 'onnxruntime'
    num_threads: int = 2
    timeout_s: float = 60.0


def _frame_outputs(msgs: Dict[str, object]):
    depth = image_to_numpy(msgs['depth'])
    normals = image_to_numpy(msgs['normals'])
    camera = camera_from_info(msgs['info'])
    return depth, normals, camera


def run_demo(options: DemoOptions) -> Dict[str, object]:
    """Run the demo; return (and write to summary.json) what happened, frame by frame."""
    out = Path(options.output)
    (out / 'frames').mkdir(parents=True, exist_ok=True)
    env = isolated_ros_env(salt=17)
    node_log = out / 'depth_node.log'
    ros_args = ['-p', f'backend:={options.backend}', '-p', f'num_threads:={options.num_threads}']
    if options.model:
        ros_args += ['-p', f'model:={Path(options.model).resolve()}']
    proc = start_node_process(node_log, env, NAMESPACE, ros_args)
    client = DepthClient(env, NAMESPACE, name='demo_camera')
    corridor = Corridor()
    records: List[Dict[str, object]] = []
    preview_rows: List[List[np.ndarray]] = []
    preview_every = max(options.frames // 4, 1)
    try:
        if not client.wait_for_node(options.timeout_s):
            raise DemoError(
                f'depth_node did not come up within {options.timeout_s:.0f} s; its log '
                f'({node_log}) ends with:\n{_tail(node_log)}'
            )
        period = 1.0 / options.rate_hz
        for index in tqdm(range(options.frames), desc='demo frames', unit='frame'):
            started = time.monotonic()
            rgb = render_image(corridor, CAMERA, index, options.frames)
            stamp_ns = client.node.get_clock().now().nanoseconds
            stamp = (stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000)
            sent = time.monotonic()
            if not client.send_until_complete(
                image_msg(stamp, FRAME_ID, rgb),
                camera_info_msg(stamp, FRAME_ID, CAMERA),
                timeout=options.timeout_s,
            ):
                raise DemoError(
                    f'no outputs for frame {index} within {options.timeout_s:.0f} s; '
                    f'depth_node log ({node_log}):\n{_tail(node_log)}'
                )
            msgs = client.received.pop(stamp)
            depth, normals, out_camera = _frame_outputs(msgs)
            truth = render_depth(corridor, out_camera, index, options.frames)
            record = {
                'frame': index,
                'round_trip_ms': 1e3 * (client.arrival_time[stamp] - sent),
                **depth_metrics(depth, truth),
            }
            records.append(record)
            far = float(np.nanmax(truth))
            cv2.imwrite(
                str(out / 'frames' / f'{index:04d}_depth.png'), colorize_depth(depth, 0.5, far)
            )
            cv2.imwrite(
                str(out / 'frames' / f'{index:04d}_normals.png'), colorize_normals(normals)
            )
            if index % preview_every == 0 and len(preview_rows) < 4:
                size = (320, 240)
                preview_rows.append(
                    [
                        labelled(
                            cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), f'frame {index}: camera', size
                        ),
                        labelled(colorize_depth(depth, 0.5, far), 'predicted depth', size),
                        labelled(colorize_depth(truth, 0.5, far), 'true depth', size),
                        labelled(colorize_normals(normals), 'predicted normals', size),
                    ]
                )
            if index == options.frames - 1:
                points = backproject(depth, out_camera)
                write_ply(out / 'points_last_frame.ply', points, _colors(rgb, points))
            time.sleep(max(0.0, period - (time.monotonic() - started)))
    finally:
        client.close()
        code = stop_process(proc)
    if code != 0:
        raise DemoError(
            f'depth_node exited with code {code}; log ({node_log}):\n{_tail(node_log)}'
        )
    cv2.imwrite(str(out / 'preview.png'), sheet(preview_rows))
    summary = _summary(options, records, node_log)
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    return summary


def _colors(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Colour of each point: the camera pixel it projects to."""
    pixels = np.rint(CAMERA.project(np.nan_to_num(points, nan=1.0))).astype(int)
    u = np.clip(pixels[..., 0], 0, CAMERA.width - 1)
    v = np.clip(pixels[..., 1], 0, CAMERA.height - 1)
    return rgb[v, u]


def _summary(
    options: DemoOptions, records: List[Dict[str, object]], node_log: Path
) -> Dict[str, object]:
    model_line = next(
        (line for line in node_log.read_text().splitlines() if ']: model ' in line), ''
    )
    keys = [k for k in records[0] if k != 'frame']
    mean = {k: float(np.mean([r[k] for r in records])) for k in keys}
    return {
        'frames': len(records),
        'model': model_line.split(']: ', 1)[-1],
        'untrained_model': 'untrained' in node_log.read_text(),
        'backend': options.backend,
        'camera': dataclasses.asdict(CAMERA),
        'mean': mean,
        'per_frame': records,
    }


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return '\n'.join(path.read_text().splitlines()[-lines:])
    except OSError:
        return '(no log)'


def describe(summary: Dict[str, object], output: Optional[Path] = None) -> str:
    """Return a few lines for the terminal: model, accuracy, timing, where the files are."""
    mean = summary['mean']
    lines = [
        f'depth_node ran {summary["frames"]} frames: {summary["model"]}',
        f'  against the true depth: abs rel {mean["abs_rel"]:.3f}, '
        f'delta<1.25 {mean["delta1"]:.3f}, RMSE {mean["rmse"]:.2f} m',
        f'  round trip (publish -> every output received): {mean["round_trip_ms"]:.0f} ms mean',
    ]
    if summary['untrained_model']:
        lines.append(
            '  note: the bundled model has untrained weights, so its depth is not meaningful yet'
        )
    if output is not None:
        lines.append(f'  wrote {output}/preview.png, frames/, points_last_frame.ply, summary.json')
    return '\n'.join(lines)
