"""
End-to-end training tests on generated scenes (``ros2-depth-train synth``), on the CPU.

The "Done when" test: the tiny config (trainer/configs/synthetic_tiny.yaml) trains on 96
generated street scenes for 150 steps, lowers its loss, and beats the Mean baseline (the
training set's mean depth everywhere) on 32 held-out scenes, scored by the project's evaluation
(``ros2_depth_trainer.evaluate``) from the final checkpoint. Then the command line: train,
resume from a checkpoint, export the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from ros2_depth.model_spec import load_spec
from ros2_depth_trainer import cli
from ros2_depth_trainer.checkpoint import load_training_checkpoint
from ros2_depth_trainer.config import load_config
from ros2_depth_trainer.data.synthetic import SyntheticDataset
from ros2_depth_trainer.evaluate import dataset_mean_depth, evaluate, runner_from_checkpoint
from ros2_depth_trainer.protocols import PROTOCOLS
from ros2_depth_trainer.synth.writer import generate
from ros2_depth_trainer.train import (
    CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE, TENSORBOARD_DIR, train)
import torch

TINY = Path(__file__).resolve().parents[1] / 'configs' / 'synthetic_tiny.yaml'
SIZE = (64, 96)


@pytest.fixture(scope='module')
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Generate 96 training and 32 held-out street scenes at 64x96 (different seeds)."""
    root = tmp_path_factory.mktemp('synth')
    folders = {'train': root / 'train', 'test': root / 'test'}
    generate(folders['train'], 96, 0, 'street', *SIZE, workers=1, progress=False)
    generate(folders['test'], 32, 1, 'street', *SIZE, workers=1, progress=False)
    return folders


@pytest.mark.slow
def test_short_cpu_run_lowers_the_loss_and_beats_the_mean_baseline(
        scenes: Dict[str, Path], tmp_path: Path) -> None:
    config = load_config(TINY, [f'data.train.args.roots=[{scenes["train"]}]'])
    assert config.total_steps == 150 and config.data.batch_size == 8
    result = train(config, tmp_path)  # the dataset comes from the config

    depth_loss = [entry['depth'] for entry in result.history]
    normals_loss = [entry['normals'] for entry in result.history]
    assert len(depth_loss) == 15
    assert np.mean(depth_loss[-3:]) < 0.5 * np.mean(depth_loss[:3])
    assert np.mean(normals_loss[-3:]) < np.mean(normals_loss[:3]) - 0.05  # -cos: lower is better

    train_mean = dataset_mean_depth(SyntheticDataset(scenes['train']), progress=False)
    runner = runner_from_checkpoint(result.final_checkpoint, name='tiny')
    report = evaluate(SyntheticDataset(scenes['test']), [runner], PROTOCOLS['full'], train_mean,
                      figure_rows=0, progress=False)
    mean, model = report.columns
    assert (mean.name, model.name, model.images) == ('Mean', 'tiny', 32)
    assert model.depth['abs_rel'] < 0.6 * mean.depth['abs_rel']
    assert model.depth['rmse'] < mean.depth['rmse']
    assert model.depth['delta1'] > mean.depth['delta1'] + 0.1
    assert model.normals['mean'] < 60.0  # degrees; random unit vectors average 90


def test_command_line_train_resume_and_export(scenes: Dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / 'run'
    common = [
        '--set', f'data.train.args.roots=[{scenes["train"]}]',
        '--set', f'data.val={{kind: synthetic, args: {{roots: [{scenes["test"]}]}}}}',
        '--set', 'stages=[{name: coarse, steps: 2, output: scale2, train: [backbone, fc1, fc2, '
                 'scale2_front, scale2_heads, depth_bias]}, {name: fine, steps: 2, '
                 'train: [scale3_front, scale3_heads], output_crop: [10, 20]}]',
        '--set', 'train.checkpoint_every=2', '--set', 'train.val_every=2',
        '--set', 'train.image_every=2', '--set', 'train.log_every=1']
    assert cli.main(['train', '--config', str(TINY), '--device', 'cpu', '--output', str(run)]
                    + common) == 0

    config = load_config(run / CONFIG_FILE)
    assert config.train.device == 'cpu' and [s.name for s in config.stages] == ['coarse', 'fine']
    records = [json.loads(line) for line in (run / METRICS_FILE).read_text().splitlines()]
    assert [r['step'] for r in records if r['kind'] == 'train'] == [1, 2, 3, 4]
    validation = [r for r in records if r['kind'] == 'val']
    assert [r['step'] for r in validation] == [2, 4]
    assert {'abs_rel', 'rmse', 'delta1', 'loss'} <= set(validation[0])
    assert {'lr_all', 'depth', 'normals', 'total'} <= set(records[0])

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / TENSORBOARD_DIR))
    events.Reload()
    assert {'train/total', 'train/depth', 'train/lr_all', 'val/abs_rel'} <= set(
        events.Tags()['scalars'])
    assert events.Tags()['images']

    # Resume from step 2 with the checkpoint's own config, into a second folder.
    resumed = tmp_path / 'resumed'
    assert cli.main(['train', '--resume', str(run / CHECKPOINT_DIR / 'step_00000002.pt'),
                     '--output', str(resumed)]) == 0
    _, _, state = load_training_checkpoint(resumed / 'final.pt')
    assert state.step == 4 and state.stage == 1
    _, first_weights, _ = load_training_checkpoint(run / 'final.pt')
    _, resumed_weights, _ = load_training_checkpoint(resumed / 'final.pt')
    for name, value in first_weights.items():
        torch.testing.assert_close(resumed_weights[name], value, rtol=1e-6, atol=1e-7)

    onnx_path = tmp_path / 'tiny.onnx'
    assert cli.main(['export', '--checkpoint', str(run / 'final.pt'), '--output',
                     str(onnx_path)]) == 0
    spec = load_spec(onnx_path.with_suffix('.json'))
    assert spec.trained and spec.input.height == 64 and spec.input.width == 96
    # valid depths: the caps of the training data's protocol (generated scenes: 'full', 80 m)
    assert spec.depth_range == (PROTOCOLS['full'].min_depth, PROTOCOLS['full'].max_depth)
    assert cli.main(['export', '--checkpoint', str(run / 'final.pt'), '--output',
                     str(onnx_path), '--depth-range', '0.2', '12', '--no-verify']) == 0
    assert load_spec(onnx_path.with_suffix('.json')).depth_range == (0.2, 12.0)
    assert cli.main(['export', '--checkpoint', str(run / 'final.pt'), '--output',
                     str(onnx_path), '--depth-range', '5', '1', '--no-verify']) == 1
    assert spec.model_config['fc_hidden'] == 64 and spec.model_config['family'] == 'eigen15'


def test_command_line_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert cli.main(['train', '--output', str(tmp_path)]) == 2
    assert cli.main(['train', '--config', str(TINY), '--set', 'optim.lr=fast',
                     '--output', str(tmp_path)]) == 1
    assert 'expected a number' in caplog.text
    assert cli.main(['train', '--config', str(TINY), '--set', 'data.train.args.roots=[/nope]',
                     '--output', str(tmp_path)]) == 1
    assert 'index.json' in caplog.text
