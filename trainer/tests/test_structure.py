"""
The trainer's module boundaries (issue 9, item 7): one name per concept, no import cycles.

Imports are read from the sources (module level and inside functions alike), so an import hidden
in a function body counts.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Set

from ros2_depth_trainer import config, models

PACKAGE = Path(__file__).resolve().parents[1] / 'ros2_depth_trainer'


def imported_modules(path: Path) -> Set[str]:
    """Return every module a source file imports, anywhere in it (absolute names)."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f'{node.module}.{alias.name}' for alias in node.names)
    return found


def test_one_model_config_name() -> None:
    """One ModelConfig: the networks' configs; the run config's model part is ModelSection."""
    assert not hasattr(config, 'ModelConfig')
    assert config.RunConfig().model == config.ModelSection()
    assert models.ModelConfig.__args__ == (models.Eigen14Config, models.Eigen15Config,
                                           models.SemanticConfig)
