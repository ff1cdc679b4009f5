"""Settings declared once: dataclass fields that carry their help text, allowed range and CLI flags.

Task configs nest the engine's :class:`~tslib.engine.TrainConfig` (``ClassifyConfig(..., train=TrainConfig(...))``);
the CLI derives its flags and defaults from these fields (:mod:`tslib.cli.args`), and run folders store them
with :func:`to_dict` and read them back with :func:`from_dict`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[Any] | None = None,
    flags: Sequence[str] | None = None,
    runtime: bool = False,
    cli: bool = True,
) -> Any:
    """A dataclass field with its documentation and checks.

    ``min``/``max``/``choices`` are enforced by :func:`validate` (call it from ``__post_init__``); ``flags``
    overrides the CLI option names (default ``--field-name``); ``runtime`` marks settings that may change when a
    run is resumed (device, progress bars, workers); ``cli=False`` keeps a field off the command line.
    """
    meta = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices else None,
            "flags": tuple(flags) if flags else None, "runtime": runtime, "cli": cli}
    return dataclasses.field(default=default, metadata=meta)


def validate(obj: Any) -> None:
    """Raise ``ValueError`` naming the setting when a value is out of its declared range or choices."""
    name = type(obj).__name__
    for f in dataclasses.fields(obj):
        value, meta = getattr(obj, f.name), f.metadata
        if value is None or isinstance(value, bool) or dataclasses.is_dataclass(value):
            continue
        if meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"{name}.{f.name}={value!r}; expected one of {list(meta['choices'])}")
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name}.{f.name} must be a finite number, got {value}")
            lo, hi = meta.get("min"), meta.get("max")
            if lo is not None and value < lo:
                raise ValueError(f"{f.name.replace('_', '-')} must be >= {lo}, got {value} ({name}.{f.name})")
            if hi is not None and value > hi:
                raise ValueError(f"{f.name.replace('_', '-')} must be <= {hi}, got {value} ({name}.{f.name})")


def runtime_fields(cls: type) -> set[str]:
    """Settings (dotted for nested configs) that may differ between an interrupted run and its resumption."""
    out = set()
    for f in dataclasses.fields(cls):
        sub = _nested_type(cls, f)
        if sub is not None:
            out |= {f"{f.name}.{n}" for n in runtime_fields(sub)}
        elif f.metadata.get("runtime"):
            out.add(f.name)
    return out


def _nested_type(cls: type, f: dataclasses.Field) -> type | None:
    hint = typing.get_type_hints(cls).get(f.name)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def to_dict(obj: Any) -> dict[str, Any]:
    """Nested plain dict of a config (JSON-ready)."""
    return dataclasses.asdict(obj)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a nested dict; flat keys of a nested config are accepted too (older run folders and
    ``ClassifyConfig.from_dict({"manifest": ..., "epochs": 3})`` both work). Unknown keys are an error."""
    data = dict(data)
    kwargs: dict[str, Any] = {}
    nested = {f.name: _nested_type(cls, f) for f in dataclasses.fields(cls)}
    factories = {f.name: f.default_factory for f in dataclasses.fields(cls)}
    for name, sub in nested.items():
        if sub is None:
            continue
        own = data.pop(name, None) or {}
        if dataclasses.is_dataclass(own):
            own = to_dict(own)
        sub_names = {f.name for f in dataclasses.fields(sub)}
        flat = {k: data.pop(k) for k in list(data) if k in sub_names and k not in nested}
        # A task may give its nested engine config other defaults (default_factory); they apply here too.
        factory = factories[name]
        base = to_dict(factory()) if factory is not dataclasses.MISSING else {}
        kwargs[name] = from_dict(sub, {**base, **flat, **own})
    unknown = set(data) - set(nested)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} settings {sorted(unknown)}; valid: {sorted(flat_names(cls))}")
    return cls(**kwargs, **data)


def flat_names(cls: type) -> set[str]:
    """Every setting name of ``cls`` and its nested configs."""
    out = set()
    for f in dataclasses.fields(cls):
        sub = _nested_type(cls, f)
        out |= flat_names(sub) if sub is not None else {f.name}
    return out


def cli_type(cls: type, f: dataclasses.Field) -> tuple[type, bool]:
    """(scalar type, optional?) of a field for argparse: ``int | None`` -> (int, True)."""
    hint = typing.get_type_hints(cls)[f.name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in args if a is not type(None))
    return hint, optional
