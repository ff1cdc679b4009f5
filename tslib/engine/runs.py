"""The run folder, one format for every task.

``run.json`` (task, config, what the task needs to rebuild its data: classes, preprocessing, training phases),
``config.json``/``history.csv``/``last.pt``/``best.pt`` (written by :func:`~tslib.engine.fit`), ``model.pt`` (the
final model with the spec that rebuilds its architecture: self-contained, no download) and ``metrics.json``.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .. import distributed
from ..config import from_dict, runtime_fields, to_dict
from ..errors import CheckpointError, RunFolderError, TrainingInterrupted, check_out_dir, check_writable
from ..utils import atomic_save, atomic_write_text, resolve_device, seed_everything
from .checkpoint import check_room, load_checkpoint, read_torch_file
from .loop import FitResult

RUN_FILE, MODEL_FILE, METRICS_FILE = "run.json", "model.pt", "metrics.json"
T = TypeVar("T")


def resolve_resume(run_dir: str | Path, resume: bool | str) -> bool:
    """``resume="auto"`` continues when ``last.pt`` exists (what a re-run notebook cell wants)."""
    if resume == "auto":
        return (Path(run_dir) / "last.pt").is_file()
    return bool(resume)


def start_run(run_dir: str | Path, config: Any, resume: bool | str) -> tuple[Path, bool, torch.device]:
    """What every task's ``train`` does first: check the run folder, resolve ``resume="auto"``, refuse to resume a
    run trained with another config, seed everything and pick the device. Returns (run_dir, resume, device)."""
    run_dir = check_out_dir(run_dir, run_ok=True)
    if resume is False and (run_dir / RUN_FILE).is_file():  # "auto" and True continue it instead
        raise RunFolderError(f"{run_dir} already holds a run: continue it with `python -m tslib train --resume "
                             f"{run_dir}`, or give another --out (nothing was changed)")
    if distributed.is_main():
        check_writable(run_dir)
    resume = resolve_resume(run_dir, resume)
    if resume:
        check_resumable(run_dir, config)
    seed_everything(config.train.seed, config.train.deterministic)
    device = distributed.setup(resolve_device(config.train.device))  # joins torchrun's process group, if any
    if config.train.sync_bn:  # refused before any data is read, not after it
        from .parallel import check_sync_bn

        check_sync_bn(device)
    distributed.barrier()  # every process has checked the folder before rank 0 writes into it
    return run_dir, resume, device


_LOCKS: dict[Path, Any] = {}  # run folders this process trains in -> the open, locked .lock file


def lock_run(run_dir: str | Path) -> None:
    """Hold an exclusive lock on ``run_dir/.lock`` so that two training processes never write into one run folder
    (say ``train --resume RUN`` typed while RUN still trains elsewhere). The operating system drops the lock when
    the process ends, however it ends (SIGKILL too), so it never goes stale; :func:`training_run` lets go of it
    when training returns. Temp files of a killed earlier write are removed once the lock is held."""
    run_dir = Path(run_dir).expanduser()
    key = run_dir.resolve()
    if key in _LOCKS:
        return
    try:
        import fcntl
    except ImportError:  # Windows: no flock; go on unlocked
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / ".lock", "a+")  # noqa: SIM115 - kept open (and locked) while this process trains
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        raise RunFolderError(f"{run_dir} is being trained by another process{f' (pid {holder})' if holder else ''}:"
                             " let it finish or stop it first (nothing was changed)") from None
    except OSError:  # a file system without locks (some network mounts): go on unlocked
        fh.close()
        return
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    _LOCKS[key] = fh
    for stale in run_dir.rglob(".*.tmp"):  # a write cut short by a killed process (SIGKILL, power cut)
        stale.unlink(missing_ok=True)


def release_run(run_dir: str | Path) -> None:
    """Let go of the lock :func:`lock_run` took (a no-op if this process holds none)."""
    fh = _LOCKS.pop(Path(run_dir).expanduser().resolve(), None)
    if fh is not None:
        fh.close()  # closing the file releases the flock


def training_run(train_fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator for a task's ``train(config, run_dir, ...)``: the run folder's lock is released when it returns
    or raises, so a notebook kernel does not keep a folder locked after its training cell."""
    signature = inspect.signature(train_fn)

    @functools.wraps(train_fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return train_fn(*args, **kwargs)
        finally:
            release_run(signature.bind(*args, **kwargs).arguments["run_dir"])

    return wrapper


def write_run_info(run_dir: str | Path, task: str, config: Any, model: nn.Module, **info: Any) -> dict:
    """Write ``run.json``: the task name, its config (nested dict), the model's architecture spec and whatever else
    rebuilds the run's data. First checks the disk has room for the model's checkpoints (before any long work)."""
    if distributed.is_main():
        check_room(run_dir, model)
        lock_run(run_dir)  # the run's first write: from here on no other process may train in this folder
    data = {"task": task, "config": to_dict(config), "model": model.spec, **info}
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(data, indent=2))
    return data


