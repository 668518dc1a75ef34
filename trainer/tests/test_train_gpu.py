"""
Training on an NVIDIA GPU: mixed precision, and the same network on CUDA and on the CPU.

Marked ``gpu``; they skip where torch sees no CUDA device (CI has none). Run them on a GPU
machine with ``python -m pytest -m gpu trainer/tests``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ros2_depth_trainer.checkpoint import load_training_checkpoint
from ros2_depth_trainer.config import load_config
from ros2_depth_trainer.data.synthetic import SyntheticDataset
from ros2_depth_trainer.evaluate import dataset_mean_depth, evaluate, runner_from_checkpoint
from ros2_depth_trainer.models import build_model, get_config
from ros2_depth_trainer.protocols import PROTOCOLS
from ros2_depth_trainer.synth.writer import generate
from ros2_depth_trainer.train import train
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device'),
]

TINY = Path(__file__).resolve().parents[1] / 'configs' / 'synthetic_tiny.yaml'


def test_light_network_gives_the_same_maps_on_cuda_and_cpu(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # full float32 convolutions (cuDNN may use TF32 on Ampere and later, about 1e-3 relative)
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    torch.manual_seed(0)
    model = build_model(get_config('eigen15-light')).eval()
    image = torch.rand(2, 3, model.config.input_height, model.config.input_width)
    with torch.no_grad():
        on_cpu = model(image)
        cuda_model = model.cuda()
        on_cuda = {key: value.cpu() for key, value in cuda_model(image.cuda()).items()}
        with torch.autocast('cuda', dtype=torch.float16):
            half = {key: value.float().cpu() for key, value in cuda_model(image.cuda()).items()}
    for key in ('depth', 'normals'):
        assert on_cuda[key].shape == on_cpu[key].shape
        np.testing.assert_allclose(on_cuda[key].numpy(), on_cpu[key].numpy(), atol=1e-4)
    # float16 autocast: depth within 1 % and normals within 2 degrees at 99 % of the pixels
    # (an untrained network has a few near-degenerate pixels, so no bound on the maximum)
    ratio = (half['depth'] / on_cpu['depth']).numpy()
    assert np.percentile(np.abs(ratio - 1), 99) < 0.01
    cosine = (half['normals'] * on_cpu['normals']).sum(dim=1).numpy()
    assert np.percentile(cosine, 1) > np.cos(np.radians(2.0))


@pytest.mark.parametrize('amp', [True, False])
def test_cuda_run_with_mixed_precision_trains_and_beats_the_mean(tmp_path: Path,
                                                                 amp: bool) -> None:
    train_dir, test_dir = tmp_path / 'train', tmp_path / 'test'
    generate(train_dir, 96, 0, 'street', 64, 96, workers=2, progress=False)
    generate(test_dir, 32, 1, 'street', 64, 96, workers=2, progress=False)
    config = load_config(TINY, [f'data.train.args.roots=[{train_dir}]', 'train.device=cuda',
                                f'train.amp={str(amp).lower()}'])
    result = train(config, tmp_path / 'run')

    depth_loss = [entry['depth'] for entry in result.history]
    assert all(np.isfinite(depth_loss))
    assert np.mean(depth_loss[-3:]) < 0.5 * np.mean(depth_loss[:3])
    _, _, state = load_training_checkpoint(result.final_checkpoint)
    if amp:
        assert state.scaler and state.scaler['scale'] > 0  # the gradient scaler ran and was saved
    else:
        assert state.scaler is None
    # the checkpoint is read on the CPU and scored like any other
    train_mean = dataset_mean_depth(SyntheticDataset(train_dir), progress=False)
    runner = runner_from_checkpoint(result.final_checkpoint, name='cuda')
    report = evaluate(SyntheticDataset(test_dir), [runner], PROTOCOLS['full'], train_mean,
                      figure_rows=0, progress=False)
    mean, model = report.columns
    assert model.depth['abs_rel'] < 0.6 * mean.depth['abs_rel']


def test_cuda_scale3_windows_stage_with_mixed_precision(tmp_path: Path) -> None:
    """The two-stage schedule on CUDA: scales 1+2, then scale 3 on output windows, float16."""
    train_dir = tmp_path / 'train'
    generate(train_dir, 32, 0, 'street', 64, 96, workers=2, progress=False)
    stages = ('stages=[{name: coarse, steps: 10, output: scale2, train: [backbone, fc1, fc2, '
              'scale2_front, scale2_heads, depth_bias]}, {name: fine, steps: 10, '
              'train: [scale3_front, scale3_heads], output_crop: [10, 20]}]')
    config = load_config(TINY, [f'data.train.args.roots=[{train_dir}]', 'train.device=cuda',
                                'train.amp=true', 'train.log_every=1', stages])
    result = train(config, tmp_path / 'run')
    fine = [entry for entry in result.history if entry['step'] > 10]
    assert len(fine) == 10 and all(np.isfinite(entry['depth']) for entry in fine)
    assert result.final_checkpoint.is_file()
