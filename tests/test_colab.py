"""The Colab path with a faked ``google.colab`` (a stub package on ``sys.path``), so the notebooks' own setup cell
and ``colab_setup.sh`` run the lines they run in Colab: the secrets are read in the kernel and reach the download
(a child process, where the stub's ``userdata`` refuses as Colab's does), nothing of Colab's kernel or widgets is
installed, and with ``RUNS_ON_DRIVE`` the runs live on (a stand-in for) Google Drive and resume after a reconnect."""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import build_intel, build_landscape

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUNNER_ONLY = ("ipykernel", "ipywidgets", "nbclient", "nbformat", "jupyter", "notebook")

USERDATA = '''
import json, os

class SecretNotFoundError(Exception):
    pass

class NotebookAccessError(Exception):
    pass

def get(name):
    # Colab answers only in the notebook's kernel: a child process (colab_setup.sh, python -m tslib) is refused
    if str(os.getpid()) != os.environ.get("FAKE_COLAB_KERNEL_PID"):
        raise NotebookAccessError("userdata.get is only available from the notebook kernel")
    with open(os.environ["FAKE_COLAB_SECRETS"]) as f:
        secrets = json.load(f)
    if name not in secrets:
        raise SecretNotFoundError(name)
    return secrets[name]
'''

DRIVE = '''
import os
from pathlib import Path

def mount(mountpoint, force_remount=False, timeout_ms=120000, readonly=False):
    drive = Path(os.environ["FAKE_COLAB_DRIVE"])  # what survives a new VM
    (drive / "MyDrive").mkdir(parents=True, exist_ok=True)
    mountpoint = Path(mountpoint)
    if not mountpoint.exists():
        mountpoint.symlink_to(drive, target_is_directory=True)
'''

KAGGLE = '''
import os, shutil
from pathlib import Path

class KaggleApi:
    def authenticate(self):
        if os.environ.get("KAGGLE_USERNAME") != "colab-user" or os.environ.get("KAGGLE_KEY") != "s3cret":
            raise RuntimeError("401 Unauthorized")

    def dataset_download_files(self, slug, path, unzip=False, quiet=True, force=False):
        shutil.copy(Path(os.environ["FAKE_KAGGLE_ZIPS"]) / (slug.split("/")[1] + ".zip"), path)
'''

SHIM = '''#!/bin/sh
# python3 as Colab has it, except that pip only records what it was asked to install
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then printf '%s\\n' "$*" >> "$FAKE_PIP_LOG"; exit 0; fi
exec "$FAKE_REAL_PYTHON" "$@"
'''


def _zip(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder))


