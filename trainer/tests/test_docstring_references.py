"""Every document a docstring names (``*.md``) is a file of the repository."""

from __future__ import annotations

import ast
from pathlib import Path
import re
from typing import Iterator, Tuple

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / 'ros2_depth', ROOT / 'trainer' / 'ros2_depth_trainer')
MARKDOWN = re.compile(r'[\w./-]+\.md\b')


def _docstrings(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (line, text) of the module's, classes' and functions' docstrings in ``path``."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text:
                yield getattr(node, 'lineno', 1), text


def test_docstring_markdown_references_exist() -> None:
    """A docstring may cite a paper or a repository file, never a document not shipped."""
    # Not the virtual environments' (.venv, .venv-kilted) documents.
    documents = [p for p in ROOT.rglob('*.md')
                 if not any(part.startswith('.venv') for part in p.relative_to(ROOT).parts)]
    shipped = {p.name for p in documents} | {p.relative_to(ROOT).as_posix() for p in documents}
    missing = []
    for package in PACKAGES:
        for path in sorted(package.rglob('*.py')):
            for line, text in _docstrings(path):
                for name in MARKDOWN.findall(text):
                    if name not in shipped and Path(name).name not in shipped:
                        missing.append(f'{path.relative_to(ROOT)}:{line}: {name}')
    assert not missing, 'docstrings cite documents that are not in the repository:\n' + \
        '\n'.join(missing)
