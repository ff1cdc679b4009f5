"""A trained run outside Python: its network as one ONNX file, its preprocessing in ``preprocess.json`` beside it.

A task says what to export (:class:`Exportable`, from its ``TaskSpec.export``); this module writes and checks it the
same way for every task: the file is run in onnxruntime on the task's example inputs and compared with PyTorch
before it replaces anything at ``--out``, so a file that computes something else is never left behind.

Exporter: ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript), the default since torch 2.9. The legacy
TorchScript-based exporter still runs in torch 2.14 but warns it will be removed, and it traces: Python branches
on shapes are frozen at the example's values with only a warning (the UNets' padding), while torch.export follows
the declared dynamic dimensions symbolically. The price is a slower export (seconds; half a minute for a Lite0
UNet on 2 cores). TorchScript (``torch.jit.trace``/``script``) is deprecated in torch 2.14 too: not offered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import errors

if TYPE_CHECKING:  # torch is imported on use: the CLI builds its parser (FORMATS) without it
    from torch import Tensor, nn

FORMATS = ("onnx",)
#: the largest |onnxruntime - PyTorch| accepted on the checked outputs (probabilities)
TOLERANCE = 1e-4
PREPROCESS_FILE = "preprocess.json"


@dataclass
class Exportable:
    """What a task hands the exporter: ``module`` (eval, CPU) maps one float32 NCHW ``image`` batch to the
    ``outputs`` (a tensor or a tuple, in this order); it is exported on ``examples[0]`` and checked on every
    example. ``dynamic`` names the input dimensions that may vary (``{0: "batch"}``); a spatial one takes any
    multiple of ``multiple``. ``checked`` outputs must match PyTorch (``reference``: the module as trained, when
    ``module`` was adapted for export; default ``module``) to :data:`TOLERANCE`; ``preprocess`` is written as
    ``preprocess.json``."""

    module: nn.Module
    examples: tuple[Tensor, ...]
    outputs: tuple[str, ...]
    dynamic: dict[int, str]
    preprocess: dict
    checked: tuple[str, ...] = ("probs",)
    multiple: int = 1
    input_name: str = "image"
    reference: nn.Module | None = None


def default_out(run_dir: str | Path, fmt: str = "onnx") -> Path:
    return Path(run_dir) / f"model.{fmt}"


def check_out_file(path: Path, flag: str = "--out") -> Path:
    """``path`` as a file to (over)write: one clear error if it is a folder or cannot be written."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path} is a folder; give a file path, e.g. {path / 'model.onnx'}")
    if path.is_file() and path.suffix != ".onnx" and (path.parent / "run.json").is_file():
        raise FileExistsError(f"{flag} {path} is a file of a training run; give a new .onnx file name (nothing "
                              "was changed)")
    return errors.check_out_file(path, flag)


def exportable_tasks() -> list[str]:
    from .tasks import available_tasks, get_task

    return [name for name in available_tasks() if get_task(name).export is not None]


def export_run(run_dir: str | Path, out: str | Path | None = None, fmt: str = "onnx") -> dict:
    """Export the run's model to ``out`` (default ``RUN/model.onnx``) with ``preprocess.json`` beside it, after
    checking it in onnxruntime; returns what :func:`write_onnx` returns."""
    from .engine import runs
    from .tasks import get_task

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; available: {', '.join(FORMATS)}")
    run_dir = Path(run_dir)
    info = runs.read_run_info(run_dir)
    spec = get_task(info["task"])
    if spec.export is None:
        raise ValueError(f"{spec.name} runs cannot be exported; export supports {', '.join(exportable_tasks())}")
    out = check_out_file(Path(out) if out is not None else default_out(run_dir, fmt))
    _require_exporter()
    return write_onnx(spec.export(run_dir), out)


def write_onnx(item: Exportable, out: str | Path) -> dict:
    """Export ``item`` to the ONNX file ``out`` and ``preprocess.json`` beside it. The file is written under a
    temporary name and checked in onnxruntime (:func:`verify_onnx`) before it replaces ``out``: a failed check
    leaves nothing. Returns the paths, size in bytes, seconds, example sizes and max differences per output."""
    from .utils import atomic_target, atomic_write_text

    out = Path(out)
    _check_examples(item)
    start = time.perf_counter()
    program = _to_onnx(item)
    with atomic_target(out) as tmp:
        program.save(str(tmp), external_data=False)
        diffs = verify_onnx(tmp, item)
    seconds = time.perf_counter() - start
    pre = {"format": "onnx", "file": out.name, "opset": _opset(out), **item.preprocess,
           "input": {"name": item.input_name, **item.preprocess.get("input", {})}}
    pre_path = out.parent / PREPROCESS_FILE
    atomic_write_text(pre_path, json.dumps(pre, indent=2))
    return {"path": out, "preprocess": pre_path, "bytes": out.stat().st_size, "seconds": seconds,
            "max_diff": diffs, "sizes": [tuple(x.shape) for x in item.examples]}


