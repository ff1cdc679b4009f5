"""Checkpoints that hold everything needed to resume a run exactly: weights, optimizer, schedule, RNGs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .utils import atomic_save

#: Keys written by :func:`save_checkpoint`; ``extra`` may not overwrite them.
RESERVED_KEYS = frozenset(
    {"model", "optimizer", "scheduler", "scaler", "epoch", "best_metric", "config", "classes", "rng"}
)


def _unwrap(model: nn.Module) -> nn.Module:
    # torch.compile wraps the model; save/load the original so keys carry no "_orig_mod." prefix.
    return getattr(model, "_orig_mod", model)


def get_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (if present) CUDA generator states, in torch.load-safe types."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    return {
        "python": random.getstate(),
        # Plain Python types instead of an ndarray so the file loads with weights_only=True.
        "numpy": (np_name, np_keys.tolist(), int(np_pos), int(np_has_gauss), float(np_gauss)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`get_rng_state`; CUDA states are skipped when resuming without a GPU."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))  # torch.load may turn the inner tuple into a list
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    scaler: torch.amp.GradScaler | None,
    epoch: int,
    best_metric: float | None,
    config: dict[str, Any],
    classes: list[str] | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Atomically write a checkpoint dict; ``extra`` entries (e.g. ``history``) are stored top-level."""
    extra = dict(extra or {})
    clash = RESERVED_KEYS & extra.keys()
    if clash:
        raise ValueError(f"extra may not overwrite checkpoint keys {sorted(clash)}")
    ckpt = {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch),
        "best_metric": None if best_metric is None else float(best_metric),
        "config": dict(config),
        "classes": list(classes) if classes is not None else None,
        "rng": get_rng_state(),
        **extra,
    }
    atomic_save(ckpt, path)


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    scaler: torch.amp.GradScaler | None = None,
    map_location: str | torch.device = "cpu",
    restore_rng: bool = False,
    weights_only: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint, restore into whichever objects are given, and return the dict.

    ``weights_only=True`` (safe unpickling) works for files written by :func:`save_checkpoint`;
    pass ``False`` only for trusted files that hold arbitrary Python objects in ``extra``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (expected a file written by save_checkpoint)")
    ckpt = torch.load(path, map_location=map_location, weights_only=weights_only)
    if model is not None:
        _unwrap(model).load_state_dict(ckpt["model"])
    # Optimizer.load_state_dict moves its state onto the parameters' device, so "cpu" is fine here.
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt.get("scaler") is not None:
        scaler.load_state_dict(ckpt["scaler"])
    if restore_rng and ckpt.get("rng") is not None:
        set_rng_state(ckpt["rng"])
    return ckpt
