"""
The soak benchmark (ros2_depth.demo.soak) runs end to end: a few seconds with the tiny model.

Only that it measures something is checked; its timings are benchmarks (docs/benchmarks.md),
never asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ros2_depth.demo.soak import describe, run_soak, SoakOptions


@pytest.mark.slow
def test_a_short_soak_measures_everything(tiny_model: Path, tmp_path: Path) -> None:
    """Frames answered, latency, node counters and RSS samples, and a clean node exit."""
    summary = run_soak(SoakOptions(
        duration_s=4.0, warmup_s=1.0, rate_hz=10.0, width=160, height=120,
        model=str(tiny_model), num_threads=1, inference_runs=3,
        node_log=tmp_path / 'depth_node.log'))
    frames = summary['frames']
    assert summary['machine']['node_exit_code'] == 0, (tmp_path / 'depth_node.log').read_text()
    assert frames['answered'] > 0 and frames['outputs_with_unknown_stamp'] == 0, frames
    assert summary['latency_ms']['all_outputs']['count'] == frames['answered']
    assert summary['rss']['samples'] >= 2 and summary['rss']['at_end_mib'] > 0
    assert summary['node_counters_after_warmup']['received'] > 0
    assert summary['outputs'] == ['depth', 'info', 'normals', 'points']
    assert 'p99' in describe(summary)
