"""
Soak benchmark: depth_node under a steady camera stream for minutes, over real DDS.

depth_node runs as its own process (its own ROS domain, as in the demo); this process publishes
rgb8 images with their camera_info (one stamp each, the wall-clock time of sending) at a fixed
rate, reliable, subscribes to every output, and samples the node's resident memory once a second
from /proc. After a warm-up it reports: RSS growth, latency percentiles (from sending a frame to
receiving each output, and all of them), how many frames the node answered and what became of
the others (its /diagnostics counters: superseded by a newer frame while busy, dropped without
camera_info, errors), and, for comparison, bare inference time measured here before the node
starts and after it stops, as `ros2-depth info` does. A benchmark, not a test: it asserts
nothing.

    .venv/bin/python -m ros2_depth.demo.soak --duration 600 --json soak.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path
import resource
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from ros2_depth.backends import create_backend
from ros2_depth.camera_model import PinholeCamera
from ros2_depth.demo.depth_client import (
    camera_info_msg, DepthClient, image_msg, isolated_ros_env, start_node_process, stop_process)
from ros2_depth.model_spec import load_spec
from ros2_depth.resources import default_model_path, with_fastdds_profile

LOG = logging.getLogger('soak')
NAMESPACE = '/soak_camera'
FRAME = 'soak_camera_optical_frame'
COUNTERS = ('received', 'processed', 'dropped_stale', 'dropped_no_info', 'info_substituted',
            'errors', 'idle')
Stamp = Tuple[int, int]


@dataclasses.dataclass
class SoakOptions:
    """What to send, for how long, through which model."""

    duration_s: float = 600.0
    warmup_s: float = 60.0
    rate_hz: float = 30.0
    width: int = 640
    height: int = 480
    model: str = ''
    num_threads: int = 2
    inference_runs: int = 30
    node_log: Optional[Path] = None
    dds_profile: str = 'shipped'  # 'shipped': config/fastdds.xml in both processes; 'default'


class SoakClient(DepthClient):
    """A DepthClient that keeps only arrival times: minutes of outputs would not fit in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Subscribe like DepthClient; record (stamp -> output -> wall-clock arrival) only."""
        self.times: Dict[Stamp, Dict[str, float]] = {}
        super().__init__(*args, **kwargs)

    def _recorder(self, key: str) -> Callable[[object], None]:
        def record(msg: Any) -> None:
            stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            self.times.setdefault(stamp, {})[key] = time.time()

        return record


def rss_kib(pid: int) -> int:
    """Return a process's resident set size in KiB (Linux /proc)."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    raise RuntimeError(f'no VmRSS for process {pid}')


