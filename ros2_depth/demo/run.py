"""
The demo: recorded camera bags replayed through a live depth_node over ROS 2, results on disk.

The node runs as its own process on the bundled model (ONNX Runtime on the CPU unless told
otherwise). This process reads each bag (the sample bags in share/ros2_depth/bags, or the user's),
publishes its images and camera_info with the bags' own header stamps, and records what the node
publishes. Where the bag has depth, each predicted depth map is scored against it, resampled onto
the node's output grid (read back from depth/camera_info).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from pathlib import Path
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from ros2_depth.camera_model import camera_from_info, PinholeCamera
from ros2_depth.demo.bag_source import BagError, BagFrame, BagSource
from ros2_depth.demo.depth_client import (
    camera_info_msg,
    DepthClient,
    image_msg,
    isolated_ros_env,
    start_node_process,
    stop_process,
)
from ros2_depth.demo.visualize import (
    colorize_depth, colorize_normals, far_limit, labelled, NEAR_M, sheet, write_ply)
from ros2_depth.image_encoding import image_to_numpy
from ros2_depth.metrics import DEPTH_METRICS, depth_metrics
from ros2_depth.model_spec import load_spec, ModelSpecError
from ros2_depth.resources import default_model_path, share_directory, with_fastdds_profile
from ros2_depth.ros_messages import cloud_to_structured
from tqdm import tqdm

LOG = logging.getLogger(__name__)
NAMESPACE = '/demo_camera'
PREVIEW_SIZE = (320, 240)


class DemoError(RuntimeError):
    """The demo could not run; the message says why and what to try."""


@dataclasses.dataclass
class DemoOptions:
    """What the demo replays, through which model, and where it writes."""

    output: Path = Path('demo_output')
    bags: Sequence[Path] = ()
    frames: int = 0
    rate_hz: float = 0.0
    model: str = ''
    backend: str = 'onnxruntime'
    num_threads: int = 2
    timeout_s: float = 60.0
    image_topic: Optional[str] = None
    camera_info_topic: Optional[str] = None
    depth_topic: Optional[str] = None


def bundled_bags() -> List[Path]:
    """Return the sample bags shipped with the package (share/ros2_depth/bags), sorted by name."""
    folder = share_directory() / 'bags'
    bags = sorted(p for p in folder.glob('*') if (p / 'metadata.yaml').is_file())
    if not bags:
        raise DemoError(
            f'no sample bags in {folder}; pass a rosbag2 with --bag PATH '
            '(bags/README.md in the source tree regenerates the samples)'
        )
    return bags


def resample_depth(
    depth: np.ndarray, camera: PinholeCamera, out_camera: PinholeCamera
) -> np.ndarray:
    """
    Sample `depth` (on `camera`'s grid) at the pixel centres of `out_camera`, nearest neighbour.

    Output pixel u' looks at input u = (u' - cx') * fx / fx' + cx, likewise v. Nearest neighbour
    never mixes depths across an edge; invalid (NaN) stays invalid, and output pixels that fall
    outside the input image are NaN.
    """
    u = (np.arange(out_camera.width) - out_camera.cx) * camera.fx / out_camera.fx + camera.cx
    v = (np.arange(out_camera.height) - out_camera.cy) * camera.fy / out_camera.fy + camera.cy
    col = np.floor(u + 0.5).astype(np.int64)
    row = np.floor(v + 0.5).astype(np.int64)
    inside_col = (col >= 0) & (col < depth.shape[1])
    inside_row = (row >= 0) & (row < depth.shape[0])
    out = depth[np.clip(row, 0, depth.shape[0] - 1)[:, None], np.clip(col, 0, depth.shape[1] - 1)]
    out = out.astype(np.float32)
    out[~(inside_row[:, None] & inside_col[None, :])] = np.nan
    return out


def as_rgb(image: np.ndarray, encoding: str) -> np.ndarray:
    """Return an (H, W, 3) uint8 RGB view of an image in a colour encoding the node accepts."""
    if encoding == 'mono8':
        return np.repeat(image[..., None], 3, axis=2)
    if encoding in ('bgr8', 'bgra8'):
        return image[..., 2::-1]
    return image[..., :3]


def _bag_names(bags: Sequence[Path]) -> List[str]:
    """Output folder names: each bag's directory (or file stem), made unique."""
    names: List[str] = []
    for bag in bags:
        bag = Path(bag)
        base = bag.stem if bag.is_file() else bag.name
        name, n = base or 'bag', 2
        while name in names:
            name, n = f'{base}_{n}', n + 1
        names.append(name)
    return names


def _open_bags(options: DemoOptions) -> List[BagSource]:
    bags = list(options.bags) or bundled_bags()
    sources: List[BagSource] = []
    try:
        for bag in bags:
            sources.append(
                BagSource(
                    bag,
                    image_topic=options.image_topic,
                    camera_info_topic=options.camera_info_topic,
                    depth_topic=options.depth_topic,
                )
            )
    except BagError as exc:
        for source in sources:
            source.close()
        raise DemoError(str(exc)) from exc
    return sources


def run_demo(options: DemoOptions) -> Dict[str, Any]:
    """Replay every bag through depth_node; return (and write to summary.json) what happened."""
    out = Path(options.output)
    sources = _open_bags(options)
    out.mkdir(parents=True, exist_ok=True)
    env = with_fastdds_profile(isolated_ros_env(salt=17))  # images through shared memory
    node_log = out / 'depth_node.log'
    ros_args = ['-p', f'backend:={options.backend}', '-p', f'num_threads:={options.num_threads}']
    if options.model:
        ros_args += ['-p', f'model:={Path(options.model).resolve()}']
    try:
        spec = load_spec(Path(options.model) if options.model else default_model_path())
        has_labels = spec.output('labels') is not None
    except ModelSpecError:
        has_labels = False  # the node says what is wrong with the model, in its own log
    proc = start_node_process(node_log, env, NAMESPACE, ros_args, layout=True)
    client = DepthClient(env, NAMESPACE, name='demo_camera', labels=has_labels, layout=True)
    bag_summaries: List[Dict[str, Any]] = []
    try:
        if not client.wait_for_node(options.timeout_s):
            raise DemoError(
                f'depth_node did not come up within {options.timeout_s:.0f} s; its log '
                f'({node_log}) ends with:\n{_tail(node_log)}'
            )
        for name, source in zip(_bag_names([s.path for s in sources]), sources):
            bag_summaries.append(_replay(client, source, out / name, options, node_log))
            # Outputs of repeated sends may still be on their way: let them land, then forget
            # them, since the next bag may reuse the same stamps.
            client.spin_until(lambda: False, 0.3)
            client.received.clear()
            client.arrival_time.clear()
    except BagError as exc:
        raise DemoError(str(exc)) from exc
    finally:
        for source in sources:
            source.close()
        client.close()
        code = stop_process(proc)
    if code != 0:
        raise DemoError(
            f'depth_node exited with code {code}; log ({node_log}):\n{_tail(node_log)}'
        )
    log_text = node_log.read_text()
    model_line = next((line for line in log_text.splitlines() if ']: model ' in line), '')
    summary = {
        'model': model_line.split(']: ', 1)[-1],
        'untrained_model': 'untrained' in log_text,
        'backend': options.backend,
        'bags': bag_summaries,
    }
    for bag_summary in bag_summaries:
        per_bag = {k: v for k, v in summary.items() if k != 'bags'}
        per_bag.update(bag_summary)
        (out / bag_summary['name'] / 'summary.json').write_text(
            json.dumps(per_bag, indent=2) + '\n'
        )
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    return summary


def _frame_outputs(
    msgs: Dict[str, Any]
) -> Tuple[np.ndarray, np.ndarray, PinholeCamera, Optional[np.ndarray]]:
    """Depth, normals, their intrinsics and the coloured labels (if any) of one frame."""
    depth = image_to_numpy(msgs['depth'])
    normals = image_to_numpy(msgs['normals'])
    labels = image_to_numpy(msgs['labels_color']) if 'labels_color' in msgs else None
    return depth, normals, camera_from_info(msgs['info']), labels


def _camera_dict(camera: PinholeCamera) -> Dict[str, float]:
    """Intrinsics as plain JSON numbers."""
    return {
        key: int(value) if key in ('width', 'height') else float(value)
        for key, value in dataclasses.asdict(camera).items()
    }


def _replay(
    client: DepthClient, source: BagSource, out: Path, options: DemoOptions, node_log: Path
) -> Dict[str, Any]:
    """Play one bag to the node frame by frame; write its pictures; return its summary."""
    (out / 'frames').mkdir(parents=True, exist_ok=True)
    total = source.frame_count if options.frames <= 0 else min(options.frames, source.frame_count)
    preview_every = max(total // 4, 1)
    records: List[Dict[str, Any]] = []
    preview_rows: List[List[np.ndarray]] = []
    last: Optional[Tuple[BagFrame, Any]] = None
    previous_ns: Optional[int] = None
    sent = time.monotonic()
    with tqdm(total=total, desc=out.name, unit='frame') as progress:
        for frame in itertools.islice(source, total):
            if options.rate_hz > 0:
                period = 1.0 / options.rate_hz
            else:
                period = 0.0 if previous_ns is None else (frame.stamp_ns - previous_ns) * 1e-9
            previous_ns = frame.stamp_ns
            time.sleep(min(max(0.0, period - (time.monotonic() - sent)), 2.0))
            stamp = frame.stamp
            client.received.pop(stamp, None)
            sent = time.monotonic()
            if not client.send_until_complete(
                image_msg(stamp, frame.frame_id, frame.image, frame.encoding),
                camera_info_msg(stamp, frame.frame_id, frame.camera),
                timeout=options.timeout_s,
            ):
                raise DemoError(
                    f'no outputs for frame {frame.index} of {source.path} within '
                    f'{options.timeout_s:.0f} s; depth_node log ({node_log}):\n{_tail(node_log)}'
                )
            arrived = client.arrival_time.pop(stamp)
            msgs = client.received.pop(stamp)
            depth, normals, out_camera, labels = _frame_outputs(msgs)
            record: Dict[str, Any] = {
                'frame': frame.index,
                'stamp': f'{stamp[0]}.{stamp[1]:09d}',
                'round_trip_ms': 1e3 * (arrived - sent),
            }
            truth = None
            if frame.depth is not None:
                truth = resample_depth(frame.depth, frame.camera, out_camera)
                try:
                    record.update(depth_metrics(depth, truth))
                except ValueError:
                    record['no_valid_truth'] = True
            records.append(record)
            far = far_limit(truth if truth is not None and np.isfinite(truth).any() else depth)
            depth_picture = colorize_depth(depth, NEAR_M, far)
            cv2.imwrite(str(out / 'frames' / f'{frame.index:04d}_depth.png'), depth_picture)
            cv2.imwrite(
                str(out / 'frames' / f'{frame.index:04d}_normals.png'), colorize_normals(normals)
            )
            labels_picture = None
            if labels is not None:
                labels_picture = np.ascontiguousarray(labels[..., ::-1])
                cv2.imwrite(str(out / 'frames' / f'{frame.index:04d}_labels.png'), labels_picture)
            rgb = as_rgb(frame.image, frame.encoding)
            if frame.index % preview_every == 0 and len(preview_rows) < 4:
                if truth is not None:
                    truth_picture = colorize_depth(truth, NEAR_M, far)
                else:
                    truth_picture = np.zeros(PREVIEW_SIZE[::-1] + (3,), np.uint8)
                truth_label = 'true depth' if truth is not None else 'no depth in the bag'
                row = [
                    labelled(
                        np.ascontiguousarray(rgb[..., ::-1]),
                        f'frame {frame.index}: camera',
                        PREVIEW_SIZE,
                    ),
                    labelled(depth_picture, 'predicted depth', PREVIEW_SIZE),
                    labelled(truth_picture, truth_label, PREVIEW_SIZE),
                    labelled(colorize_normals(normals), 'predicted normals', PREVIEW_SIZE),
                ]
                if labels_picture is not None:
                    row.append(labelled(labels_picture, 'predicted labels', PREVIEW_SIZE))
                preview_rows.append(row)
            last = (frame, msgs['points'])
            progress.update()
    if last is None:
        raise DemoError(f'bag {source.path} has no usable frame on {source.topics.image}')
    frame, cloud = last
    write_ply(out / 'points_last_frame.ply', *cloud_points(cloud))
    cv2.imwrite(str(out / 'preview.png'), sheet(preview_rows))
    scored = [r for r in records if 'abs_rel' in r]
    mean = {'round_trip_ms': float(np.mean([r['round_trip_ms'] for r in records]))}
    for key in DEPTH_METRICS if scored else ():
        mean[key] = float(np.mean([r[key] for r in scored]))
    return {
        'name': out.name,
        'bag': str(source.path),
        'topics': dataclasses.asdict(source.topics),
        'frames': len(records),
        'scored_frames': len(scored),
        'camera': _camera_dict(frame.camera),
        'output_camera': _camera_dict(out_camera),
        'mean': mean,
        'per_frame': records,
    }


def cloud_points(cloud: Any) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """
    Return the (H, W, 3) points of a received PointCloud2 and their (H, W, 3) uint8 colours.

    The colours come from the cloud's packed rgb field (uint32 0x00RRGGBB in a float32), or
    None when it has none.
    """
    fields = cloud_to_structured(cloud)
    points = np.stack([fields[axis] for axis in 'xyz'], -1).astype(np.float32)
    if 'rgb' not in fields.dtype.names:
        return points, None
    packed = np.ascontiguousarray(fields['rgb'])
    bits = packed.view(packed.dtype.str.replace('f', 'u'))  # the same bytes as uint32
    colors = np.stack([bits >> 16, bits >> 8, bits], -1).astype(np.uint8)  # keeps the low byte
    return points, colors


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return '\n'.join(path.read_text().splitlines()[-lines:])
    except OSError:
        return '(no log)'


def describe(summary: Dict[str, Any], output: Optional[Path] = None) -> str:
    """Return a few lines for the terminal: model, accuracy per bag, timing, output files."""
    bags = summary['bags']
    frames = sum(b['frames'] for b in bags)
    lines = [f'depth_node replayed {len(bags)} bag(s), {frames} frames: {summary["model"]}']
    for bag in bags:
        mean = bag['mean']
        camera = bag['camera']
        size = f'{camera["width"]}x{camera["height"]}'
        head = f'  {bag["name"]} ({bag["frames"]} frames, {size})'
        if bag['scored_frames']:
            lines.append(
                f'{head} against the depth in the bag: abs rel {mean["abs_rel"]:.3f}, '
                f'delta<1.25 {mean["delta1"]:.3f}, RMSE {mean["rmse"]:.2f} m; '
                f'round trip {mean["round_trip_ms"]:.0f} ms mean'
            )
        else:
            lines.append(
                f'{head}: no depth in the bag to score against; '
                f'round trip {mean["round_trip_ms"]:.0f} ms mean'
            )
    if summary['untrained_model']:
        lines.append('  note: the model has untrained weights, so its depth is not meaningful yet')
    if output is not None:
        names = ', '.join(b['name'] for b in bags)
        lines.append(
            f'  wrote {output}/<bag>/ ({names}): preview.png, frames/, points_last_frame.ply, '
            f'summary.json; all bags: {output}/summary.json'
        )
    return '\n'.join(lines)
