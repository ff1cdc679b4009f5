"""Small helpers shared by every task: seeding, device choice, crash-safe writes, moving batches."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) so a run can be repeated.

    ``deterministic=True`` also asks torch/cuDNN for deterministic kernels (slower on GPU; on CPU
    training is already deterministic); otherwise cuDNN autotunes its convolution algorithms (``benchmark``:
    the fastest per input shape, timed once; a training run's shapes repeat every batch).
    """
    # PYTHONHASHSEED only affects interpreters started after this point (e.g. DataLoader workers
    # under the "spawn" start method); the current process's str hashing is fixed at startup.
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.cuda.manual_seed_all(seed)  # explicit, in case CUDA is initialised lazily later
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True  # only CUDA reads it
        torch.use_deterministic_algorithms(False)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; an explicit accelerator that is missing is an error.

    Failing loudly beats silently training on CPU for hours after a Colab runtime lost its GPU.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)  # raises on malformed strings such as "gpu"
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was requested but CUDA is not available "
            "(torch.cuda.is_available() is False); use device='auto' or 'cpu', "
            "or enable a GPU runtime (Colab: Runtime > Change runtime type)."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {device!r} was requested but MPS is not available; use 'auto' or 'cpu'.")
    return dev


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (``/proc/self/status``); elsewhere the
    classic set-and-restore."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it replaces ``path``, on error it is deleted.

    The temp file lives in the same folder because ``os.replace`` is only atomic within one
    filesystem: readers see the old file or the new one, never a truncated one. ``mkstemp`` creates it 0600;
    it is given the mode a plain ``open(path, "w")`` would (0666 less the umask), so run files, maps and the
    results page can be shared as any other file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~current_umask())
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:  # KeyboardInterrupt mid-write must not leave a stray temp file either
        tmp_path.unlink(missing_ok=True)
        raise


def _fsync_enabled() -> bool:
    # fsync makes a checkpoint survive a power cut; tests turn it off (TSLIB_FSYNC=0) because it costs
    # tens of milliseconds per file on some disks and short test trainings write many checkpoints.
    return os.environ.get("TSLIB_FSYNC", "1") != "0"


def _writer() -> bool:
    """Only one process writes run files: rank 0 under torchrun (every process computes the same thing)."""
    from .distributed import is_main

    return is_main()


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` that never leaves a half-written file behind, even if interrupted (rank 0 only)."""
    if not _writer():
        return
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            if _fsync_enabled():
                os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file (config.json, history.csv) atomically (rank 0 only)."""
    if not _writer():
        return
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def to_device(
    batch: Any,
    device: torch.device | str,
    non_blocking: bool = True,
    memory_format: torch.memory_format | None = None,
) -> Any:
    """Move every tensor in a nested dict/list/tuple to ``device``; other leaves pass through.

    ``non_blocking`` overlaps the copy with compute when the loader uses ``pin_memory=True``.
    ``memory_format`` (e.g. ``torch.channels_last``) is applied to 4-D floating tensors only, so
    labels and masks keep their layout.
    """
    if isinstance(batch, torch.Tensor):
        if memory_format is not None and batch.ndim == 4 and batch.is_floating_point():
            return batch.to(device, non_blocking=non_blocking, memory_format=memory_format)
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device, non_blocking, memory_format) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device, non_blocking, memory_format) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, non_blocking, memory_format) for v in batch)
    return batch


def progress_bar(loader: Iterable, desc: str, enabled: bool = True) -> Iterator:
    """Iterate ``loader`` under a tqdm.auto bar that only counts: the DataLoader iterator stays in this frame.

    Why: tqdm.notebook wrapping a multi-worker DataLoader keeps its iterator alive after the loop; the next
    loader's forked workers then inherit it and fail in its ``__del__`` ("can only test a child process").
    """
    total = len(loader) if hasattr(loader, "__len__") else None  # a generator of batches has no length
    with tqdm(total=total, desc=desc, leave=False, disable=not enabled, dynamic_ncols=True) as bar:
        for batch in loader:
            yield batch
            bar.update()


#: Set by the command line's SIGTERM/SIGINT handler before it raises KeyboardInterrupt. Python drops an exception
#: raised inside an at-fork hook (a signal landing while a DataLoader forks its workers), so the training loop also
#: checks this flag between batches: the stop is then only delayed by a batch, never lost.
STOP_REQUESTED = threading.Event()


def check_stop() -> None:
    """Raise KeyboardInterrupt when a stop was requested and its first KeyboardInterrupt was swallowed."""
    if STOP_REQUESTED.is_set():
        raise KeyboardInterrupt
