"""Tests of the YAML run configs: loading, base files, overrides, type checks, shipped files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ros2_depth_trainer.config import (
    apply_overrides, ConfigError, load_config, parse_override, run_config_from_dict,
    RunConfig, save_config)
from ros2_depth_trainer.data.registry import train_kinds
from ros2_depth_trainer.models import build_model
from ros2_depth_trainer.optim import assign_groups, group_rates, set_trainable
from ros2_depth_trainer.train import compute_losses, model_config
import torch
import yaml

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
SHIPPED = sorted(CONFIGS.glob('*.yaml'))

MINIMAL = {
    'model': {'variant': 'eigen14'},
    'optim': {'name': 'sgd', 'lr': 0.01},
    'stages': [{'name': 'a', 'steps': 10}, {'name': 'b', 'steps': 5, 'output': 'coarse'}],
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_configs_exist() -> None:
    names = {p.name for p in SHIPPED}
    assert {'synthetic_light.yaml', 'synthetic_tiny.yaml', 'nyu_eigen14.yaml',
            'kitti_eigen14.yaml', 'nyu_eigen15_vgg16.yaml', 'nyu_eigen15_alexnet.yaml',
            'nyu_semantic_vgg16.yaml'} <= names


@pytest.mark.parametrize('path', SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_config_builds_and_covers_every_parameter(path: Path) -> None:
    config = load_config(path)
    assert config.data.train.kind in train_kinds()
    if config.data.val is not None:
        assert config.data.val.kind in train_kinds()
    with torch.device('meta'):
        model = build_model(model_config(config.model))
    groups = assign_groups(model, config.optim)  # raises if a parameter has no group
    assert sum(len(v) for v in groups.values()) == len(list(model.parameters()))
    trained_somewhere = set()
    for stage in config.stages:
        trained_somewhere.update(set_trainable(model, stage.train))
        model.output_grid(stage.output)  # the stage's output exists
    assert trained_somewhere == {n for n, _ in model.named_parameters()}


def _rates_by_parameter(path: Path, stage_index: int) -> dict:
    config = load_config(path)
    with torch.device('meta'):
        model = build_model(model_config(config.model))
    rates = group_rates(config.optim, config.stages[stage_index])
    return {name: rates[group] for group, names in assign_groups(model, config.optim).items()
            for name in names}


def test_eigen14_config_has_the_paper_rates_and_stages() -> None:
    rates = _rates_by_parameter(CONFIGS / 'nyu_eigen14.yaml', 0)
    lr = {name: r['lr'] for name, r in rates.items()}
    assert lr['backbone.0.weight'] == 0.001  # coarse convs
    assert lr['fc1.weight'] == lr['fc2.bias'] == 0.1  # coarse FC
    assert lr['fine_front.0.weight'] == 0.001  # fine 1
    assert lr['fine_head.0.weight'] == 0.01  # fine 2
    assert lr['fine_head.2.weight'] == 0.001  # fine 3
    config = load_config(CONFIGS / 'nyu_eigen14.yaml')
    coarse, fine = config.stages
    assert (coarse.output, fine.output) == ('coarse', 'final')
    assert coarse.steps * config.data.batch_size == 2_000_000
    assert fine.steps * config.data.batch_size == 1_500_000
    assert config.optim.name == 'sgd' and config.optim.momentum == 0.9
    assert config.loss.scale_invariance == 0.5 and config.loss.gradient_weight == 0
    with torch.device('meta'):
        model = build_model(model_config(config.model))
    assert set(set_trainable(model, fine.train)) == {
        n for n, _ in model.named_parameters() if n.startswith(('fine_front', 'fine_head'))}


def test_eigen15_config_has_the_paper_rates_decay_and_stages() -> None:
    rates = _rates_by_parameter(CONFIGS / 'nyu_eigen15_vgg16.yaml', 0)
    expected = {
        'backbone.0.weight': (0.001, 5e-4),  # ImageNet layers
        'fc1.weight': (0.1, 1e-5), 'fc2.bias': (0.1, 1e-5),  # FC
        'scale2_front.0.weight': (0.001, 1e-4), 'scale3_front.0.bias': (0.001, 1e-4),  # 9x9
        'scale2_heads.depth.0.weight': (0.01, 1e-4),  # middle convs
        'scale2_heads.depth.4.weight': (0.01, 1e-4),
        'scale3_heads.depth.2.weight': (0.01, 1e-4),
        'scale2_heads.depth.6.weight': (0.001, 1e-4),  # last convs
        'scale3_heads.depth.4.bias': (0.001, 1e-4),
    }
    for name, (lr, decay) in expected.items():
        assert (rates[name]['lr'], rates[name]['weight_decay']) == (lr, decay), name
    config = load_config(CONFIGS / 'nyu_eigen15_vgg16.yaml')
    scales12, scale3 = config.stages
    assert scales12.output == 'scale2' and scale3.output == 'final'
    assert scale3.output_crop == [55, 74]
    with torch.device('meta'):
        model = build_model(model_config(config.model))
    assert all(n.startswith(('scale3_front', 'scale3_heads'))
               for n in set_trainable(model, scale3.train))
    assert not any(n.startswith('scale3') for n in set_trainable(model, scales12.train))


def test_alexnet_config_extends_the_vgg16_one() -> None:
    vgg = load_config(CONFIGS / 'nyu_eigen15_vgg16.yaml')
    alexnet = load_config(CONFIGS / 'nyu_eigen15_alexnet.yaml')
    assert alexnet.model.variant == 'eigen15-alexnet'
    assert alexnet.model.overrides == vgg.model.overrides  # merged from the base file
    assert alexnet.optim == vgg.optim
    assert alexnet.data.batch_size == 32 and vgg.data.batch_size == 16
    for a, v in zip(alexnet.stages, vgg.stages):
        assert a.steps * 32 == v.steps * 16


def test_overrides_set_nested_values_with_yaml_types() -> None:
    config = run_config_from_dict(MINIMAL, [
        'optim.lr=1e-3', 'stages.1.steps=7', 'data.train.args.root=/data/x',
        'train.amp=false', 'stages.0.output_crop=[5, 6]', 'model.overrides.dropout=0.1'])
    assert config.optim.lr == 0.001 and isinstance(config.optim.lr, float)
    assert config.stages[1].steps == 7
    assert config.data.train.args == {'root': '/data/x'}
    assert config.train.amp is False
    assert config.stages[0].output_crop == [5, 6]
    assert config.model.overrides == {'dropout': 0.1}
    assert MINIMAL['stages'][1]['steps'] == 5  # the input mapping is not modified


@pytest.mark.parametrize('override, message', [
    ('optim.lr', 'key.subkey=value'),
    ('stages.5.steps=1', 'not an index'),
    ('stages.x.steps=1', 'not an index'),
    ('optim.lr.x=1', 'is a value'),
    ('optim.lrr=1', 'unknown keys'),
    ('optim.lr=fast', 'expected a number'),
    ('stages.0.steps=1.5', 'expected an integer'),
    ('train.amp=1', 'true or false'),
    ('stages.0.steps=0', 'steps must be positive'),
    ('optim.name=rmsprop', 'optim.name'),
    ('loss.scale_invariance=2', 'lambda'),
    ('stages.0.lr={nope: 1}', 'unknown parameter groups'),
])
def test_bad_overrides_are_reported(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_config_from_dict(MINIMAL, [override])


def test_parse_override_reads_yaml_values() -> None:
    assert parse_override('a.b=[1, 2]') == (['a', 'b'], [1, 2])
    assert parse_override('a=null') == (['a'], None)
    assert parse_override('a= x=y') == (['a'], 'x=y')
    assert apply_overrides({'a': [{'b': 1}]}, ['a.-1.b=2']) == {'a': [{'b': 2}]}


def test_base_files_merge_mappings_and_replace_lists(tmp_path: Path) -> None:
    _write(tmp_path / 'base.yaml', dict(MINIMAL, data={'batch_size': 4, 'num_workers': 2}))
    child = _write(tmp_path / 'child.yaml', {
        'base': 'base.yaml', 'data': {'batch_size': 8}, 'stages': [{'name': 'c', 'steps': 3}]})
    config = load_config(child, ['data.num_workers=1'])
    assert config.model.variant == 'eigen14'
    assert (config.data.batch_size, config.data.num_workers) == (8, 1)
    assert [s.name for s in config.stages] == ['c']


def test_base_cycles_and_bad_files_are_errors(tmp_path: Path) -> None:
    _write(tmp_path / 'a.yaml', {'base': 'b.yaml'})
    _write(tmp_path / 'b.yaml', {'base': 'a.yaml'})
    with pytest.raises(ConfigError, match='cycle'):
        load_config(tmp_path / 'a.yaml')
    with pytest.raises(ConfigError, match='cannot read'):
        load_config(tmp_path / 'missing.yaml')
    (tmp_path / 'list.yaml').write_text('- 1\n')
    with pytest.raises(ConfigError, match='mapping'):
        load_config(tmp_path / 'list.yaml')
    (tmp_path / 'bad.yaml').write_text('a: [\n')
    with pytest.raises(ConfigError, match='invalid YAML'):
        load_config(tmp_path / 'bad.yaml')


def test_unknown_nested_keys_name_their_path() -> None:
    data = dict(MINIMAL, stages=[{'name': 'a', 'steps': 1, 'schedule': {'knd': 'step'}}])
    with pytest.raises(ConfigError, match=r'stages\.0\.schedule: unknown keys'):
        run_config_from_dict(data)


def test_saved_config_loads_back_equal(tmp_path: Path) -> None:
    config = load_config(CONFIGS / 'nyu_eigen15_vgg16.yaml', ['optim.betas=[0.8, 0.9]'])
    save_config(config, tmp_path / 'config.yaml')
    again = load_config(tmp_path / 'config.yaml')
    assert again == config
    assert again.optim.betas == (0.8, 0.9)
    assert run_config_from_dict(config.to_dict()) == config
    assert isinstance(again, RunConfig) and again.total_steps == 156250 + 93750


def _authors_depth_cost(pred_log: np.ndarray, depth: np.ndarray, sigma: float,
                        gradient: bool) -> float:
    """Return the released code's batch depth cost on targets ln(depth) / sigma."""
    mask = (depth > 0).astype(np.float64)
    p = pred_log / sigma * mask
    t = np.log(np.where(depth > 0, depth, 1.0)) / sigma * mask
    d = (p - t).reshape(len(p), -1)
    n = mask.reshape(len(p), -1).sum(1)
    cost = ((n * (d ** 2).sum(1)).sum() - 0.5 * (d.sum(1) ** 2).sum()) / max((n ** 2).sum(), 1)
    if gradient:
        pred, target = pred_log / sigma, np.log(np.where(depth > 0, depth, 1.0)) / sigma
        for axis in (1, 2):
            m = np.logical_and(np.take(mask, range(1, mask.shape[axis]), axis),
                               np.take(mask, range(mask.shape[axis] - 1), axis))
            diff = np.diff(pred, axis=axis) - np.diff(target, axis=axis)
            cost += (m * diff ** 2).sum() / m.sum()
    return float(cost)