@pytest.fixture
def colab(tmp_path, monkeypatch):
    """A fake Colab VM: google.colab (userdata, drive) for the kernel, python3 and Kaggle for its children."""
    stub, children = tmp_path / "stub", tmp_path / "child"
    (stub / "google" / "colab").mkdir(parents=True)  # google stays a namespace package (protobuf lives there)
    (stub / "google" / "colab" / "__init__.py").write_text("")
    (stub / "google" / "colab" / "userdata.py").write_text(USERDATA)
    (stub / "google" / "colab" / "drive.py").write_text(DRIVE)
    (children / "kaggle" / "api").mkdir(parents=True)
    (children / "kaggle" / "__init__.py").write_text("")
    (children / "kaggle" / "api" / "__init__.py").write_text("")
    (children / "kaggle" / "api" / "kaggle_api_extended.py").write_text(KAGGLE)
    shim = tmp_path / "bin" / "python3"
    shim.parent.mkdir()
    shim.write_text(SHIM)
    shim.chmod(0o755)
    zips = tmp_path / "zips"
    zips.mkdir()
    _zip(build_intel(tmp_path / "src" / "intel", per_class=4, test_per_class=2, pred=0),
         zips / "intel-image-classification.zip")
    _zip(build_landscape(tmp_path / "src" / "landscape", {"Training Data": 4, "Validation Data": 1,
                                                          "Testing Data": 1}),
         zips / "landscape-recognition-image-dataset-12k-images.zip")
    (tmp_path / "secrets.json").write_text(json.dumps({"KAGGLE_USERNAME": "colab-user", "KAGGLE_KEY": "s3cret"}))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "TSLIB_DATA", "TSLIB_RUNS", "VIRTUAL_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-json"))
    env = {"FAKE_COLAB_KERNEL_PID": str(os.getpid()), "FAKE_COLAB_SECRETS": str(tmp_path / "secrets.json"),
           "FAKE_COLAB_DRIVE": str(tmp_path / "gdrive"), "FAKE_KAGGLE_ZIPS": str(zips),
           "FAKE_PIP_LOG": str(tmp_path / "pip.log"), "FAKE_REAL_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(stub), str(children), os.environ.get("PYTHONPATH", "")]),
           "PATH": f"{shim.parent}{os.pathsep}{os.environ['PATH']}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.syspath_prepend(str(stub))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("google.colab"):
            del sys.modules[name]


def _cells(notebook: Path) -> tuple[str, str]:
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    return params.source, code[code.index(params) + 1].source


def _new_vm(root: Path, monkeypatch) -> Path:
    """A fresh Colab VM: an empty /content (Drive, elsewhere, keeps what it holds); returns the kernel's cwd."""
    content = root / "content"
    shutil.rmtree(content, ignore_errors=True)
    content.mkdir()
    monkeypatch.chdir(content)
    os.environ.pop("TSLIB_RUNS", None)
    os.environ.pop("TSLIB_DATA", None)
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY"):
        os.environ.pop(name, None)
    return content


def _run_setup_cell(notebook: Path) -> dict:
    """The notebook's parameters and setup cells, as its kernel runs them (the %magic lines aside)."""
    params, setup = _cells(notebook)
    scope: dict = {}
    exec(params, scope)
    exec("\n".join(line for line in setup.splitlines() if not line.startswith("%")), scope)
    return scope


def _requirements(line: str) -> list[str]:
    """The packages a recorded ``pip install -e DIR[EXTRA]`` line asks for: pyproject.toml's dependencies and those
    of the extra, following extras that name other extras of the project."""
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    spec = line.split(" -e ")[1].strip()
    folder, extra = re.fullmatch(r"(.*)\[(\w+)\]", spec).groups()
    project = tomllib.loads((Path(folder) / "pyproject.toml").read_text())["project"]
    out, todo = list(project["dependencies"]), [extra]
    while todo:
        for item in project["optional-dependencies"][todo.pop()]:
            nested = re.fullmatch(rf"{project['name']}\[(.*)\]", item)
            if nested:
                todo += nested.group(1).split(",")
            else:
                out.append(item)
    return out


def test_secrets_reach_the_download_and_colab_keeps_its_kernel(colab, monkeypatch, capsys):
    import tslib
    from tslib.data.download import _colab_secret

    content = _new_vm(colab, monkeypatch)
    scope = _run_setup_cell(REPO / "notebooks" / "03_baselines.ipynb")
    out = capsys.readouterr().out
    assert "Colab: Kaggle credentials from Colab secrets KAGGLE_USERNAME/KAGGLE_KEY" in out
    assert "s3cret" not in out  # a value is never printed
    # what the child processes could not have read themselves: the secrets came through the environment
    os.environ["FAKE_COLAB_KERNEL_PID"] = "0"
    assert _colab_secret("KAGGLE_KEY") is None
    data = tslib.setup_data(scope["DATA_ROOT"], smoke=True)
    assert not data.procedural and data.intel.resolve() == content / "data" / "intel"  # downloaded, not procedural
    pip = (colab / "pip.log").read_text().splitlines()
    assert len(pip) == 1 and pip[0].endswith(f"-e {REPO}[colab]")
    wanted = _requirements(pip[0])
    assert "kaggle>=1.6" in wanted and any(w.startswith("torch>=") for w in wanted)
    assert any(w.startswith("rasterio") for w in wanted) and any(w.startswith("onnxruntime") for w in wanted)
    assert not [w for w in wanted if w.split(">")[0].split("=")[0].split("[")[0] in RUNNER_ONLY]


def test_runs_on_drive_survive_a_reconnect(colab, monkeypatch, capsys):
    import tslib
    from tslib.data.workspace import run_path
    from tslib.engine import TrainConfig
    from tslib.errors import TrainingInterrupted
    from tslib.tasks.classify import ClassifyConfig, train_classifier

    def session(disconnect: bool) -> list[str]:
        _new_vm(colab, monkeypatch)
        scope = _run_setup_cell(REPO / "notebooks" / "03_baselines.ipynb")
        assert scope["RUNS_ON_DRIVE"] is True
        runs = Path(os.environ["TSLIB_RUNS"])
        assert runs == colab / "content" / "drive" / "MyDrive" / "terrasculpt" / "runs" and runs.is_dir()
        data = tslib.setup_data(scope["DATA_ROOT"], smoke=True)
        run = run_path("03_cnn", profile="smoke")
        assert run.parent == runs  # on Drive, where notebook 05 looks for its judge
        cfg = ClassifyConfig(manifest=str(data.manifest_dir), model="cnn", img_size=32, augment=False,
                             train=TrainConfig(epochs=2, batch_size=16, num_workers=0, progress=False))

        def drop_the_connection(info):
            if disconnect and info["epoch"] == 1:
                raise KeyboardInterrupt

        try:
            train_classifier(cfg, run, resume="auto", callbacks=[drop_the_connection])
        except TrainingInterrupted:
            assert disconnect
        return (run / "history.csv").read_text().splitlines()

    first = session(disconnect=True)
    assert (colab / "gdrive" / "MyDrive" / "terrasculpt" / "runs" / "03_cnn-smoke" / "last.pt").is_file()
    second = session(disconnect=False)  # a new VM: /content is gone, Drive is not
    assert len(first) == 2 and len(second) == 3 and second[1] == first[1]  # epoch 1 resumed, not trained again
    assert "runs on Google Drive" in capsys.readouterr().out


def test_every_notebook_sets_up_the_same_way():
    params, setups = {}, {}
    for nb in NOTEBOOKS:
        params[nb.stem], setups[nb.stem] = _cells(nb)
        assert "RUNS_ON_DRIVE = True" in params[nb.stem], nb.name
        assert "TSLIB_RUNS" not in params[nb.stem], f"{nb.name}: run paths come from run_path after the setup cell"
    landcover = {n for n, s in setups.items() if "landcover=True" in s}
    assert landcover == {"06_segmentation"}
    assert len({s.replace(", landcover=True", "") for s in setups.values()}) == 1


def test_a_local_kernel_in_notebooks_finds_the_repositorys_data(tmp_path, monkeypatch, capsys):
    """Opened in a local Jupyter the kernel starts in notebooks/: DATA_ROOT "data" is the repository's data/,
    where colab_setup.sh downloads, and the runs go to the repository's runs/; nothing is installed."""
    import subprocess

    for name in ("TSLIB_DATA", "TSLIB_RUNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("installed outside Colab"))
    monkeypatch.chdir(REPO / "notebooks")
    scope = _run_setup_cell(REPO / "notebooks" / "01_eda.ipynb")
    assert scope["DATA_ROOT"] == "data"
    assert os.environ["TSLIB_DATA"] == str(REPO / "data") and os.environ["TSLIB_RUNS"] == str(REPO / "runs")
    assert f"data {REPO / 'data'}; runs in {REPO / 'runs'}" in capsys.readouterr().out
    from tslib.colab import resolve_root

    assert resolve_root("data", tmp_path) == tmp_path / "data"  # outside a checkout: the working folder (Colab)
    assert resolve_root(tmp_path / "abs", REPO) == tmp_path / "abs"
