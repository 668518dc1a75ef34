"""
Fuzz depth_node over real DDS: thousands of malformed and edge-case images and camera_infos.

depth_node runs as its own process (its own ROS domain) with the tiny labels-and-metric-scale
model and max_image_pixels 1 MP. Rounds of one generated case each (``fuzz_cases``: bad encodings,
steps, sizes, data lengths, NaN/Inf/negative intrinsics, ROI and binning faults, odd stamps and
frame ids, camera_infos of other stamps, garbage camera_infos alone, and odd but valid input)
alternate with good frames, small ones and some at 640x480, each sent alone and waited for. The
module checks what the node promises:

- it never crashes, and exits 0 on SIGINT at the end;
- every good frame, and the newest frame of each round of valid input, is processed;
- every published message is well formed and belongs to an accepted input: stamp, frame_id,
  sizes, encodings, finite intrinsics (the very ones its camera_info gives for good frames),
  depth in the model's range, unit normals, points that back-project the depth;
- a refused frame gets one error line naming the problem, repeated at most every 5 s while the
  same problem goes on, and again after a good frame (so at least one per round); warnings are
  throttled per kind; nothing else reaches the log (no traceback, no numpy warning);
- /diagnostics accounts for every image received and returns to OK after the last good frame.

Seeded: ROS2_DEPTH_FUZZ_SEED (default below) and ROS2_DEPTH_FUZZ_ROUNDS; every failure names the
seed, the round and its case, and the same seed sends the same messages again (a shorter run with
the same seed sends the first rounds of the longer one).
"""

from __future__ import annotations

import collections
import dataclasses
import os
from pathlib import Path
import re
import time
from typing import Dict, List, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from fuzz_cases import Case, case_kinds, good_case, round_messages, StampSource
import numpy as np
import pytest
from ros2_depth.camera_model import camera_from_info, CameraInfoError, PinholeCamera
from ros2_depth.depth_node import PARAMETERS
from ros2_depth.model_spec import load_spec
from ros2_depth.pipeline import DepthPipeline
from ros_harness import Harness, isolated_ros_env, start_depth_node, stop_process

pytestmark = pytest.mark.slow

SEED = int(os.environ.get('ROS2_DEPTH_FUZZ_SEED', '20261211'))
ROUNDS = int(os.environ.get('ROS2_DEPTH_FUZZ_ROUNDS', '150'))
MAX_PIXELS = 1_000_000  # the node's max_image_pixels: real frames above it stay cheap to send
REAL_SIZE_GOOD = 0.1  # share of good frames at 640x480
REPEAT = 0.2  # chance that a round repeats the previous refused case exactly
ERROR_REPEAT_S = 5.0  # depth_node._report_error: the same problem again after this long
THROTTLED = {  # warning text -> its throttle in depth_node (seconds)
    'has an empty frame_id': 30.0,
    'differs from image frame': 30.0,
    'its camera_info did not arrive within': 5.0,
    'no camera_info with the stamp of the image': 10.0,
    'did not arrive: using the nearest one': 10.0,
}
STARTUP_INFO = ('model tiny_camera', 'model predicts')
LINE = re.compile(r'^\[(DEBUG|INFO|WARN|ERROR|FATAL)\] \[(\d+\.\d+)\] \[([^\]]*)\]: (.*)$')
STAMP = re.compile(r' at (-?\d+)\.(\d{9,10}) \(frame ')
Stamp = Tuple[int, int]


@dataclasses.dataclass
class Sent:
    """What was sent with one stamp, and what its outputs must be."""

    round: int  # noqa: A003 (the round it was sent in)
    case: Case
    camera: Optional[PinholeCamera]  # the exact output intrinsics, where known