@pytest.mark.parametrize('name', ['nyu_eigen14', 'kitti_eigen14', 'nyu_eigen15_vgg16',
                                  'nyu_eigen15_alexnet'])
def test_paper_configs_depth_loss_is_the_authors(name: str) -> None:
    """The paper configs' depth loss equals the released code's on ln(depth) / 0.45723134."""
    config = load_config(CONFIGS / f'{name}.yaml').loss
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.5, 9.0, (3, 7, 9))
    depth[rng.random(depth.shape) < 0.2] = 0.0  # missing measurements
    pred_log = rng.normal(1.0, 0.6, depth.shape)
    terms = compute_losses({'depth': torch.from_numpy(pred_log)[:, None]},
                           {'depth': torch.from_numpy(depth)[:, None]}, config)
    expected = _authors_depth_cost(pred_log, depth, 0.45723134, config.gradient_weight > 0)
    assert config.gradient_weight in (0.0, 1.0)
    assert float(terms['total']) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('name', ['synthetic_camera', 'synthetic_light', 'synthetic_tiny'])
def test_synthetic_configs_keep_plain_log_metres(name: str) -> None:
    """The synthetic configs' depth loss stays on ln(metres) (no sigma)."""
    assert load_config(CONFIGS / f'{name}.yaml').loss.log_depth_std is None
