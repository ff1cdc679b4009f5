"""The checks every task's config makes: above the engine and the models, which both sit below the tasks."""

from __future__ import annotations

from typing import Any

from ..config import from_dict, validate
from ..engine.config import TrainConfig


def check_task_config(obj: Any, task: str) -> None:
    """The checks every task config makes in ``__post_init__``: a nested ``train`` given as a dict (JSON) becomes
    a TrainConfig, values are in range, the model belongs to ``task``, an lr of None becomes the model's own, and
    the manifest is named."""
    from ..models import check_model_name  # here, not at import: the CLI's --help stays fast

    if isinstance(obj.train, dict):
        obj.train = from_dict(TrainConfig, obj.train)
    validate(obj)
    check_model_name(obj.model, task)
    if obj.train.lr is None:  # the model's own lr, else the engine's default; resolved so run.json records it
        from ..models import model_defaults

        obj.train.lr = float(model_defaults(obj.model).get("lr", TrainConfig().lr))
    if hasattr(obj, "manifest") and not obj.manifest:
        raise ValueError(f"{type(obj).__name__} needs manifest= (the folder or manifest.csv written by `prepare`)")