def update_run_info(run_dir: str | Path, **entries: Any) -> dict:
    """Set top-level ``entries`` of an existing ``run.json`` (what is fitted after training, such as a classifier's
    temperature) and return the whole file; every other entry is kept as it was."""
    info = {**read_run_info(run_dir), **entries}
    atomic_write_text(Path(run_dir) / RUN_FILE, json.dumps(info, indent=2))
    return info


def read_run_info(run_dir: str | Path, task: str | None = None, what: str | None = None) -> dict:
    """``run.json`` of a run folder, with one clear error when it is missing or damaged, or (``task``) when it is
    a run of another task (``what`` names the kind of run: "not a classification run")."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"run folder {run_dir} does not exist (or is not a folder)")
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise RunFolderError(f"{path} not found: {run_dir} is not a run folder written by `python -m tslib train`")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{path} is damaged ({e}); it was not written by tslib or was cut off") from e
    if not isinstance(info, dict) or "config" not in info:
        raise RunFolderError(f"{path} has no 'config': not a tslib run folder")
    info.setdefault("task", "classify")  # run folders written before tasks were named
    if task is not None and info["task"] != task:
        raise RunFolderError(f"{run_dir} is a {info['task']} run, not a {what or task} run")
    return info


def find_run_root(path: str | Path) -> Path:
    """The run folder holding ``path`` (a phase subfolder such as ``finetune/``, or the run itself)."""
    path = Path(path)
    for p in (path, *path.parents):
        if (p / RUN_FILE).is_file():
            return p
    raise RunFolderError(f"no {RUN_FILE} in {path} or above it")


def phase_dirs(run_dir: str | Path) -> list[tuple[str, Path]]:
    """``(phase name, folder)`` of each training phase, in order (``run.json``'s ``phases``; default one phase in
    the run folder itself)."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir) if (run_dir / RUN_FILE).is_file() else {}  # fit() alone writes no run.json
    phases = info.get("phases") or [{"name": "train", "dir": "."}]
    return [(p["name"], run_dir / p["dir"]) for p in phases]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resumable(run_dir: str | Path, config: Any) -> None:
    """Refuse to resume a run folder trained with another config: the result would silently mix two runs."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return
    saved = _flatten(to_dict(_saved_config(type(config), read_run_info(run_dir)["config"])))
    now = _flatten(to_dict(config))
    skip = runtime_fields(type(config))
    diff = {k: (saved.get(k), v) for k, v in now.items() if k not in skip and saved.get(k) != v}
    if diff:
        raise RunFolderError(f"{run_dir} holds a run with another config {diff} (saved, now); use another run "
                             "folder, delete this one, or resume it with its own config "
                             "(`python -m tslib train --resume`)")


def _saved_config(cls: type[T], data: dict) -> T:
    """A config read back from ``run.json``. A config class may say what a setting meant before it existed
    (``saved_defaults(data) -> data``): a default that changed must not change the model an old run rebuilds."""
    fill = getattr(cls, "saved_defaults", None)
    return from_dict(cls, fill(dict(data)) if fill is not None else data)


def load_config(run_dir: str | Path, cls: type[T]) -> T:
    """The config a run was trained with."""
    return _saved_config(cls, read_run_info(run_dir)["config"])


def require_completed(result: FitResult, run_dir: str | Path) -> None:
    """Raise :class:`TrainingInterrupted` (with the resume command) unless ``fit`` finished or stopped early:
    an interrupted run must not be evaluated and exported as if it were done."""
    if not result.completed:
        done = result.history[-1]["epoch"] if result.history else 0
        raise TrainingInterrupted(
            f"training stopped after epoch {done} of {result.epochs}; continue with "
            f"`python -m tslib train --resume {find_run_root(run_dir)}` (or resume=True in Python)")


def save_model(run_dir: str | Path, model: nn.Module, **meta: Any) -> Path:
    """Write ``model.pt``: weights, the architecture spec (``model.spec`` from ``create_model``) and ``meta``."""
    spec = getattr(model, "spec", None)
    if spec is None:
        raise ValueError("model has no .spec: build it with tslib.models.create_model")
    path = Path(run_dir) / MODEL_FILE
    atomic_save({"spec": spec, "model": getattr(model, "_orig_mod", model).state_dict(), **meta}, path)
    return path


def load_run(run_dir: str | Path, task: str | None = None, device: str | torch.device = "cpu", *,
             build: Callable[[dict], nn.Module], what: str | None = None) -> tuple[nn.Module, dict]:
    """The one way to load a finished run: its trained model (from ``model.pt``, eval mode, on ``device``; no
    pretrained download needed) and its ``run.json``. ``task``: a run of another task is one clear error (``what``
    names the kind of run in it); ``build`` makes the architecture from the saved spec (the models package's
    ``build_from_spec``: the engine knows no models)."""
    info = read_run_info(run_dir, task, what)
    model, _ = load_model(run_dir, device, build=build)
    return model, info


def restore_best(result: FitResult, run_dir: str | Path, module: nn.Module) -> None:
    """The one way a run finishes: refuse an interrupted one (:func:`require_completed`), then load the epoch
    ``best.pt`` kept into ``module`` (what is saved as ``model.pt`` and evaluated)."""
    require_completed(result, run_dir)
    module.load_state_dict(load_checkpoint(Path(run_dir) / "best.pt")["model"])


def load_model(run_dir: str | Path, device: str | torch.device = "cpu", *,
               build: Callable[[dict], nn.Module]) -> tuple[nn.Module, dict]:
    """The trained model of a finished run (eval mode, on ``device``) and everything saved beside it; ``build``
    makes the architecture from its spec."""
    run_dir = Path(run_dir)
    path = run_dir / MODEL_FILE
    if not path.is_file():
        read_run_info(run_dir)  # a clearer error first if this is not a run folder at all
        raise RunFolderError(f"{path} not found: {run_dir} has not finished training "
                             f"(continue it with `python -m tslib train --resume {run_dir}`)")
    saved = read_torch_file(path, what="model file")
    if not isinstance(saved, dict) or "spec" not in saved or "model" not in saved:
        raise CheckpointError(f"{path} is not a tslib model file (no spec/weights); re-export it by training")
    _check_belongs(run_dir, path, saved)
    model = build(saved["spec"])
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit its own spec ({str(e).splitlines()[0]})") from e
    return model.to(resolve_device(device)).eval(), saved


def _check_belongs(run_dir: Path, path: Path, saved: dict) -> None:
    """Refuse a ``model.pt`` copied in from another run: its task, architecture or class list must be the ones
    ``run.json`` describes, or predictions would be labelled with the wrong names."""
    if not (run_dir / RUN_FILE).is_file():  # a bare folder holding only model.pt: nothing to compare with
        return
    info, spec = read_run_info(run_dir), saved["spec"] if isinstance(saved["spec"], dict) else {}
    other = "; it was copied from another run: put back this run's own model.pt, or retrain"
    if spec.get("task") not in (None, info["task"]):
        raise CheckpointError(f"{path} holds a {spec['task']} model, but {run_dir} is a {info['task']} run{other}")
    described = info.get("model")  # the architecture spec train wrote into run.json
    if isinstance(described, dict) and json.loads(json.dumps(spec, default=str)) != described:
        raise CheckpointError(f"{path} holds a {spec.get('name')} model {spec.get('kwargs')}, but {run_dir} trained "
                              f"{described.get('name')} {described.get('kwargs')}{other}")
    mine, theirs = info.get("classes"), saved.get("classes")
    if mine is not None and theirs is not None and list(mine) != list(theirs):
        raise CheckpointError(f"{path} was trained on classes {list(theirs)}, but {run_dir} has {list(mine)}{other}")


def read_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunFolderError(f"{path} is damaged ({e}); delete it and run `python -m tslib evaluate`") from e


def merge_metrics(run_dir: str | Path, new: dict) -> dict:
    """Merge ``new`` (``{"val": {...}, "test": {...}}``) into ``metrics.json`` and return the whole file."""
    metrics = {**read_metrics(run_dir), **new}
    atomic_write_text(Path(run_dir) / METRICS_FILE, json.dumps(metrics, indent=2))
    return metrics
