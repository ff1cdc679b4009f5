"""Checkpoints that hold everything needed to resume a run exactly: weights, optimizer, schedule, RNGs."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, RunFolderError, nearest_folder
from ..utils import atomic_save

#: Keys written by :func:`save_checkpoint`; ``extra`` may not overwrite them.
RESERVED_KEYS = frozenset(
    {"model", "optimizer", "scheduler", "scaler", "epoch", "best_metric", "config", "meta", "rng"}
)

Stateful = Any  # an optimizer / scheduler, or a dict of them by name (a GAN's "d" and "g")


def _state(obj: Stateful | None) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return {name: None if o is None else o.state_dict() for name, o in obj.items()}
    return obj.state_dict()


def _restore(obj: Stateful | None, state: Any, what: str, path: Path) -> None:
    if obj is None or state is None:
        return
    if isinstance(obj, dict):
        if not isinstance(state, dict) or set(state) != set(obj):
            raise CheckpointError(f"{path}: holds {what}s {sorted(state) if isinstance(state, dict) else '1'}, "
                                  f"this run has {sorted(obj)}")
        for name, o in obj.items():
            if o is not None and state[name] is not None:
                o.load_state_dict(state[name])
    else:
        obj.load_state_dict(state)


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
    optimizer: Stateful | None,
    scheduler: Stateful | None,
    scaler: torch.amp.GradScaler | None,
    epoch: int,
    best_metric: float | None,
    config: dict[str, Any],
    meta: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Atomically write a checkpoint dict; ``extra`` entries (e.g. ``history``) are stored top-level.

    ``optimizer``/``scheduler`` may be dicts of named objects (several optimizers); ``meta`` is free-form
    information for the task (e.g. class names)."""
    extra = dict(extra or {})
    clash = RESERVED_KEYS & extra.keys()
    if clash:
        raise ValueError(f"extra may not overwrite checkpoint keys {sorted(clash)}")
    ckpt = {
        "model": _unwrap(model).state_dict(),
        "optimizer": _state(optimizer),
        "scheduler": _state(scheduler),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch),
        "best_metric": None if best_metric is None else float(best_metric),
        "config": dict(config),
        "meta": dict(meta or {}),
        "rng": get_rng_state(),
        **extra,
    }
    atomic_save(ckpt, path)


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    optimizer: Stateful | None = None,
    scheduler: Stateful | None = None,
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
    ckpt = read_torch_file(path, map_location, weights_only, what="checkpoint")
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a tslib checkpoint (no 'model' entry)")
    if model is not None:
        try:
            _unwrap(model).load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise CheckpointError(f"{path}: its weights do not fit this model ({str(e).splitlines()[0]})") from e
    # Optimizer.load_state_dict moves its state onto the parameters' device, so "cpu" is fine here.
    _restore(optimizer, ckpt.get("optimizer"), "optimizer", path)
    _restore(scheduler, ckpt.get("scheduler"), "scheduler", path)
    if scaler is not None and ckpt.get("scaler") is not None:
        scaler.load_state_dict(ckpt["scaler"])
    if restore_rng and ckpt.get("rng") is not None:
        set_rng_state(ckpt["rng"])
    return ckpt


def read_torch_file(path: str | Path, map_location: str | torch.device = "cpu", weights_only: bool = True,
                    what: str = "file") -> Any:
    """``torch.load`` with one clear error for a missing, truncated or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as e:  # zip reader errors, unpickling errors, EOF: all mean the file is damaged
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path}: corrupt or truncated {what} ({first}); delete it, or re-run the "
                              f"command that wrote it") from e


def checkpoint_bytes(model: nn.Module) -> int:
    """About the size of one checkpoint of ``model``: its weights and buffers plus two Adam moments per trainable
    parameter."""
    state = sum(t.numel() * t.element_size() for t in _unwrap(model).state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return state + 2 * trainable


def check_room(run_dir: str | Path, model: nn.Module) -> None:
    """Refuse to start training when the disk holding ``run_dir`` cannot take a checkpoint and the temporary copy
    written beside it (a full disk would otherwise end the first epoch with nothing saved)."""
    need = 2 * checkpoint_bytes(model) + (1 << 20)
    free = shutil.disk_usage(nearest_folder(Path(run_dir).expanduser())).free
    if free < need:
        raise RunFolderError(f"{run_dir}: only {free / 2**20:.0f} MiB free on its disk, its checkpoints need about "
                             f"{need / 2**20:.0f} MiB; free some space or choose another --out (nothing was written)")