def _require_exporter() -> None:
    """One clear line when the exporter or the runtime that checks its file is missing (or torch is too old)."""
    import importlib.util

    import torch

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(f"ONNX export needs {', '.join(missing)}: pip install \"terrasculpt[export]\"")
    if tuple(int(p) for p in torch.__version__.split(".")[:2]) < (2, 5):
        raise RuntimeError(f"ONNX export needs torch >= 2.5 (its torch.export-based exporter); this is "
                           f"{torch.__version__}")


def _check_examples(item: Exportable) -> None:
    if not item.examples:
        raise ValueError("an Exportable needs at least one example input")
    for x in item.examples:
        bad = [d for d in (2, 3) if d in item.dynamic and x.shape[d] % item.multiple]
        if x.ndim != 4 or bad:
            raise ValueError(f"example input {tuple(x.shape)} is not [N, C, H, W] with H and W multiples of "
                             f"{item.multiple}")
    if 0 in item.dynamic and any(x.shape[0] < 2 for x in item.examples[:1]):
        # torch.export specialises a dimension of size 1, so a batch of one would fix the batch size at 1
        raise ValueError("export with a batch of at least 2 examples, so the batch size stays dynamic")


def _to_onnx(item: Exportable):
    import torch
    from torch.export import Dim

    dims = {}
    for d, name in item.dynamic.items():
        if d in (2, 3) and item.multiple > 1:  # a derived dimension: the graph holds for multiples only
            dims[d] = item.multiple * Dim(f"{name}_over_{item.multiple}")
        else:
            dims[d] = Dim(name)
    with torch.no_grad():
        return torch.onnx.export(item.module.eval(), (item.examples[0],), None, dynamo=True, verbose=False,
                                 input_names=[item.input_name], output_names=list(item.outputs),
                                 dynamic_shapes=(dims,), external_data=False)


def _as_tuple(out) -> tuple[Tensor, ...]:
    return tuple(out) if isinstance(out, list | tuple) else (out,)


def verify_onnx(path: str | Path, item: Exportable, tolerance: float = TOLERANCE) -> dict[str, float]:
    """Run the file in onnxruntime on every example; the max |onnxruntime - PyTorch| per output. A ``checked``
    output past ``tolerance`` is an error."""
    import numpy as np
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if names != list(item.outputs):
        raise RuntimeError(f"the exported file has outputs {names}, expected {list(item.outputs)}")
    diffs = dict.fromkeys(names, 0.0)
    for x in item.examples:
        with torch.no_grad():
            ref = [t.float().numpy() for t in _as_tuple((item.reference or item.module)(x))]
        got = session.run(None, {item.input_name: x.numpy()})
        for name, a, b in zip(names, got, ref):
            if a.shape != b.shape:
                raise RuntimeError(f"exported output {name} has shape {a.shape} on input {tuple(x.shape)}, "
                                   f"PyTorch {b.shape}")
            diffs[name] = max(diffs[name], float(np.abs(a.astype(np.float64) - b).max(initial=0.0)))
    for name in item.checked:
        if not diffs[name] <= tolerance:
            raise RuntimeError(f"the exported model differs from PyTorch by {diffs[name]:.2e} on {name} "
                               f"(> {tolerance:g}); nothing was written")
    return diffs


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def summary(result: dict) -> list[str]:
    """The lines the CLI prints: the file, its size and the check."""
    diffs = "  ".join(f"{k} {v:.1e}" for k, v in result["max_diff"].items())
    sizes = ", ".join("x".join(map(str, s)) for s in result["sizes"])
    return [f"exported {result['path']} ({result['bytes'] / 1e6:.1f} MB, {result['seconds']:.0f} s)",
            f"checked in onnxruntime on inputs {sizes}: max |onnxruntime - PyTorch| {diffs}",
            f"preprocessing written to {result['preprocess']}"]
