"""Names imported on first use (PEP 562): packages list their public names without importing torch, torchvision or
timm, so the CLI's ``--help`` and its one-line errors stay fast. The one mechanism every package uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A function that imports ``module.name`` on its first call: task specs name their entry points without
    importing torchvision, timm or torchmetrics when the CLI only parses arguments."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``names[attr]`` (a submodule of ``package``, dotted) on first use and
    returning its ``attr``; a value ending in ``:`` returns the submodule itself (``{"workspace":
    "data.workspace:"}``)."""

    def getattr_(attr: str) -> Any:
        if attr not in names:
            raise AttributeError(f"module {package!r} has no attribute {attr!r}")
        target, colon, _ = names[attr].partition(":")
        module = importlib.import_module(f"{package}.{target}")
        return module if colon else getattr(module, attr)

    return getattr_
