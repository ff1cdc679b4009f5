"""Name -> builder registry behind ``create_model`` (timm style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Classifier

Builder = Callable[..., Classifier]
_REGISTRY: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[Builder], Builder]:
    """Decorator registering a builder ``f(num_classes, pretrained, hidden, dropout, weights_path, **kw)``."""

    def deco(fn: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    """Names accepted by ``create_model``, sorted."""
    return sorted(_REGISTRY)


def create_model(
    name: str,
    num_classes: int,
    pretrained: bool = False,
    freeze: bool = False,
    hidden: int = 256,
    dropout: float = 0.3,
    weights_path: str | None = None,
    **kwargs: Any,
) -> Classifier:
    """Build model ``name`` with an MLP head for ``num_classes`` classes.

    ``pretrained`` loads ImageNet weights (download or local file, see ``weights_path``);
    ``freeze`` freezes the backbone so only the head trains. Extra keyword arguments go to the
    builder (e.g. ``activation="silu"`` for the head).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    model = _REGISTRY[name](
        num_classes=num_classes,
        pretrained=pretrained,
        hidden=hidden,
        dropout=dropout,
        weights_path=weights_path,
        **kwargs,
    )
    if freeze:
        model.freeze_backbone()
    return model
