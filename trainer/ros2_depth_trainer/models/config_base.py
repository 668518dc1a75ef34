"""
What the model configs share: the ``family`` field, the dict round trip and the common checks.

Each network has one frozen dataclass config (``Eigen14Config``, ``Eigen15Config``,
``SemanticConfig``) that fixes its layers and is stored in every checkpoint and sidecar via
``dataclasses.asdict``. They derive from ``ModelConfigBase`` for ``from_dict`` (which checks the
``family`` entry and rejects unknown fields) and for the checks every network needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Type, TypeVar

ConfigT = TypeVar('ConfigT', bound='ModelConfigBase')


def family_field(family: str) -> Any:
    """
    Return the dataclass field that names a config's model family.

    The field is not an ``__init__`` argument: it is fixed per config class, written by
    ``dataclasses.asdict`` (so checkpoints and sidecars say which network they hold) and
    checked, then dropped, by ``from_dict``.
    """
    return dataclasses.field(default=family, init=False)


def dataclass_from_dict(cls: Any, data: Mapping[str, Any]) -> Any:
    """Build the dataclass ``cls`` from ``asdict`` output, checking its ``family`` entry."""
    data = dict(data)
    family = data.pop('family', cls.FAMILY)
    if family != cls.FAMILY:
        raise ValueError(f'a {family!r} config cannot build a {cls.__name__} '
                         f'(family {cls.FAMILY!r})')
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f'unknown {cls.__name__} fields: {unknown}')
    return cls(**data)


class ModelConfigBase:
    """Base of the frozen dataclass model configs: ``from_dict`` and shared checks."""

    FAMILY = ''  # each config class names its family (not annotated, so not a field)

    @classmethod
    def from_dict(cls: Type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
        """Rebuild a config from ``dataclasses.asdict`` output (a checkpoint or a sidecar)."""
        return dataclass_from_dict(cls, data)

    def freeze_sequences(self, names: Iterable[str]) -> None:
        """Turn the named fields into tuples (JSON and YAML give lists)."""
        for name in names:
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def check_common(self, widths: Iterable[int]) -> None:
        """Reject non-positive layer widths, dropout outside [0, 1) and a bad mean or std."""
        widths = tuple(widths)
        if min(widths) < 1:
            raise ValueError(f'layer widths must be positive, got {widths}')
        dropout = getattr(self, 'dropout')
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f'dropout must be in [0, 1), got {dropout}')
        mean, std = getattr(self, 'mean'), getattr(self, 'std')
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError('mean and std need three values each, std positive')
