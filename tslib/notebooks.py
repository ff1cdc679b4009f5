"""The main job: execute the numbered notebooks top to bottom and keep executed copies and their figures."""

from __future__ import annotations

import base64
import os
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


def run_notebooks(
    out: Path | str,
    smoke: bool = False,
    data: Path | str | None = None,
    only: list[str] | None = None,
    folder: Path | str = DEFAULT_NOTEBOOK_DIR,
    timeout: int = 4 * 3600,
) -> list[dict]:
    """Execute each notebook in a fresh kernel with ``TSLIB_SMOKE``/``TSLIB_DATA``/``TSLIB_RUNS`` set; write
    ``out/<name>.ipynb`` and ``out/<name>_figures/*.png``. A failing notebook is saved with its error and
    reported; the others still run."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out = check_out_dir(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env_backup = dict(os.environ)
    os.environ["TSLIB_SMOKE"] = "1" if smoke else "0"
    os.environ.setdefault("TSLIB_RUNS", str(out / "work"))
    # Absolute, because kernels run in notebooks/: a relative ./data would be looked for there.
    os.environ["TSLIB_DATA"] = str(data_root(data).resolve())
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    results = []
    try:
        for path in list_notebooks(folder, only):
            nb = nbformat.read(path, as_version=4)
            start, error = time.time(), None
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
            try:
                client.execute()
            except CellExecutionError as e:
                error = str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
            nbformat.write(nb, out / path.name)
            figures = extract_figures(nb, out / f"{path.stem}_figures")
            results.append({"notebook": path.name, "seconds": round(time.time() - start, 1), "figures": len(figures), "error": error})
            print(f"{path.name}: {'FAILED: ' + error if error else 'ok'} ({results[-1]['seconds']} s, {len(figures)} figures)")
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return results