def cpu_seconds(pid: int) -> float:
    """Return a process's user + system CPU time in seconds (Linux /proc)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def bare_inference_ms(model: Path, num_threads: int, runs: int) -> Dict[str, float]:
    """Time the backend alone on an image of zeros (one warm-up run), as `ros2-depth info`."""
    spec = load_spec(model)
    backend = create_backend('onnxruntime', spec, num_threads=num_threads)
    image = np.zeros((1, 3, spec.input.height, spec.input.width), np.float32)
    backend.infer(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.infer(image)
        times.append(1e3 * (time.perf_counter() - start))
    return {'median': float(np.median(times)), 'p99': float(np.percentile(times, 99)),
            'runs': runs}


def camera_frames(width: int, height: int, count: int = 4) -> List[np.ndarray]:
    """Return `count` rgb8 pictures with structure at every scale (the node's work is the same)."""
    rng = np.random.default_rng(0)
    v, u = np.mgrid[0:height, 0:width]
    frames = []
    for index in range(count):
        base = 127 + 80 * np.sin(u / (23.0 + index)) * np.cos(v / 31.0)
        noise = rng.normal(0, 20, (height, width, 3))
        frames.append(np.clip(base[..., None] + noise, 0, 255).astype(np.uint8))
    return frames


def percentiles(values: Sequence[float]) -> Dict[str, float]:
    """Return p50, p90, p99, max and mean of `values` (empty: an empty dict)."""
    if not len(values):
        return {}
    array = np.asarray(values, np.float64)
    return {'p50': float(np.percentile(array, 50)), 'p90': float(np.percentile(array, 90)),
            'p99': float(np.percentile(array, 99)), 'max': float(array.max()),
            'mean': float(array.mean()), 'count': int(array.size)}


def _counters(status: Any) -> Dict[str, float]:
    values = {kv.key: kv.value for kv in status.values}
    out = {key: int(values[key]) for key in COUNTERS if key in values}
    out['inference_ms'] = float(values.get('inference_ms', 'nan'))
    return out


def run_soak(options: SoakOptions) -> Dict[str, Any]:
    """Stream frames into a fresh depth_node for the duration; return what was measured."""
    model = Path(options.model).resolve() if options.model else default_model_path()
    spec = load_spec(model)
    load_before = os.getloadavg()
    bare = bare_inference_ms(model, options.num_threads, options.inference_runs)
    LOG.info('bare inference %.1f ms (median of %d, %d threads)', bare['median'],
             options.inference_runs, options.num_threads)

    env = isolated_ros_env(salt=23)
    if options.dds_profile == 'shipped':
        env = with_fastdds_profile(env)
    node_log = options.node_log or Path(tempfile.mkdtemp(prefix='soak_')) / 'depth_node.log'
    ros_args = ['-p', f'num_threads:={options.num_threads}', '-p', f'model:={model}']
    proc = start_node_process(node_log, env, NAMESPACE, ros_args, layout=True)
    client = SoakClient(env, NAMESPACE, name='soak_camera', layout=True,
                        labels=spec.output('labels') is not None)
    statuses: List[Tuple[float, Dict[str, float]]] = []  # (monotonic time, counters)
    client.node.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda msg: statuses.extend((time.monotonic(), _counters(s)) for s in msg.status
                                    if s.name.startswith('depth_node')), 10)
    camera = PinholeCamera(options.width, options.height, 525.0 * options.width / 640,
                           525.0 * options.width / 640, (options.width - 1) / 2,
                           (options.height - 1) / 2)
    images = [image_msg((0, 0), FRAME, pixels)
              for pixels in camera_frames(options.width, options.height)]
    info = camera_info_msg((0, 0), FRAME, camera)
    sent: Dict[Stamp, float] = {}
    rss: List[Tuple[float, int]] = []
    late_sends = 0
    try:
        if not client.wait_for_node(30.0):
            raise RuntimeError(f'depth_node did not come up; its log: {node_log}')
        cpu_start = cpu_seconds(proc.pid)
        start = time.monotonic()
        end = start + options.duration_s
        period = 1.0 / options.rate_hz
        next_send, next_sample, next_report = start, start, start + 60.0
        index = 0
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_send:
                wall = time.time_ns()
                stamp = (wall // 1_000_000_000, wall % 1_000_000_000)
                image = images[index % len(images)]
                for msg in (info, image):
                    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp
                client.pub_info.publish(info)
                client.pub_image.publish(image)
                sent[stamp] = wall / 1e9
                index += 1
                next_send += period
                if next_send < now:  # this process fell a whole period behind: do not burst
                    late_sends += 1
                    next_send = now + period
            if now >= next_sample:
                rss.append((now - start, rss_kib(proc.pid)))
                next_sample += 1.0
            if now >= next_report:
                LOG.info('%4.0f s: %d frames sent, %d answered, node RSS %.1f MiB',
                         now - start, len(sent), len(client.times), rss[-1][1] / 1024)
                next_report += 60.0
            timeout = max(0.0, min(next_send, next_sample) - time.monotonic())
            client.executor.spin_once(timeout_sec=timeout)
        cpu_node = cpu_seconds(proc.pid) - cpu_start
        client.spin_until(lambda: False, 2.0)  # let the last outputs and diagnostics land
    finally:
        client.close()
        code = stop_process(proc)
    load_after = os.getloadavg()
    bare_after = bare_inference_ms(model, options.num_threads, options.inference_runs)
    return _summary(options, spec.name, bare, sent, client.times, set(client.outputs), statuses,
                    rss, start, {
                        'load_average_before': load_before, 'load_average_after': load_after,
                        'cpus': os.cpu_count(), 'node_cpu_cores': cpu_node / options.duration_s,
                        'client_cpu_s': resource.getrusage(resource.RUSAGE_SELF).ru_utime,
                        'late_sends': late_sends, 'node_exit_code': code,
                        'node_log': str(node_log), 'bare_inference_ms_after': bare_after,
                    })


def _summary(options: SoakOptions, model: str, bare: Dict[str, float], sent: Dict[Stamp, float],
             times: Dict[Stamp, Dict[str, float]], keys: set, statuses: list,
             rss: List[Tuple[float, int]], start: float, extra: Dict[str, Any]) -> Dict[str, Any]:
    """Reduce the raw samples to the steady state after the warm-up."""
    first_send = min(sent.values(), default=0.0)
    steady = {s: t for s, t in sent.items() if t - first_send >= options.warmup_s}
    depth, complete = [], []
    answered = partial = 0
    for stamp, sent_at in steady.items():
        arrivals = times.get(stamp, {})
        if 'depth' in arrivals:
            depth.append(1e3 * (arrivals['depth'] - sent_at))
        if keys <= set(arrivals):
            answered += 1
            complete.append(1e3 * (max(arrivals.values()) - sent_at))
        elif arrivals:
            partial += 1
    unknown = sum(1 for stamp in times if stamp not in sent)
    after = [(t - start, c) for t, c in statuses if t - start >= options.warmup_s]
    node: Dict[str, Any] = {}
    if len(after) >= 2:
        first, last = after[0][1], after[-1][1]
        node = {key: last[key] - first[key] for key in COUNTERS if key in last}
        node['inference_ms'] = percentiles([c['inference_ms'] for _, c in after])
    samples = np.array([kib for t, kib in rss if t >= options.warmup_s], np.float64)
    window = max(1, min(30, samples.size // 4))
    memory: Dict[str, Any] = {}
    if samples.size:
        begin, finish = float(np.median(samples[:window])), float(np.median(samples[-window:]))
        memory = {
            'at_warmup_end_mib': begin / 1024, 'at_end_mib': finish / 1024,
            'max_mib': float(samples.max()) / 1024,
            'growth_percent': 100.0 * (finish - begin) / begin,
            'samples': int(samples.size),
            'first_sample_mib': rss[0][1] / 1024,
            'per_minute_mib': [  # the median of each whole minute, from the start
                float(np.median([kib for t, kib in rss if m * 60 <= t < (m + 1) * 60])) / 1024
                for m in range(int(rss[-1][0] // 60))],
        }
    p99 = percentiles(complete).get('p99', float('nan'))
    return {
        'model': model,
        'options': {k: str(v) if isinstance(v, Path) else v
                    for k, v in dataclasses.asdict(options).items()},
        'outputs': sorted(keys),
        'bare_inference_ms': bare,
        'frames': {
            'sent': len(sent), 'sent_after_warmup': len(steady), 'answered': answered,
            'partly_answered': partial, 'unanswered': len(steady) - answered - partial,
            'outputs_with_unknown_stamp': unknown,
        },
        'node_counters_after_warmup': node,
        'latency_ms': {'depth': percentiles(depth), 'all_outputs': percentiles(complete)},
        'p99_over_bare_inference': p99 / bare['median'],
        'rss': memory,
        'machine': extra,
    }


def describe(summary: Dict[str, Any]) -> str:
    """Return the summary as a few lines of text."""
    lat = summary['latency_ms']['all_outputs']
    frames, node, mem = summary['frames'], summary['node_counters_after_warmup'], summary['rss']
    machine, opts = summary['machine'], summary['options']
    return '\n'.join([
        f"model {summary['model']}, {opts['width']}x{opts['height']} rgb8 at "
        f"{opts['rate_hz']:g} Hz for {opts['duration_s']:g} s "
        f"(warm-up {opts['warmup_s']:g} s), outputs {', '.join(summary['outputs'])}, "
        f"Fast DDS profile: {opts.get('dds_profile', 'default')}",
        f"bare inference: median {summary['bare_inference_ms']['median']:.1f} ms before, "
        f"{machine['bare_inference_ms_after']['median']:.1f} ms after",
        f"latency, send to all outputs: p50 {lat.get('p50', float('nan')):.1f} ms, "
        f"p90 {lat.get('p90', float('nan')):.1f}, p99 {lat.get('p99', float('nan')):.1f}, "
        f"max {lat.get('max', float('nan')):.1f} "
        f"(p99 = {summary['p99_over_bare_inference']:.2f} x bare inference)",
        f"frames after warm-up: {frames['sent_after_warmup']} sent, {frames['answered']} "
        f"answered, {frames['partly_answered']} partly, {frames['unanswered']} not; node: "
        + ', '.join(f'{k} {v}' for k, v in node.items() if k != 'inference_ms'),
        f"node RSS: {mem.get('at_warmup_end_mib', float('nan')):.1f} MiB after warm-up, "
        f"{mem.get('at_end_mib', float('nan')):.1f} MiB at the end "
        f"({mem.get('growth_percent', float('nan')):+.2f} %), max "
        f"{mem.get('max_mib', float('nan')):.1f} MiB",
        f"load average before {machine['load_average_before']}, after "
        f"{machine['load_average_after']}; node used {machine['node_cpu_cores']:.2f} cores; "
        f"node exit code {machine['node_exit_code']}",
    ])


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the soak benchmark from the command line."""
    parser = argparse.ArgumentParser(prog='python -m ros2_depth.demo.soak', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--duration', type=float, default=600.0, help='seconds of streaming')
    parser.add_argument('--warmup', type=float, default=60.0,
                        help='seconds at the start left out of every figure')
    parser.add_argument('--rate', type=float, default=30.0, help='frames per second')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--model', default='', help='model sidecar (default: the bundled one)')
    parser.add_argument('--threads', type=int, default=2, help="the node's num_threads")
    parser.add_argument('--inference-runs', type=int, default=30)
    parser.add_argument('--json', type=Path, help='write the summary here as JSON')
    parser.add_argument('--node-log', type=Path, help="write the node's console output here")
    parser.add_argument(
        '--dds-profile', choices=('shipped', 'default'), default='shipped',
        help="'shipped': both processes use config/fastdds.xml (images through shared memory); "
             "'default': Fast DDS's default transports")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    summary = run_soak(SoakOptions(
        duration_s=args.duration, warmup_s=args.warmup, rate_hz=args.rate, width=args.width,
        height=args.height, model=args.model, num_threads=args.threads,
        inference_runs=args.inference_runs, node_log=args.node_log,
        dds_profile=args.dds_profile))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + '\n')
    print(describe(summary))
    return 0 if summary['machine']['node_exit_code'] == 0 else 1


if __name__ == '__main__':
    raise SystemExit(main())
