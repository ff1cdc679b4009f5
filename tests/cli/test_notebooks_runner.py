"""The main-job runner: executes numbered notebooks, keeps executed copies and figures, survives a failure."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tslib.notebooks import list_notebooks, run_notebooks


def _write(path, *sources):
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)


def test_run_notebooks_writes_copies_figures_and_reports_failures(tmp_path, monkeypatch):
    books = tmp_path / "books"
    books.mkdir()
    _write(books / "01_probe.ipynb",
           "import os\nprint('DATA=' + os.environ['TSLIB_DATA'])\nprint('SMOKE=' + os.environ['TSLIB_SMOKE'])",
           "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);\nplt.show()")
    _write(books / "02_fail.ipynb", "raise ValueError('boom')")
    _write(books / "03_after.ipynb", "print('still ran')")
    _write(books / "notes.ipynb", "raise SystemExit('unnumbered notebooks are not part of the series')")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TSLIB_DATA", raising=False)
    results = run_notebooks(tmp_path / "out", smoke=True, folder=books)
    assert [r["notebook"] for r in results] == ["01_probe.ipynb", "02_fail.ipynb", "03_after.ipynb"]
    assert [bool(r["error"]) for r in results] == [False, True, False] and "boom" in results[1]["error"]
    probe = nbformat.read(tmp_path / "out" / "01_probe.ipynb", as_version=4)
    text = probe.cells[0].outputs[0]["text"]
    # kernels run inside the notebooks folder, so the data root must reach them as an absolute path
    assert f"DATA={tmp_path / 'data'}" in text and "SMOKE=1" in text
    assert len(list((tmp_path / "out" / "01_probe_figures").glob("*.png"))) == 1
    assert (tmp_path / "out" / "03_after.ipynb").is_file()


def test_list_notebooks_filters_and_errors(tmp_path):
    _write(tmp_path / "01_a.ipynb", "1")
    _write(tmp_path / "02_b.ipynb", "2")
    assert [p.name for p in list_notebooks(tmp_path, only=["02"])] == ["02_b.ipynb"]
    with pytest.raises(FileNotFoundError, match="numbered notebooks"):
        list_notebooks(tmp_path, only=["09"])
