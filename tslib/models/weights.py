"""Reading backbone weights from local files, and the error users see when there are none."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

#: Directory searched for weight files (named as upstream names them) before any download.
WEIGHTS_DIR_ENV = "TSLIB_WEIGHTS_DIR"


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Load a state dict from ``path``, unwrapping the usual checkpoint containers."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    # weights_only: never execute pickled code from a downloaded file.
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not contain a state dict of tensors")
    # Checkpoints saved from DataParallel/DDP carry a prefix on every key.
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def load_backbone_state(
    backbone: nn.Module,
    state: dict[str, Tensor],
    ignore_prefixes: Iterable[str] = (),
    source: str = "weights",
) -> None:
    """Strictly load ``state`` into ``backbone``, dropping keys under ``ignore_prefixes``.

    Strict on purpose: a silently half-loaded backbone trains fine but is far worse.
    """
    if any(k.startswith("backbone.") for k in state):
        # A whole tslib Classifier checkpoint: keep the backbone part only.
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    ignore = tuple(ignore_prefixes)
    state = {k: v for k, v in state.items() if not (ignore and k.startswith(ignore))}
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or bad_shape:
        raise RuntimeError(
            f"{source} do not fit the backbone: {len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, {len(bad_shape)} shape mismatches {bad_shape[:5]}"
        )
    backbone.load_state_dict(state, strict=True)


def local_weights_file(filename: str) -> Path | None:
    """``$TSLIB_WEIGHTS_DIR/filename`` if that variable is set and the file exists."""
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if root and (Path(root).expanduser() / filename).is_file():
        return Path(root).expanduser() / filename
    return None


def no_weights_message(model: str, filename: str, reason: object) -> str:
    """Explain how to supply weights by hand when they cannot be fetched."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return (
        f"could not fetch the pretrained weights for {model!r} ({reason}); no internet access? "
        f"Supply the file {filename!r} yourself, by one of: create_model(..., weights_path='/path/to/{filename}'); "
        f"or put it in a directory named by ${WEIGHTS_DIR_ENV}; "
        f"or copy it into the torch hub cache {hub}/ ($TORCH_HOME/hub/checkpoints/)."
    )
