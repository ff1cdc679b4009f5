"""Name -> builder registry behind ``create_model``, keyed by task (timm style).

Each builder registers under one task (``classify``, ``generate``, ``segment``) with its own constructor
arguments; ``create_model`` records the arguments it was called with on the model (``model.spec``), so a run
folder can rebuild the architecture later with :func:`build_from_spec` (weights come from ``model.pt``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

#: The tasks models can belong to, in the order the notebooks introduce them.
TASKS: tuple[str, ...] = ("classify", "generate", "segment")

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    builder: Builder
    #: what a task should train the model with unless told otherwise (lr, decoder, loss, conditional, ...)
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}
_RETIRED: dict[str, str] = {}


def register_model(name: str, task: str = "classify", defaults: dict[str, Any] | None = None
                   ) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(**kwargs) -> nn.Module`` as model ``name`` of ``task``, with the training
    ``defaults`` the model carries (timm-style: the model's knowledge beside its builder, not in a task's config;
    :func:`model_defaults`)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")

    def deco(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, task, fn, dict(defaults or {}))
        return fn

    return deco


def model_defaults(name: str) -> dict[str, Any]:
    """The training defaults model ``name`` registered (a copy): e.g. a generator's ``lr``, ``upsample``,
    ``loss``, ``conditional`` and ``trainer``."""
    return dict(_entry(name).defaults)


def retire_model(name: str, hint: str) -> None:
    """Mark ``name`` as a model that once existed: ``create_model`` (and loading an old run) then says what replaced
    it instead of listing names."""
    _RETIRED[name] = hint


def list_models(task: str | None = None) -> list[str]:
    """Names accepted by ``create_model`` (for one ``task``, or all), sorted."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    return sorted(n for n, e in _REGISTRY.items() if task is None or e.task == task)


def check_model_name(name: str, task: str) -> None:
    """Raise a clear ``ValueError`` listing ``task``'s models unless ``name`` is one of them."""
    _entry(name, task)


def model_task(name: str) -> str:
    """The task model ``name`` belongs to (clear error for unknown names)."""
    return _entry(name).task


def _entry(name: str, task: str | None = None) -> ModelEntry:
    entry = _REGISTRY.get(name)
    if entry is None and name in _RETIRED:
        raise ValueError(f"model {name!r} was retired: {_RETIRED[name]}")
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    if entry is None or (task is not None and entry.task != task):
        scope = f"valid names for {task}" if task else "valid names"
        valid = ", ".join(list_models(task)) or "none registered yet"
        where = f" for task {task}" if task else ""
        other = f" ({name!r} is a {entry.task} model)" if entry is not None else ""
        raise ValueError(f"unknown model {name!r}{where}{other}; {scope}: {valid}")
    return entry


def accepted_kwargs(name: str, **kwargs: Any) -> dict[str, Any]:
    """The ``kwargs`` that model ``name``'s builder takes (all of them when it has ``**kwargs``), so a task can pass
    an option that only some of its models have (e.g. ``encoder``) without naming those models."""
    params = inspect.signature(_entry(name).builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(kwargs)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in kwargs.items() if k in names}


def create_model(name: str, *args: Any, task: str | None = None, **kwargs: Any) -> nn.Module:
    """Build model ``name`` with its builder's arguments, e.g. ``create_model("cnn", 7, pretrained=True)``.

    ``task`` (optional) insists that ``name`` belongs to that task, so ``create_model("unet", task="classify")``
    is one clear error listing the classifiers. Pretrained weights are opt-in (``pretrained=True``) and never
    downloaded otherwise.
    """
    entry = _entry(name, task)
    model = entry.builder(*args, **kwargs)
    # What a run needs to rebuild the architecture; weights live in the checkpoint, so never re-download them.
    spec_kwargs = {k: v for k, v in kwargs.items() if k not in ("pretrained", "weights_path", "freeze")}
    if args:
        spec_kwargs["args"] = list(args)
    model.spec = {"name": name, "task": entry.task, "kwargs": spec_kwargs}
    return model


def build_from_spec(spec: dict[str, Any]) -> nn.Module:
    """Rebuild the (untrained) architecture described by ``model.spec``."""
    kwargs = dict(spec.get("kwargs", {}))
    args = kwargs.pop("args", [])
    return create_model(spec["name"], *args, task=spec.get("task"), **kwargs)
