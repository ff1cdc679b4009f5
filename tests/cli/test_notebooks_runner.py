"""The main-job runner: executes numbered notebooks, keeps executed copies and figures, injects parameters, and
stops at the first failure naming the notebook and cell."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tslib.notebooks import list_notebooks, run_notebooks


def _write(path, *sources):
    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)


def test_run_notebooks_writes_copies_figures_and_stops_at_a_failure(tmp_path, monkeypatch, capfd):
    books = tmp_path / "books"
    books.mkdir()
    _write(books / "01_probe.ipynb",
           "import os\nprint('DATA=' + os.environ['TSLIB_DATA'])\nprint('SMOKE=' + os.environ['TSLIB_SMOKE'])",
           "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);\nplt.show()")
    _write(books / "02_fail.ipynb", "x = 1", "raise ValueError('boom')")
    _write(books / "03_after.ipynb", "print('must not run')")
    _write(books / "notes.ipynb", "raise SystemExit('unnumbered notebooks are not part of the series')")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TSLIB_DATA", raising=False)
    results = run_notebooks(tmp_path / "out", smoke=True, folder=books)
    assert [r["notebook"] for r in results] == ["01_probe.ipynb", "02_fail.ipynb"]  # stopped at the failure
    assert results[1]["error"].startswith("code cell 2 (`raise ValueError('boom')`)") and "boom" in results[1]["error"]
    probe = nbformat.read(tmp_path / "out" / "01_probe.ipynb", as_version=4)
    text = probe.cells[0].outputs[0]["text"]
    # kernels run inside the notebooks folder, so the data root must reach them as an absolute path
    assert f"DATA={tmp_path / 'data'}" in text and "SMOKE=1" in text
    assert len(list((tmp_path / "out" / "01_probe_figures").glob("*.png"))) == 1
    assert not (tmp_path / "out" / "03_after.ipynb").exists()
    out = capfd.readouterr()
    assert "WARNING" not in out.out + out.err  # no kernel transport chatter between the per-notebook lines
    assert out.out.splitlines() == [line for line in out.out.splitlines() if line.startswith(("01_", "02_"))]


def test_a_failing_parameter_stops_the_series_with_one_line(tmp_path, monkeypatch, capsys):
    from tslib.cli import main

    books = tmp_path / "books"
    books.mkdir()
    params = nbformat.v4.new_code_cell("EPOCHS = 2")
    params.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[params, new_code_cell("assert EPOCHS > 0, 'EPOCHS must be positive'")]),
                   books / "01_train.ipynb")
    _write(books / "02_next.ipynb", "print('next')")
    monkeypatch.setattr("tslib.notebooks.DEFAULT_NOTEBOOK_DIR", books)
    results = run_notebooks(tmp_path / "ok", folder=books, params={"EPOCHS": "3"}, report=False)
    assert [r["error"] for r in results] == [None, None]
    assert "EPOCHS = 3" in nbformat.read(tmp_path / "ok" / "01_train.ipynb", as_version=4).cells[1].source
    capsys.readouterr()
    monkeypatch.setattr("tslib.notebooks.list_notebooks", lambda folder, only: sorted(books.glob("0*.ipynb")))
    assert main(["notebooks", "--out", str(tmp_path / "bad"), "--set", "EPOCHS=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "01_train.ipynb failed in code cell 2 (`assert EPOCHS > 0" in err and "EPOCHS must be positive" in err
    assert not (tmp_path / "bad" / "02_next.ipynb").exists()
    assert main(["notebooks", "--out", str(tmp_path / "bad"), "--set", "EPOCHS"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
    # a typo is refused before anything runs or is written, naming the parameters there are
    assert main(["notebooks", "--out", str(tmp_path / "typo"), "--set", "EPOCS=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "EPOCS" in err and "EPOCHS" in err and not (tmp_path / "typo").exists()


def test_list_notebooks_filters_and_errors(tmp_path):
    _write(tmp_path / "01_a.ipynb", "1")
    _write(tmp_path / "02_b.ipynb", "2")
    assert [p.name for p in list_notebooks(tmp_path, only=["02"])] == ["02_b.ipynb"]
    with pytest.raises(FileNotFoundError, match="numbered notebooks"):
        list_notebooks(tmp_path, only=["09"])


def test_set_wins_over_the_profile_the_notebook_applies(tmp_path, monkeypatch):
    """`--set EPOCHS=1` on the cpu profile trains one epoch: profiles are applied in the parameters cell, before
    the values --set injects after it (notebook 03 on a tiny dataset in the Intel layout)."""
    import json

    from conftest import build_intel

    from tslib.notebooks import parameter_names

    nb = nbformat.read(list_notebooks(only=["03"])[0], as_version=4)
    assert {"EPOCHS", "MINUTES", "IMG_SIZE", "PROFILE"} <= parameter_names(nb)
    build_intel(tmp_path / "data" / "intel", per_class=6, test_per_class=2, pred=0)
    monkeypatch.setenv("TSLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the runner's own check; the kernel has no GPU
    results = run_notebooks(tmp_path / "out", data=tmp_path / "data", only=["03"], report=False,
                            params={"EPOCHS": "1", "IMG_SIZE": "32", "NUM_WORKERS": "0", "LIMIT_PER_CLASS": "None"})
    assert results[0]["error"] is None, results[0]["error"]
    run = tmp_path / "runs" / "03_cnn-cpu"
    assert json.loads((run / "run.json").read_text())["config"]["train"]["epochs"] == 1
    assert len((run / "history.csv").read_text().splitlines()) == 2  # one epoch trained, as --set said
