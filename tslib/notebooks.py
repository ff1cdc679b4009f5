"""The main job: execute the numbered notebooks top to bottom and keep executed copies and their figures."""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path

from .data.workspace import data_root
from .errors import check_out_dir

DEFAULT_NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def list_notebooks(folder: Path | str = DEFAULT_NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """Numbered notebooks (``NN_name.ipynb``) in order; ``only`` filters by prefix or name."""
    folder = Path(folder)
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        books = [p for p in books if any(p.name.startswith(o) or p.stem == o for o in only)]
    if not books:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) found in {str(folder)!r} matching {only}")
    return books


def extract_figures(nb, out_dir: Path) -> list[Path]:
    """Write every PNG output of an executed notebook to ``out_dir`` as ``cellNN_K.png``."""
    paths = []
    for i, cell in enumerate(nb.cells):
        for k, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            if "image/png" in data:
                out_dir.mkdir(parents=True, exist_ok=True)
                path = out_dir / f"cell{i:02d}_{k}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                paths.append(path)
    return paths


def inject_parameters(nb, params: dict[str, str]) -> None:
    """Add a cell after the one tagged ``parameters`` that sets ``params`` (papermill's convention); values are
    Python literals (``3``, ``0.5``, ``'x'``, ``[1, 2]``) or else taken as strings."""
    import ast

    import nbformat

    if not params:
        return
    lines = ["# Parameters injected by `python -m tslib notebooks --set`"]
    for name, text in params.items():
        if not name.isidentifier():
            raise ValueError(f"--set {name}=...: {name!r} is not a parameter name")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        lines.append(f"{name} = {value!r}")
    at = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]  # papermill's tag; not counted when naming a failing cell
    nb.cells.insert(at + 1, cell)


def parameter_names(nb) -> set[str]:
    """The names the cell tagged ``parameters`` assigns (what ``--set`` may change): its plain assignments and the
    names its profiles set (``PROFILES = {"gpu": dict(EPOCHS=25, ...), ...}``, applied in that cell)."""
    import ast

    names: set[str] = set()
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PROFILES" for t in node.targets) \
                        and isinstance(node.value, ast.Dict):
                    names |= {kw.arg for call in node.value.values if isinstance(call, ast.Call)
                              for kw in call.keywords if kw.arg}
    return names


def check_parameters(notebooks: list[Path], params: dict[str, str]) -> None:
    """A ``--set`` name no selected notebook has is a typo: refuse it before anything runs (it would be ignored)."""
    import nbformat

    if not params:
        return
    known = set().union(*(parameter_names(nbformat.read(p, as_version=4)) for p in notebooks))
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"--set {', '.join(unknown)}: no such parameter in {', '.join(p.stem for p in notebooks)} "
                         f"(their parameters: {', '.join(sorted(known))})")


def failed_cell(nb) -> tuple[int, str]:
    """(number among the notebook's own code cells, first source line) of the cell that raised."""
    code = [c for c in nb.cells if c.cell_type == "code"
            and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for k, cell in enumerate(code, 1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            return k, first.strip()[:80]
    return 0, ""


def run_notebooks(
    out: Path | str,
    smoke: bool = False,
    data: Path | str | None = None,
    only: list[str] | None = None,
    folder: Path | str = DEFAULT_NOTEBOOK_DIR,
    timeout: int = 4 * 3600,
    params: dict[str, str] | None = None,
    report: bool = True,
) -> list[dict]:
    """Execute the notebooks in order, each in a fresh kernel with ``TSLIB_SMOKE``/``TSLIB_DATA``/``TSLIB_RUNS``
    set and ``params`` injected; write ``out/<name>.ipynb`` and ``out/<name>_figures/*.png``; print one line per
    notebook. The first failure stops the series: its notebook is saved with the error, and its result names the
    failing cell. After a complete series, ``out/report.html`` sums up every run (``report``)."""
    import subprocess

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out = check_out_dir(out).resolve()
    notebooks = list_notebooks(folder, only)
    check_parameters(notebooks, params or {})  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    env_backup = dict(os.environ)
    os.environ["TSLIB_SMOKE"] = "1" if smoke else "0"
    os.environ.setdefault("TSLIB_RUNS", str(out / "work"))
    # Absolute, because kernels run in notebooks/: a relative ./data would be looked for there.
    os.environ["TSLIB_DATA"] = str(data_root(data).resolve())
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")  # library deprecation chatter inside the kernels
    results = []
    try:
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            inject_parameters(nb, params or {})
            start, error = time.time(), None
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            try:
                # The kernel process's own stderr is transport chatter ("running over TCP without encryption");
                # everything a cell prints arrives as notebook output instead.
                client.execute(stderr=subprocess.DEVNULL)
            except CellExecutionError as e:
                cell, line = failed_cell(nb)
                text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # the traceback's terminal colours
                last = text.splitlines()[-1] if text else repr(e)
                error = f"code cell {cell} (`{line}`): {last}"
            nbformat.write(nb, out / path.name)
            figures = extract_figures(nb, out / f"{path.stem}_figures")
            results.append({"notebook": path.name, "seconds": round(time.time() - start, 1),
                            "figures": len(figures), "error": error})
            status = f"FAILED in {error}" if error else "ok"
            print(f"{path.name}: {status} ({results[-1]['seconds']} s, {len(figures)} figures)", flush=True)
            if error:
                break
        else:
            from .report import find_runs, write_report

            work = Path(os.environ["TSLIB_RUNS"])
            # notebooks 01-02 alone train nothing: no page then
            if report and work.is_dir() and any(r is not None for r in find_runs(work)):
                print(f"results page: {write_report(work, out / 'report.html')}", flush=True)
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return results
