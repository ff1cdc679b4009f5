"""``python -m tslib doctor``: every CUDA path of the project once, on tiny procedural data, then what each notebook's
gpu profile should take on this machine.

Each path (:mod:`.paths`) is a real call of the library (training through the engine, evaluation, export,
segmentation of an orthophoto), timed, with the peak GPU memory it allocated: a GPU runtime that works for the
doctor works for the notebooks, and one that fails names the path. On a CPU the paths a CPU has run the same way;
the others are listed as skipped with the reason. The estimate (:mod:`.estimate`) then measures the per-step cost of
every training of every notebook's gpu profile at its own sizes (random weights and inputs: the cost, not the
result) and adds them up with the profile's epochs, budgets (``MINUTES``) and the real datasets' sizes: an estimate
from measurements, printed as such, without downloads, set-up and data loading.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from .core import Doctor, Row, format_row, table
from .estimate import estimate_notebooks, format_estimates, notebook_parameters
from .paths import run_paths

__all__ = ["Doctor", "Row", "estimate_notebooks", "format_estimates", "format_row", "notebook_parameters",
           "run_doctor", "run_paths", "table"]


def run_doctor(out: Path | str | None = None, device: str = "auto", estimate: bool | None = None,
               progress: bool = True, only: list[str] | None = None) -> dict:
    """Run every path (``only``: those whose name contains one of these words) and, by default on a GPU, the
    estimate; write ``doctor.json`` into ``out`` (default: a temporary folder, removed) and return ``{"device",
    "rows", "estimates"}``."""
    from ..utils import resolve_device, seed_everything

    dev = resolve_device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    with contextlib.ExitStack() as stack:
        folder = Path(out) if out is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        if progress:
            print(f"tslib doctor on {name}, torch {torch.__version__}")
        seed_everything(0)
        doc = Doctor(folder, dev, progress)
        run_paths(doc, only)
        estimates = None
        if estimate if estimate is not None else dev.type == "cuda":
            if progress:
                print("estimating the notebooks' gpu profiles (per-step costs at their sizes)", flush=True)
            estimates = estimate_notebooks(dev, folder, progress)
        result = {"device": name, "torch": torch.__version__, "rows": [asdict(r) for r in doc.rows],
                  "estimates": estimates}
        (folder / "doctor.json").write_text(json.dumps(result, indent=2, default=str))
    return result
