"""Tests of `finetune`'s parts: the start model, the mixed data, the run config, the report."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from ros2_depth.resources import default_model_path
from ros2_depth_trainer.finetune import (
    command_line, FinetuneError, FinetuneOptions, load_options, mixed_training_set,
    report_table, run_config, save_options, start_checkpoint, synthetic_share, WithAllTasks)
import torch
from torch.utils.data import Dataset


class Frames(Dataset):
    """``count`` depth-only samples whose image value is their index (and a tag)."""

    def __init__(self, count: int, tag: float) -> None:
        self.count, self.tag = count, tag

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        sample = {'image': torch.full((3, 4, 6), float(index)), 'depth': torch.ones(1, 4, 6),
                  'tag': torch.tensor(self.tag)}
        if self.tag == 2.0:  # generated scenes have every task
            sample['normals'] = torch.ones(3, 4, 6)
            sample['labels'] = torch.full((4, 6), 3, dtype=torch.int64)
        return sample


def test_start_is_the_bundled_checkpoint_by_default() -> None:
    assert start_checkpoint(None) == default_model_path().with_suffix('.pt')
    assert start_checkpoint(str(default_model_path())) == default_model_path().with_suffix('.pt')


def test_a_start_without_checkpoint_says_what_to_give(tmp_path: Path) -> None:
    (tmp_path / 'm.onnx').write_bytes(b'')
    with pytest.raises(FinetuneError, match=r'm\.pt does not exist.*exported from a checkpoint'):
        start_checkpoint(str(tmp_path / 'm.onnx'))


@pytest.mark.parametrize('recorded, ratio, expected', [(100, 0.0, 0), (100, 0.3, 43),
                                                       (100, 0.5, 100), (3, 0.1, 1)])
def test_synthetic_share(recorded: int, ratio: float, expected: int) -> None:
    assert synthetic_share(recorded, ratio) == expected


def test_mixed_training_set_adds_generated_scenes_with_empty_tasks() -> None:
    mixed = mixed_training_set(Frames(7, 1.0), Frames(5, 2.0), 0.5, seed=3)
    assert len(mixed) == 14  # 7 recorded + 7 generated (5 repeated to 7)
    tags = [float(mixed[i]['tag']) for i in range(len(mixed))]
    assert tags == [1.0] * 7 + [2.0] * 7
    recorded, generated = mixed[0], mixed[7]
    assert (recorded['normals'] == 0).all() and (recorded['labels'] == 0).all()  # not scored
    assert (generated['normals'] == 1).all() and (generated['labels'] == 3).all()  # kept
    again = mixed_training_set(Frames(7, 1.0), Frames(5, 2.0), 0.5, seed=3)
    assert [float(again[i]['image'][0, 0, 0]) for i in range(7, 14)] == [
        float(mixed[i]['image'][0, 0, 0]) for i in range(7, 14)]  # the same subset on resume
    # Every generated scene is used before any repeats.
    assert len({float(mixed[i]['image'][0, 0, 0]) for i in range(7, 14)}) == 5
    assert mixed_training_set(Frames(7, 1.0), None, 0.0, 0)[0].keys() == Frames(7, 1.0)[0].keys()


def test_with_all_tasks_keeps_what_is_there() -> None:
    sample = WithAllTasks(Frames(1, 2.0))[0]
    assert (sample['labels'] == 3).all() and sample['normals'].shape == (3, 4, 6)


@pytest.mark.parametrize('changes, words', [
    ({'recordings': []}, 'at least one recording'),
    ({'synthetic_ratio': 1.0}, r'synthetic-ratio must be in \[0, 1\)'),
    ({'synthetic_ratio': 0.3}, 'needs --synthetic'),
    ({'steps': 0}, 'must be positive'),
])
def test_options_that_cannot_run(changes, words: str) -> None:
    options = FinetuneOptions(recordings=['a.mcap'], output='runs/ft')
    for key, value in changes.items():
        setattr(options, key, value)
    with pytest.raises(FinetuneError, match=words):
        options.check()


def test_options_round_trip_and_command_line(tmp_path: Path) -> None:
    options = FinetuneOptions(recordings=['my bag'], output=str(tmp_path), synthetic=['g'],
                              synthetic_ratio=0.25, steps=50, lr=3e-4)
    save_options(options, tmp_path)
    assert load_options(tmp_path) == options
    assert command_line(options) == (
        f"ros2-depth-train finetune 'my bag' --output {tmp_path} --synthetic g "
        '--synthetic-ratio 0.25 --steps 50 --lr 0.0003')
    with pytest.raises(FinetuneError, match='--resume continues'):
        load_options(tmp_path / 'elsewhere')


def test_run_config_fine_tunes_the_start_model_whole() -> None:
    start = start_checkpoint(None)
    config = run_config(FinetuneOptions(recordings=['a'], output='o', steps=120, lr=2e-4,
                                        batch_size=4), start)
    assert config.model.variant == 'eigen15-light-camera'
    assert config.model.init_from == str(start)
    (stage,) = config.stages
    assert stage.output == 'final' and stage.steps == 120
    assert set(stage.train) >= {'backbone', 'scale2_heads', 'scale3_heads'}
    assert stage.eval_modules == ['fc_dropout']
    assert config.optim.lr == 2e-4 and config.data.batch_size == 4
    assert config.loss.labels_weight == 0.5 and config.data.augment == 'synthetic_robust'
    # The saved config names the data (finetune builds and mixes the datasets itself).
    assert config.data.train.kind == config.data.val.kind == 'recording'
    assert config.data.train.args == {'paths': ['a'], 'split': 'train', 'max_depth': 10.0,
                                      'min_interval': 0.2}


def test_report_table_marks_the_best_column() -> None:
    columns = [SimpleNamespace(name=name, depth={'abs_rel': a, 'delta1': d})
               for name, a, d in (('Mean', 0.5, 0.2), ('before', 0.3, 0.4), ('after', 0.2, 0.6))]
    table = report_table(SimpleNamespace(columns=columns)).splitlines()
    assert table[0] == '| | Mean | before | after |'
    assert table[2] == '| abs rel ↓ | 0.500 | 0.300 | **0.200** |'
    assert '| δ < 1.25 ↑ | 0.200 | 0.400 | **0.600** |' in table
    assert '| sq rel ↓ | – | – | – |' in table


def test_worker_errors_become_their_original_one_line_message() -> None:
    from ros2_depth_trainer.finetune_command import one_line

    wrapped = ValueError('Caught RecordingError in DataLoader worker process 1.\n'
                         'Original Traceback (most recent call last):\n'
                         '  File "x.py", line 3, in f\n'
                         'ros2_depth_trainer.data.recording.RecordingError: bag.mcap: '
                         '/camera/image @ 12.3 s: not a JPEG\n')
    assert one_line(wrapped) == 'bag.mcap: /camera/image @ 12.3 s: not a JPEG'
    assert one_line(ValueError('plain: message')) == 'plain: message'
    assert one_line(OSError()) == 'OSError'