@dataclasses.dataclass
class FuzzRun:
    """Everything the fuzz run observed; the tests below judge it."""

    seed: int
    rounds: List[Case] = dataclasses.field(default_factory=list)
    sent: Dict[Stamp, Sent] = dataclasses.field(default_factory=dict)
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    outputs: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    problems: List[str] = dataclasses.field(default_factory=list)  # malformed or misplaced output
    unprocessed: List[str] = dataclasses.field(default_factory=list)  # frames never answered
    crash: str = ''
    exit_code: Optional[int] = None
    log: List[str] = dataclasses.field(default_factory=list)
    statuses: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        """Keep pytest's failure reports short."""
        return f'FuzzRun(seed={self.seed}, {len(self.rounds)} rounds)'

    def where(self, round_index: int) -> str:
        """Name a round for a failure message, with how to reproduce it."""
        case = self.rounds[round_index].describe() if round_index < len(self.rounds) else '-'
        return (f'round {round_index}: {case} [reproduce: ROS2_DEPTH_FUZZ_SEED={self.seed} '
                f'ROS2_DEPTH_FUZZ_ROUNDS={round_index + 1} scripts/test test/test_node_fuzz.py]')


class OutputChecker:
    """Checks each message depth_node publishes against the input of its stamp."""

    def __init__(self, run: FuzzRun, spec) -> None:
        """Bind the run (where problems go) and the model (grid, depth range, classes)."""
        self.run = run
        grid = spec.output('depth')
        self.size = (grid.width, grid.height)
        self.depth_range = spec.depth_range
        labels = spec.output('labels')
        # the scored classes, and 0 ('unlabelled') where the output lies outside the image
        self.classes = {0} | set(range(labels.first_class_id,
                                       labels.first_class_id + labels.channels))

    def problem(self, stamp: Stamp, key: str, what: str) -> None:
        """Record a malformed or misplaced output."""
        sent = self.run.sent.get(stamp)
        where = self.run.where(sent.round) if sent else 'no input had this stamp'
        self.run.problems.append(f'{key} at {stamp}: {what} ({where})')

    def check(self, stamp: Stamp, messages: Dict[str, object]) -> None:
        """Check one stamp's outputs, alone and against each other."""
        sent = self.run.sent.get(stamp)
        for key in messages:
            self.run.outputs[key] += 1
        if sent is None or sent.case.outcome in ('error', 'info_only'):
            self.problem(stamp, ','.join(messages), 'published for an input that is refused')
            return
        for key, msg in messages.items():
            if msg.header.frame_id != sent.case.frame_id:
                self.problem(stamp, key, f'frame_id {msg.header.frame_id[:40]!r}')
        info = messages.get('info')
        if info is not None:
            self._check_info(stamp, info, sent.camera)
        arrays = {}
        for key, encoding, channels in (('depth', '32FC1', 1), ('normals', '32FC3', 3),
                                        ('labels', 'mono8', 1), ('labels_color', 'rgb8', 3)):
            if key in messages:
                arrays[key] = self._image(stamp, key, messages[key], encoding, channels)
        depth = arrays.get('depth')
        if depth is not None:
            low, high = self.depth_range
            finite = depth[np.isfinite(depth)]
            if np.isinf(depth).any() or ((finite < low) | (finite > high)).any():
                self.problem(stamp, 'depth', 'values outside the model range or infinite')
        normals = arrays.get('normals')
        if normals is not None:
            valid = np.isfinite(normals).all(axis=2)
            if not np.allclose(np.linalg.norm(normals[valid], axis=1), 1.0, atol=1e-4):
                self.problem(stamp, 'normals', 'not unit vectors')
            if depth is not None and (valid != np.isfinite(depth)).any():
                self.problem(stamp, 'normals', 'valid where depth is not, or the reverse')
        labels = arrays.get('labels')
        if labels is not None and not set(np.unique(labels)) <= self.classes:
            self.problem(stamp, 'labels', f'class ids {sorted(set(np.unique(labels)))}')
        if 'points' in messages:
            self._check_points(stamp, messages['points'], depth, info)

    def _check_info(self, stamp: Stamp, info, camera: Optional[PinholeCamera]) -> None:
        k = np.array(info.k).reshape(3, 3)
        p = np.array(info.p).reshape(3, 4)
        if (info.width, info.height) != self.size:
            self.problem(stamp, 'info', f'size {info.width}x{info.height}')
        if not (np.isfinite(k).all() and np.isfinite(p).all() and k[0, 0] > 0 and k[1, 1] > 0):
            self.problem(stamp, 'info', f'intrinsics not finite and positive: {list(info.k)}')
        elif not np.array_equal(p[:, :3], k) or list(info.d) != [0.0] * 5:
            self.problem(stamp, 'info', 'P differs from K, or distortion is not zero')
        elif camera is not None and not np.allclose(
                [k[0, 0], k[1, 1], k[0, 2], k[1, 2]],
                [camera.fx, camera.fy, camera.cx, camera.cy], rtol=1e-9, atol=0):
            self.problem(stamp, 'info', f'intrinsics {list(info.k)}, expected {camera}')

    def _image(self, stamp: Stamp, key: str, msg, encoding: str, channels: int):
        itemsize = 4 if encoding.startswith('32F') else 1
        width, height = self.size
        if (msg.encoding, msg.width, msg.height, msg.step, msg.is_bigendian, len(msg.data)) != (
                encoding, width, height, width * channels * itemsize, 0,
                width * channels * itemsize * height):
            self.problem(stamp, key, f'{msg.width}x{msg.height} {msg.encoding!r} step '
                                     f'{msg.step} bigendian {msg.is_bigendian}, '
                                     f'{len(msg.data)} bytes')
            return None
        dtype = '<f4' if itemsize == 4 else np.uint8
        pixels = np.frombuffer(bytes(msg.data), dtype).reshape(height, width, channels)
        return pixels[..., 0] if channels == 1 else pixels

    def _check_points(self, stamp: Stamp, cloud, depth, info) -> None:
        width, height = self.size
        layout = [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields]
        # x y z and the packed colour (cloud_rgb is on by default).
        if ((cloud.width, cloud.height, cloud.point_step, cloud.row_step, len(cloud.data))
                != (width, height, 16, 16 * width, 16 * width * height)
                or layout != [('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]
                or cloud.is_bigendian):
            self.problem(stamp, 'points', f'layout {cloud.width}x{cloud.height} {layout}')
            return
        points = np.frombuffer(bytes(cloud.data), '<f4').reshape(height, width, 4)[..., :3]
        finite = np.isfinite(points)
        if np.isinf(points).any() or (finite.any(axis=2) != finite.all(axis=2)).any():
            self.problem(stamp, 'points', 'infinite, or partly NaN, points')
        if cloud.is_dense != bool(finite.all()):
            self.problem(stamp, 'points', f'is_dense {cloud.is_dense} is wrong')
        if depth is not None and not np.array_equal(points[..., 2], depth, equal_nan=True):
            self.problem(stamp, 'points', 'z differs from depth')
        if depth is not None and info is not None:
            k = np.array(info.k).reshape(3, 3)
            v, u = np.mgrid[0:height, 0:width]
            valid = finite.all(axis=2)
            with np.errstate(over='ignore', invalid='ignore'):
                x = (u - k[0, 2]) / k[0, 0] * depth
                y = (v - k[1, 2]) / k[1, 1] * depth
            if not (np.allclose(points[..., 0][valid], x[valid], rtol=1e-5, atol=1e-6)
                    and np.allclose(points[..., 1][valid], y[valid], rtol=1e-5, atol=1e-6)):
                self.problem(stamp, 'points', 'do not back-project depth with the camera_info')


class LogTail:
    """The node's console output, read as it grows."""

    def __init__(self, path: Path) -> None:
        """Follow `path` from its start."""
        self.path = path
        self._offset = 0
        self._partial = ''
        self.lines: List[str] = []

    def read(self) -> List[str]:
        """Return the lines added since the last call (complete lines only)."""
        with open(self.path, encoding='utf-8', errors='replace') as log:
            log.seek(self._offset)
            text = log.read()
            self._offset = log.tell()
        text = self._partial + text
        *new, self._partial = text.split('\n')
        self.lines += new
        return new


def line_stamp(line: str) -> Optional[Stamp]:
    """Return the image stamp an error or warning line names, if any."""
    match = STAMP.search(line)
    return (int(match.group(1)), int(match.group(2))) if match else None


def expected_camera(pipeline: DepthPipeline, case: Case, info) -> Optional[PinholeCamera]:
    """Return the output intrinsics of a frame of `case` with this camera_info, where defined."""
    if info is None or case.outcome not in ('accept', 'unmatched'):
        return None
    try:
        return pipeline.output_camera(camera_from_info(info))
    except CameraInfoError:
        return None


def _publish_round(h: Harness, pairs) -> None:
    """Publish a round's pairs in one burst, then its last one after a pause (info first)."""
    *burst, (last_info, last_image) = pairs
    for info, image in burst:
        if info is not None:
            h.pub_info.publish(info)
        if image is not None:
            h.pub_image.publish(image)
    h.spin_until(lambda: False, 0.02)
    if last_info is not None:
        h.pub_info.publish(last_info)
        h.spin_until(lambda: False, 0.05)  # so the node pairs the image by stamp
    if last_image is not None:
        h.pub_image.publish(last_image)


def _wait_for_round(h: Harness, log: LogTail, run: FuzzRun, index: int, case: Case,
                    stamps: List[Stamp]) -> None:
    """Spin until the node has dealt with a round: a line naming it, or its last outputs."""
    stamp_set = set(stamps)
    seen: List[bool] = [False]

    def named() -> bool:
        if not seen[0]:
            seen[0] = any(line_stamp(line) in stamp_set for line in log.read())
        return seen[0]

    def answered() -> bool:
        return set(h.outputs) <= set(h.received.get(stamps[-1], {}))

    if case.outcome == 'error':
        done = named
    elif case.outcome == 'accept':
        done = answered
    elif case.outcome == 'either':
        def done() -> bool:
            return answered() or named()
    else:  # nothing to wait for (a silent drop, a throttled warning): give the node time
        h.spin_until(lambda: False, 0.1 * case.batch + 0.3 if stamps else 0.05)
        return
    if not h.spin_until(done, 10.0):
        run.unprocessed.append(f'no line and no output for {run.where(index)}')


def _send_good_frame(h: Harness, run: FuzzRun, index: int, info, image) -> None:
    """Send a good frame (its camera_info first) and wait for all its outputs."""
    stamp = (image.header.stamp.sec, image.header.stamp.nanosec)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        h.pub_info.publish(info)
        h.spin_until(lambda: False, 0.05)  # so the node pairs it by stamp, not with the latest
        h.pub_image.publish(image)
        if h.spin_until(lambda: set(h.outputs) <= set(h.received.get(stamp, {})), 3.0):
            return
    run.unprocessed.append(f'good frame {stamp} after {run.where(index)}')


def fuzz(h: Harness, proc, log: LogTail, pipeline: DepthPipeline, checker: OutputChecker,
         run: FuzzRun) -> None:
    """Send ROUNDS rounds, each followed by a good frame; check the outputs after each."""
    rng = np.random.default_rng(run.seed)
    kinds = case_kinds(MAX_PIXELS)
    names = sorted(kinds)
    stamps = StampSource()
    for index in range(ROUNDS):
        previous = run.rounds[-1] if run.rounds else None
        if previous is not None and previous.outcome == 'error' and rng.random() < REPEAT:
            case = previous  # the very same problem again, after a good frame
            run.counts['repeated rounds'] += 1
        else:
            case = kinds[names[int(rng.integers(len(names)))]](rng)
        run.rounds.append(case)
        good = good_case(rng, real_size=rng.random() < REAL_SIZE_GOOD)
        pairs = round_messages(case, stamps, rng)
        good_info, good_image = round_messages(good, stamps, rng)[0]
        sent = [(case, pair) for pair in pairs] + [(good, (good_info, good_image))]
        for of_case, (info, image) in sent:
            run.counts['camera_info'] += info is not None
            run.counts['image'] += image is not None
            if image is not None:
                stamp = (image.header.stamp.sec, image.header.stamp.nanosec)
                run.sent[stamp] = Sent(index, of_case, expected_camera(pipeline, of_case, info))
        run.counts[case.kind] += 1
        run.counts['good frames'] += 1

        _publish_round(h, pairs)
        images = [(i.header.stamp.sec, i.header.stamp.nanosec) for _, i in pairs if i is not None]
        _wait_for_round(h, log, run, index, case, images)
        _send_good_frame(h, run, index, good_info, good_image)
        for stamp in list(h.received):
            checker.check(stamp, h.received.pop(stamp))
        if proc.poll() is not None:
            run.crash = f'depth_node exited with {proc.returncode} during {run.where(index)}'
            return
        log.read()


@pytest.fixture(scope='module')
def fuzz_run(tiny_camera_model: Path, tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """Run the whole fuzz once for the module; return what it saw."""
    env = isolated_ros_env(salt=41)
    log_path = tmp_path_factory.mktemp('fuzz') / 'depth_node.log'
    spec = load_spec(tiny_camera_model)
    # the node's own resize mode, for the output intrinsics only (no backend)
    pipeline = DepthPipeline(spec, backend=None, resize_mode=PARAMETERS['resize_mode'][0])
    run = FuzzRun(seed=SEED)
    print(f'\nfuzz seed {SEED}, {ROUNDS} rounds (ROS2_DEPTH_FUZZ_SEED, ROS2_DEPTH_FUZZ_ROUNDS)')
    proc = start_depth_node(tiny_camera_model, log_path, env,
                            '-p', f'max_image_pixels:={MAX_PIXELS}')
    h = Harness(env, namespace='/cam', labels=True)
    h.node.create_subscription(DiagnosticArray, '/diagnostics',
                               lambda msg: run.statuses.extend(msg.status), 10)
    log = LogTail(log_path)
    start = time.monotonic()
    try:
        assert h.wait_for_node(), f'depth_node did not come up:\n{log_path.read_text()}'
        fuzz(h, proc, log, pipeline, OutputChecker(run, spec), run)
        if not run.crash:  # two diagnostics after the last good frame
            count = len(run.statuses)
            h.spin_until(lambda: len(run.statuses) >= count + 2, 5.0)
    finally:
        h.close()
        run.exit_code = stop_process(proc)
        run.seconds = time.monotonic() - start
    log.read()
    run.log = log.lines + ([log._partial] if log._partial else [])
    print(f'fuzz: {run.counts["image"]} images and {run.counts["camera_info"]} camera_infos '
          f'in {len(run.rounds)} rounds ({run.counts["good frames"]} good frames between them), '
          f'{sum(run.outputs.values())} outputs checked, {run.seconds:.0f} s')
    return run


def test_node_never_crashes_and_exits_cleanly(fuzz_run: FuzzRun) -> None:
    """The node outlives every round and exits 0 on SIGINT."""
    assert not fuzz_run.crash, fuzz_run.crash + '\n' + '\n'.join(fuzz_run.log[-30:])
    assert fuzz_run.exit_code == 0, '\n'.join(fuzz_run.log[-30:])
    assert len(fuzz_run.rounds) == ROUNDS


def test_every_good_frame_is_processed(fuzz_run: FuzzRun) -> None:
    """Every good frame, and the newest frame of every round of valid input, has all outputs."""
    assert not fuzz_run.unprocessed, '\n'.join(fuzz_run.unprocessed[:20])
    assert fuzz_run.counts['good frames'] == ROUNDS


def test_every_output_is_well_formed(fuzz_run: FuzzRun) -> None:
    """Each published message belongs to an accepted input and is consistent with it."""
    assert not fuzz_run.problems, '\n'.join(fuzz_run.problems[:20])
    assert fuzz_run.outputs['depth'] >= fuzz_run.counts['good frames']


def _parsed(run: FuzzRun) -> List[Tuple[str, float, str, str]]:
    """Return (severity, time, text, raw) for every line; unparsable lines as ('?', 0, raw)."""
    out = []
    for raw in run.log:
        match = LINE.match(raw)
        out.append((match.group(1), float(match.group(2)), match.group(4), raw) if match
                   else ('?', 0.0, raw, raw))
    return out


def test_each_refused_frame_is_one_line_per_round(fuzz_run: FuzzRun) -> None:
    """
    A round of refused frames gets one error line (with the problem), then one per 5 s at most.

    Rounds are separated by good frames, after which the same problem must be logged again; so
    every round with an 'error' case has at least one line, every line names the round's
    problem, and the lines of one round are at least 5 s apart.
    """
    by_round: Dict[int, List[Tuple[float, str]]] = collections.defaultdict(list)
    stray = []
    for severity, when, text, raw in _parsed(fuzz_run):
        if severity != 'ERROR':
            continue
        sent = fuzz_run.sent.get(line_stamp(text))
        if sent is None or not (
                sent.case.outcome in ('error', 'either')
                # an image without its own camera_info may get the latest one, of another size
                or sent.case.outcome == 'unmatched' and 'camera_info describes' in text):
            stray.append(raw)
        else:
            by_round[sent.round].append((when, text))
    assert not stray, 'error lines for inputs that are not refused:\n' + '\n'.join(stray[:20])
    failures = []
    for index, case in enumerate(fuzz_run.rounds):
        lines = by_round.get(index, [])
        if case.outcome == 'error' and not lines:
            failures.append(f'no error line for {fuzz_run.where(index)}')
        for when, text in lines:
            if case.reason not in text:
                failures.append(f'"{text}" does not say "{case.reason}": {fuzz_run.where(index)}')
        gaps = np.diff([when for when, _ in lines])
        if (gaps < ERROR_REPEAT_S - 0.1).any():
            failures.append(f'{len(lines)} lines within {ERROR_REPEAT_S} s for '
                            f'{fuzz_run.where(index)}:\n' + '\n'.join(t for _, t in lines))
    assert not failures, '\n'.join(failures[:20])
    assert fuzz_run.counts['repeated rounds'] > 0, 'no round repeated its predecessor'


def test_the_log_holds_only_known_lines(fuzz_run: FuzzRun) -> None:
    """No traceback, warning or unknown line; each throttled warning at most once per period."""
    unknown, times = [], collections.defaultdict(list)
    for severity, when, text, raw in _parsed(fuzz_run):
        if severity in ('INFO', 'WARN') and '] [rcl]: ' in raw:
            continue  # the middleware on its configuration (ROS_LOCALHOST_ONLY on Jazzy)
        if severity == 'ERROR' and text.startswith('dropped image at '):
            continue
        if severity == 'INFO' and text.startswith(STARTUP_INFO):
            continue
        site = next((s for s in THROTTLED if s in text), None)
        if severity == 'WARN' and site is not None:
            times[site].append(when)
            continue
        unknown.append(raw)
    assert not unknown, f'seed {fuzz_run.seed}: unexpected log lines:\n' + '\n'.join(unknown[:30])
    for site, stamps in times.items():
        assert (np.diff(stamps) >= THROTTLED[site] - 0.1).all(), (site, stamps)
    for kind, site in (('empty_frame_id', 'has an empty frame_id'),
                       ('frame_id_not_camera_info', 'differs from image frame')):
        if fuzz_run.counts[kind]:
            assert times[site], f'no "{site}" warning, though {kind} frames were sent'


def test_diagnostics_account_for_every_image(fuzz_run: FuzzRun) -> None:
    """The counters add up to the images received, and the status is OK after a good frame."""
    assert fuzz_run.statuses, 'no /diagnostics received'
    last = fuzz_run.statuses[-1]
    values = {kv.key: kv.value for kv in last.values}
    counts = {k: int(values[k]) for k in ('received', 'processed', 'dropped_stale',
                                          'dropped_no_info', 'errors', 'idle')}
    assert last.message == 'running' and last.level == DiagnosticStatus.OK, (
        last.level, last.message)
    assert counts['received'] == sum(v for k, v in counts.items() if k != 'received'), counts
    assert counts['processed'] >= fuzz_run.counts['good frames'], counts
    refused = sum(case.outcome == 'error' for case in fuzz_run.rounds)
    assert counts['errors'] >= refused, counts
    errors = [line for line in fuzz_run.log if '[ERROR]' in line]
    for status in fuzz_run.statuses:
        if status.message.startswith('last error: '):
            problem = status.message[len('last error: '):]
            assert any(line.endswith(problem) for line in errors), status.message


def test_log_lines_escape_control_characters() -> None:
    """An encoding or frame_id with a newline (the fuzz found) cannot split a log line."""
    from ros2_depth.depth_node import _one_line

    assert _one_line('rgb8\n\x1b[31m\tkamera_\u00f6') == 'rgb8\\n\\x1b[31m\\tkamera_\u00f6'
