"""
The trainer's module boundaries (issue 9, item 7): one name per concept, no import cycles.

Imports are read from the sources (module level and inside functions alike), so an import hidden
in a function body counts.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Set

from ros2_depth_trainer import config, evaluate, models, train
from ros2_depth_trainer.data import registry, rgbd_list
from ros2_depth_trainer.export import training_depth_range
from ros2_depth_trainer.protocols import PROTOCOLS

PACKAGE = Path(__file__).resolve().parents[1] / 'ros2_depth_trainer'


def imported_modules(path: Path) -> Set[str]:
    """Return every module a source file imports, anywhere in it (absolute names)."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # 'from package import module' imports package.module.
            found.add(node.module)
            found.update(f'{node.module}.{alias.name}' for alias in node.names)
    return found


def test_one_model_config_name() -> None:
    """One ModelConfig: the networks' configs; the run config's model part is ModelSection."""
    assert not hasattr(config, 'ModelConfig')
    assert config.RunConfig().model == config.ModelSection()
    assert models.ModelConfig.__args__ == (models.Eigen14Config, models.Eigen15Config,
                                           models.SemanticConfig)


def test_evaluate_and_export_do_not_import_each_other() -> None:
    """Both use the sidecar module; neither imports the other, not even inside a function."""
    evaluate = imported_modules(PACKAGE / 'evaluate.py')
    export = imported_modules(PACKAGE / 'export.py')
    assert 'ros2_depth_trainer.export' not in evaluate
    assert 'ros2_depth_trainer.evaluate' not in export
    assert 'ros2_depth_trainer.sidecar' in evaluate and 'ros2_depth_trainer.sidecar' in export
    sidecar = imported_modules(PACKAGE / 'sidecar.py')
    assert not {'ros2_depth_trainer.export', 'ros2_depth_trainer.evaluate'} & sidecar


KIND_NAMES = ('synthetic', 'nyu', 'nyu_labeled', 'nyu_frames', 'kitti', 'rgbd_list',
              'recording')


def test_one_dataset_registry_names_every_kind() -> None:
    """Train, evaluate and export take their kinds from data.registry, and no other table."""
    assert set(registry.KINDS) == set(KIND_NAMES)
    assert registry.train_kinds() == ['kitti', 'nyu_frames', 'nyu_labeled', 'recording',
                                      'rgbd_list', 'synthetic']
    assert registry.evaluation_kinds() == ['kitti', 'nyu', 'recording', 'rgbd_list',
                                           'synthetic']
    classes = {name: registry.KINDS[name].dataset_class().__name__
               for name in registry.train_kinds()}
    assert classes == {'kitti': 'KittiDataset', 'nyu_frames': 'NyuFramesDataset',
                       'nyu_labeled': 'NyuLabeledDataset', 'rgbd_list': 'RGBDListDataset',
                       'recording': 'RecordingSourceDataset', 'synthetic': 'SyntheticDataset'}
    assert {name: registry.default_protocol(name) for name in KIND_NAMES} == {
        'synthetic': 'full', 'nyu': 'nyu', 'nyu_labeled': 'nyu', 'nyu_frames': 'nyu',
        'kitti': 'kitti_garg', 'rgbd_list': 'rgbd', 'recording': 'rgbd'}
    assert all(kind.protocol in PROTOCOLS for kind in registry.KINDS.values())
    for module in ('train.py', 'evaluate.py', 'export.py', 'evaluate_command.py'):
        assert 'ros2_depth_trainer.data.registry' in imported_modules(PACKAGE / module), module
    # The tables the registry replaced are gone, as is the data modules' open_dataset hook.
    assert not hasattr(train, 'DATASETS')
    assert not {'DATASET_MODULES', 'DEFAULT_PROTOCOL', '_OPENERS'} & set(vars(evaluate))
    assert not hasattr(rgbd_list, 'open_dataset')


def test_export_depth_range_follows_the_registry() -> None:
    """A checkpoint's training kind gives the sidecar's depth range: its protocol's caps."""
    def extra(kind: str) -> dict:
        return {'training': {'run_config': {'data': {'train': {'kind': kind}}}}}

    for name in registry.train_kinds():
        protocol = PROTOCOLS[registry.KINDS[name].protocol]
        assert training_depth_range(extra(name)) == (protocol.min_depth, protocol.max_depth)
    assert training_depth_range(extra('nyu_labeled')) == (1e-3, 10.0)
    assert training_depth_range(extra('kitti')) == (1e-3, 80.0)
    assert training_depth_range(extra('unknown')) is None
    assert training_depth_range({}) is None
