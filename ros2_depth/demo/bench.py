"""
`ros2-depth bench`: latency and parity of every backend and precision present on this machine.

Rows are (backend, settings, precision): each backend of ``ros2_depth.backends.BACKENDS`` and
``KNOWN_BACKENDS`` with each of its ``BENCH_SETTINGS`` (ONNX Runtime: the CPU, CUDA and TensorRT
execution providers), for each precision the model has (FP32, and INT8 where its
``NAME.int8.json`` lies beside it). What this machine lacks is listed as skipped, with why.

For each row: inference latency at batch 1 (median, p90, frames per second; the rows are timed
in turn, one run each per round, so that load from other processes falls on all of them alike),
and how far its depth and normals, through the node's whole pipeline (resize, inference, metric
scale, normals), lie from those of the reference row, ONNX Runtime FP32 on the CPU: on generated
frames (``demo.scene``'s corridor, seeded) and, with ``real``, on a folder of real RGB-D frames.
With ``node``, depth_node (as its own process, over DDS) is timed end to end for each CPU
precision, beside a bare rclpy relay (``demo.relay``), the DDS floor, in the same run.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from pathlib import Path
import platform
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from ros2_depth.backends import (backend_unavailable, BackendError, BACKENDS, BENCH_SETTINGS,
                                 create_backend, KNOWN_BACKENDS)
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.scene import Corridor, render_image
from ros2_depth.model_spec import load_spec_for_precision, ModelSpec, ModelSpecError, PRECISIONS
from ros2_depth.pipeline import DepthPipeline, label_palette

REFERENCE = ('onnxruntime', 'cpu', 'fp32')
FRAME_SIZE = (640, 480)
CAMERA = PinholeCamera(640, 480, 525.0, 525.0, 319.5, 239.5)
NODE_NAMESPACE = '/bench_camera'
NODE_FRAME = 'bench_camera_optical_frame'
# depth_node's /diagnostics values kept with its timing: what became of the frames sent.
NODE_COUNTERS = ('precision', 'received', 'processed', 'dropped_stale', 'dropped_no_info',
                 'info_substituted', 'errors')


@dataclasses.dataclass
class Row:
    """One backend with its settings and a precision."""

    backend: str
    setting: str
    precision: str
    options: Dict[str, Any]

    @property
    def key(self) -> Tuple[str, str, str]:
        """(backend, setting, precision)."""
        return (self.backend, self.setting, self.precision)

    @property
    def label(self) -> str:
        """E.g. 'onnxruntime-cpu int8'."""
        name = f'{self.backend}-{self.setting}' if self.setting else self.backend
        return f'{name} {self.precision}'


def _setting_name(options: Dict[str, Any]) -> str:
    return '-'.join(str(v) for v in options.values())


def enumerate_rows(model: Path) -> Tuple[List[Row], List[Dict[str, str]], Dict[str, ModelSpec]]:
    """
    Return (rows that can run here, skipped rows with their reason, spec per precision).

    Every backend known or registered is listed with every setting it is benchmarked with and
    every precision; a row is skipped when its backend or setting is unavailable here, or its
    precision has no model file.
    """
    specs: Dict[str, ModelSpec] = {}
    missing: Dict[str, str] = {}
    for precision in PRECISIONS:
        try:
            specs[precision] = load_spec_for_precision(model, precision)
        except ModelSpecError as exc:
            if precision == 'fp32':
                raise
            missing[precision] = str(exc)
    rows, skipped = [], []
    for backend in sorted(set(BACKENDS) | set(KNOWN_BACKENDS)):
        for options in BENCH_SETTINGS.get(backend, ({},)):
            reason = backend_unavailable(backend, **options)
            for precision in PRECISIONS:
                row = Row(backend, _setting_name(options), precision, dict(options))
                why = reason or missing.get(precision)
                if why is None and precision == 'fp16' and 'tensorrt' not in (
                        backend, options.get('execution_provider')):
                    why = ('fp16 is a TensorRT build: backend tensorrt or execution_provider '
                           'tensorrt')
                if why is None:
                    rows.append(row)
                else:
                    skipped.append({'row': row.label, 'reason': why})
    return rows, skipped, specs


def generated_frames(count: int, seed: int = 0) -> List[Tuple[np.ndarray, PinholeCamera]]:
    """Return ``count`` rgb8 640x480 frames of the corridor walk (seeded) with their camera."""
    return [(render_image(Corridor(), CAMERA, i, count, seed=seed), CAMERA) for i in range(count)]


def real_frames(folder: Path, limit: int = 0) -> List[Tuple[np.ndarray, PinholeCamera]]:
    """
    Read the colour images of a folder of real RGB-D frames with their intrinsics.

    The folder holds ``frames.json``: a list of {"rgb": path, "K": [fx, fy, cx, cy], ...}
    (the layout of shared/data/real_rgbd and of ``ros2-depth-train evaluate --data rgbd_list``).
    """
    listing = Path(folder) / 'frames.json' if Path(folder).is_dir() else Path(folder)
    if not listing.is_file():
        raise FileNotFoundError(f'{folder}: no frames.json (a list of {{"rgb", "K"}} entries)')
    frames = []
    for entry in json.loads(listing.read_text())[:limit or None]:
        bgr = cv2.imread(str(listing.parent / entry['rgb']), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f'{listing.parent / entry["rgb"]} cannot be read')
        height, width = bgr.shape[:2]
        fx, fy, cx, cy = (float(v) for v in entry['K'])
        frames.append((np.ascontiguousarray(bgr[..., ::-1]),
                       PinholeCamera(width, height, fx, fy, cx, cy)))
    return frames


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between vectors along the last axis (atan2: exactly 0 for equal ones)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), (a * b).sum(-1)))


def differences(results: Sequence[Any], reference: Sequence[Any]) -> Dict[str, float]:
    """
    Depth and normals of a row against the reference row, over all frames' valid pixels.

    Depth: max and mean |difference| in metres and the mean relative difference, where both
    are valid; a pixel valid in one only counts in ``depth_valid_mismatch``. Normals: max and
    mean angle in degrees.
    """
    depth_abs, depth_rel, angles, mismatch, total = [], [], [], 0, 0
    for got, want in zip(results, reference):
        valid_a, valid_b = np.isfinite(got.depth), np.isfinite(want.depth)
        both = valid_a & valid_b
        mismatch += int(np.count_nonzero(valid_a != valid_b))
        total += valid_b.size
        diff = np.abs(got.depth[both].astype(np.float64) - want.depth[both])
        depth_abs.append(diff)
        depth_rel.append(diff / want.depth[both])
        if got.normals is not None and want.normals is not None:
            angles.append(angle_deg(got.normals[both], want.normals[both]))
    out = {'depth_max_abs_m': 0.0, 'depth_mean_abs_m': 0.0, 'depth_mean_rel': 0.0}
    if depth_abs and np.concatenate(depth_abs).size:
        diff, rel = np.concatenate(depth_abs), np.concatenate(depth_rel)
        out = {'depth_max_abs_m': float(diff.max()), 'depth_mean_abs_m': float(diff.mean()),
               'depth_mean_rel': float(rel.mean())}
    out['depth_valid_mismatch'] = mismatch / max(total, 1)
    if angles:
        angle = np.concatenate(angles)
        out.update({'normals_max_deg': float(angle.max()),
                    'normals_mean_deg': float(angle.mean())})
    return out


def time_rows(backends: Dict[Any, Any], image: np.ndarray, runs: int,
              warmup: int = 3) -> Dict[Any, Dict[str, float]]:
    """
    Time ``infer`` of every backend on one input, interleaved: each round runs each once.

    The order within a round rotates, so no row always follows the same one.
    """
    keys = list(backends)
    for key in keys:
        for _ in range(warmup):
            backends[key].infer(image)
    times: Dict[Any, List[float]] = {key: [] for key in keys}
    for round_index in range(runs):
        shift = round_index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            start = time.perf_counter()
            backends[key].infer(image)
            times[key].append(1e3 * (time.perf_counter() - start))
    out = {}
    for key, values in times.items():
        median = float(np.median(values))
        out[key] = {'median_ms': median, 'p90_ms': float(np.percentile(values, 90)),
                    'fps': 1e3 / median, 'runs': len(values)}
    return out


def frame_stages(pipeline: DepthPipeline, runs: int = 30) -> Dict[str, float]:
    """
    Time one 640x480 rgb8 frame through depth_node's own code, stage by stage (median ms).

    What the node does per frame besides waiting: Image -> numpy, camera_info -> camera, the
    pipeline (pre-processing, inference, post-processing, as ``DepthResult.timings_ms``), all
    six output messages (``ros_messages.output_messages``, with the default cloud: x y z rgb),
    and their serialisation as rclpy's publish does it; plus taking the input image (its
    deserialisation, which the executor does before the node sees it).
    """
    from rclpy.serialization import deserialize_message, serialize_message
    from ros2_depth.camera_model import camera_from_info
    from ros2_depth.demo.depth_client import camera_info_msg, image_msg
    from ros2_depth.image_encoding import image_to_numpy
    from ros2_depth.ros_messages import CloudOptions, output_messages
    from sensor_msgs.msg import Image

    rgb, camera = generated_frames(1, seed=2)[0]
    image, info = image_msg((1, 0), NODE_FRAME, rgb), camera_info_msg((1, 0), NODE_FRAME, camera)
    wanted = {'depth', 'info', 'normals', 'points', 'labels', 'labels_color'}
    palette = label_palette(pipeline.spec) if pipeline.has_labels else None
    raw = serialize_message(image)
    stages: Dict[str, List[float]] = collections.defaultdict(list)
    for index in range(runs + 1):
        start = time.perf_counter()
        taken = deserialize_message(raw, Image)
        took_image = time.perf_counter()
        pixels, cam = image_to_numpy(taken), camera_from_info(info)
        converted = time.perf_counter()
        messages, result = output_messages(pipeline, taken.header, pixels, 'rgb8', cam, wanted,
                                           palette, info, CloudOptions())
        built = time.perf_counter()
        for msg in messages.values():
            serialize_message(msg)
        done = time.perf_counter()
        if index == 0:
            continue  # warm-up
        run_ms = 1e3 * (built - converted)
        stages['take the input image (deserialise)'].append(1e3 * (took_image - start))
        stages['Image and camera_info to numpy'].append(1e3 * (converted - took_image))
        for name, ms in result.timings_ms.items():
            stages[f'pipeline: {name}'].append(ms)
            run_ms -= ms
        stages['six output messages (cloud, labels colours)'].append(run_ms)
        stages['serialise the six messages'].append(1e3 * (done - built))
    return {name: float(np.median(values)) for name, values in stages.items()}


def machine() -> Dict[str, Any]:
    """CPU model, cores, ONNX Runtime version and providers, Python, for the record."""
    import onnxruntime as ort

    cpu = platform.processor()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'onnxruntime': ort.__version__, 'providers': ort.get_available_providers()}


def run_bench(model: Path, num_threads: int = 2, runs: int = 50, frames: int = 8,
              real: Optional[Path] = None, real_limit: int = 0, node: bool = False,
              node_frames: int = 30, dds_profile: str = 'shipped', stages: bool = False
              ) -> Dict[str, Any]:
    """
    Measure every row present here; return the summary (``format_table`` prints it).

    ``dds_profile`` ('shipped': config/fastdds.xml, as the demo and the launch file use it;
    'default': Fast DDS's defaults) is the middleware setting of every --node process and of
    this one (Fast DDS reads it once per process). ``stages``: also time one frame through the
    node's code stage by stage (``frame_stages``) on the reference row.
    """
    load_before = os.getloadavg()
    rows, skipped, specs = enumerate_rows(model)
    backends, pipelines, kept = {}, {}, []
    for row in rows:
        spec = specs[row.precision]
        try:
            backend = create_backend(row.backend, spec, num_threads=num_threads,
                                     precision=row.precision, **row.options)
        except BackendError as exc:
            skipped.append({'row': row.label, 'reason': str(exc)})
            continue
        backends[row.key] = backend
        pipelines[row.key] = DepthPipeline(spec, backend)
        kept.append(row)
    if REFERENCE not in backends:
        raise BackendError('the reference row, ONNX Runtime FP32 on the CPU, cannot run here')
    sets = {'generated': generated_frames(frames)}
    if real is not None:
        sets['real'] = real_frames(real, real_limit)
    parity: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name, frame_set in sets.items():
        results = {key: [pipe.run(rgb, 'rgb8', camera, want_normals=True)
                         for rgb, camera in frame_set] for key, pipe in pipelines.items()}
        parity[name] = {Row(*key, {}).label: differences(results[key], results[REFERENCE])
                        for key in results}
    rgb, camera = sets['generated'][0]
    image = pipelines[REFERENCE].preprocess(rgb, 'rgb8', camera)
    latency = time_rows(backends, image, runs)
    reference_ms = latency[REFERENCE]['median_ms']
    table = []
    for row in kept:
        entry = {'row': row.label, 'backend': row.backend, 'setting': row.setting,
                 'precision': row.precision, 'model': str(specs[row.precision].path),
                 'describe': backends[row.key].describe(), **latency[row.key],
                 'speedup': reference_ms / latency[row.key]['median_ms']}
        for name in sets:
            entry[name] = parity[name][row.label]
        table.append(entry)
    summary: Dict[str, Any] = {
        'model': specs['fp32'].name, 'threads': num_threads, 'runs': runs,
        'frames': {name: len(frame_set) for name, frame_set in sets.items()},
        'real': str(real) if real is not None else None,
        'rows': table, 'skipped': skipped, 'machine': machine(),
    }
    if stages:
        summary['stages'] = frame_stages(pipelines[REFERENCE], runs)
    if node:
        cpu = {r.precision: backends[r.key] for r in kept if r.key[:2] == REFERENCE[:2]}
        summary['node'] = node_latency(model, cpu, image, num_threads, node_frames,
                                       specs['fp32'], dds_profile)
        summary['dds_profile'] = dds_profile
    summary['machine']['load_average_before'] = load_before
    summary['machine']['load_average_after'] = os.getloadavg()
    return summary


def _round_trips(client: Any, keys: Sequence[str], count: int, warmup: int = 3,
                 timeout: float = 3.0) -> Tuple[List[float], int]:
    """
    Send frames one at a time; return (round trips in ms, frames not answered in ``timeout``).

    A round trip runs from publishing the image to receiving all its ``keys``. The warm-up
    frames are sent again every second until answered (the first messages after discovery can
    be lost); each timed frame is sent once.
    """
    from ros2_depth.demo.depth_client import camera_info_msg, image_msg

    pictures = generated_frames(4, seed=1)
    times, lost = [], 0
    for index in range(warmup + count):
        stamp = (1000 + index, 0)
        rgb, camera = pictures[index % len(pictures)]
        image = image_msg(stamp, NODE_FRAME, rgb)
        info = camera_info_msg(stamp, NODE_FRAME, camera)
        if index < warmup:
            if not client.send_until_complete(image, info, timeout=30.0, keys=keys):
                raise RuntimeError(f'no answer to warm-up frame {index} within 30 s')
            continue
        client.pub_info.publish(info)
        start = time.monotonic()
        client.pub_image.publish(image)
        if client.spin_until(lambda: set(keys) <= set(client.received.get(stamp, {})), timeout):
            times.append(1e3 * (client.arrival_time[stamp] - start))
        else:
            lost += 1
        client.received.pop(stamp, None)
    if not times:
        raise RuntimeError(f'none of {count} frames was answered within {timeout:g} s')
    return times, lost


def _stats(times: Sequence[float]) -> Dict[str, float]:
    return {'median_ms': float(np.median(times)), 'p90_ms': float(np.percentile(times, 90)),
            'count': len(times)}


def node_latency(model: Path, backends: Dict[str, Any], image: np.ndarray, num_threads: int,
                 count: int, spec: ModelSpec, dds_profile: str = 'shipped'
                 ) -> List[Dict[str, Any]]:
    """
    Time depth_node end to end per precision, then the bare relay, in one run.

    Each frame (640x480 rgb8 with its camera_info) is sent alone and timed from publishing the
    image to receiving every output (the relay: its one 32FC1 answer of the depth's size). Bare
    inference of the same precision (``backends``, on ``image``) is timed right before each node
    starts, so that both see the same load.
    """
    import subprocess
    import sys

    from diagnostic_msgs.msg import DiagnosticArray
    from ros2_depth.demo.depth_client import (DepthClient, isolated_ros_env, start_node_process,
                                              stop_process)
    from ros2_depth.resources import with_fastdds_profile
    from sensor_msgs.msg import Image

    depth = spec.output('depth')
    work = Path(tempfile.mkdtemp(prefix='bench_node_'))
    results = []
    labels = spec.output('labels') is not None
    # Each precision twice: every output subscribed, then depth/image alone (the node computes
    # and publishes only what has subscribers); then the relay.
    runs = [(precision, only) for precision in backends for only in (False, True)]
    for salt, (precision, depth_only) in enumerate(runs + [('relay', False)]):
        bare = None
        if precision != 'relay':
            bare = time_rows({precision: backends[precision]}, image, count)[precision]
        env = isolated_ros_env(salt=41 + salt)
        if dds_profile == 'shipped':
            env = with_fastdds_profile(env)
        log = work / f'{precision}{"_depth" if depth_only else ""}.log'
        if precision == 'relay':
            cmd = [sys.executable, '-m', 'ros2_depth.demo.relay', '--ros-args', '-r',
                   f'__ns:={NODE_NAMESPACE}', '-p', f'width:={depth.width}', '-p',
                   f'height:={depth.height}']
            with open(log, 'w') as stream:
                proc = subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT, env=env)
            client = DepthClient(env, NODE_NAMESPACE, name='bench_camera',
                                 outputs={'depth': ('depth/image', Image)})
        else:
            proc = start_node_process(log, env, NODE_NAMESPACE, [
                '-p', f'model:={Path(model).resolve()}', '-p', f'precision:={precision}',
                '-p', f'num_threads:={num_threads}'])
            client = DepthClient(env, NODE_NAMESPACE, name='bench_camera', labels=labels,
                                 outputs={'depth': ('depth/image', Image)} if depth_only
                                 else None)
        counters: Dict[str, str] = {}  # the node's last /diagnostics values
        client.node.create_subscription(
            DiagnosticArray, '/diagnostics',
            lambda msg: counters.update({kv.key: kv.value for s in msg.status
                                         if s.name.startswith('depth_node') for kv in s.values}),
            10)
        try:
            if not client.wait_for_node(60.0):
                raise RuntimeError(f'{precision}: the process did not come up; its log: {log}')
            times, lost = _round_trips(client, tuple(client.outputs), count)
            if precision != 'relay':  # the counters of the last frames
                client.spin_until(lambda: False, 1.2)
        finally:
            client.close()
            code = stop_process(proc)
        what = 'relay' if precision == 'relay' else 'depth_node'
        results.append({'what': what, 'precision': '' if what == 'relay' else precision,
                        'outputs': sorted(client.outputs), 'exit_code': code, 'lost': lost,
                        **_stats(times)})
        if bare is not None:
            results[-1]['bare_inference_median_ms'] = bare['median_ms']
            results[-1]['node_counters'] = {key: counters.get(key) for key in NODE_COUNTERS}
    relay = results[-1]['median_ms']
    for entry in results[:-1]:
        entry['relay_median_ms'] = relay
    return results[:-1] + [results[-1]]


def format_table(summary: Dict[str, Any]) -> str:
    """Return the summary as text tables."""
    mach = summary['machine']
    lines = [f"model {summary['model']}; {mach['cpu']}, {mach['cores']} cores; onnxruntime "
             f"{mach['onnxruntime']}; {summary['threads']} threads; load average "
             f"{' '.join(f'{v:.2f}' for v in mach['load_average_before'])} before, "
             f"{' '.join(f'{v:.2f}' for v in mach['load_average_after'])} after",
             f"latency: batch 1, {summary['runs']} interleaved runs per row",
             f"{'row':<28} {'median ms':>9} {'p90 ms':>8} {'frames/s':>8} {'speed-up':>8}"]
    for entry in summary['rows']:
        lines.append(f"{entry['row']:<28} {entry['median_ms']:9.1f} {entry['p90_ms']:8.1f} "
                     f"{entry['fps']:8.1f} {entry['speedup']:7.2f}x")
    for name, count in summary['frames'].items():
        lines.append(f'against onnxruntime-cpu fp32, {name} frames ({count}): depth |diff| max '
                     'and mean (m), mean relative, normals angle max and mean (deg)')
        lines.append(f"{'row':<28} {'d max m':>8} {'d mean m':>9} {'d rel':>7} {'n max':>7} "
                     f"{'n mean':>7}")
        for entry in summary['rows']:
            d = entry[name]
            lines.append(f"{entry['row']:<28} {d['depth_max_abs_m']:8.3f} "
                         f"{d['depth_mean_abs_m']:9.4f} {100 * d['depth_mean_rel']:6.2f}% "
                         f"{d.get('normals_max_deg', float('nan')):7.2f} "
                         f"{d.get('normals_mean_deg', float('nan')):7.2f}")
    for entry in summary.get('node', []):
        if entry['what'] == 'relay':
            lines.append('bare rclpy relay (32FC1 answer, DDS floor; Fast DDS profile '
                         f"{summary.get('dds_profile', 'default')}): median "
                         f"{entry['median_ms']:.1f} ms, p90 {entry['p90_ms']:.1f} ms, "
                         f"{entry['lost']} of {entry['count'] + entry['lost']} unanswered")
        else:
            lines.append(
                f"depth_node {entry['precision']}, 640x480 rgb8 to "
                f"{'all of ' if len(entry['outputs']) > 1 else ''}"
                f"{', '.join(entry['outputs'])}: median {entry['median_ms']:.1f} ms, p90 "
                f"{entry['p90_ms']:.1f} ms (bare inference {entry['bare_inference_median_ms']:.1f}"
                f" ms, relay {entry['relay_median_ms']:.1f} ms), {entry['lost']} of "
                f"{entry['count'] + entry['lost']} unanswered; node: "
                + ', '.join(f'{k} {v}' for k, v in entry['node_counters'].items()))
    if summary.get('stages'):
        lines.append("one 640x480 rgb8 frame through the node's code, onnxruntime-cpu fp32, "
                     'median ms per stage:')
        lines += [f'  {name:<46} {ms:7.2f}' for name, ms in summary['stages'].items()]
    for entry in summary['skipped']:
        lines.append(f"skipped {entry['row']}: {entry['reason']}")
    return '\n'.join(lines)
