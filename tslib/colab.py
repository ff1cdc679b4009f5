"""What every notebook's setup cell calls: Colab secrets read in the kernel, Google Drive for the runs, the install.

Three things only the notebook's own kernel can do in Colab, and a child process cannot:

- read the **Colab secrets** (``google.colab.userdata`` answers only inside the kernel): ``KAGGLE_USERNAME`` and
  ``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``) are read here and passed to ``colab_setup.sh`` and its download
  through the environment;
- **mount Google Drive** (``RUNS_ON_DRIVE``): ``$TSLIB_RUNS`` (run folders, manifests, procedural data) then lives
  on Drive, so a reconnect resumes from ``last.pt`` and every notebook finds the runs of the others (each badge
  opens a fresh VM);
- run ``colab_setup.sh`` with that environment (it installs only what the notebooks import, keeping Colab's torch,
  ipykernel and ipywidgets).

Nothing here imports more than the standard library: the cell calls it before the requirements are installed.
Outside Colab it only sets ``$TSLIB_DATA`` (``runs_on_drive`` is ignored there: ``$TSLIB_RUNS`` says where runs go).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: the Colab secrets handed on to the download, in the order ``tslib.data.download`` looks for them
SECRETS = ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN")
#: the folder on Drive (under ``MyDrive``) that holds ``runs`` when ``runs_on_drive``
DRIVE_FOLDER = "terrasculpt"
REPO = Path(__file__).resolve().parent.parent


def in_colab() -> bool:
    """Whether this kernel runs in Google Colab."""
    return importlib.util.find_spec("google.colab") is not None


def read_secrets(names: tuple[str, ...] = SECRETS) -> list[str]:
    """Copy the Colab secrets ``names`` that the user added (and granted this notebook) into ``os.environ``, unless
    already set there; returns the names found. Never prints a value."""
    from google.colab import userdata  # type: ignore[import-not-found]

    found = []
    for name in names:
        if os.environ.get(name):
            found.append(name)
            continue
        try:
            value = userdata.get(name)
        except Exception:  # SecretNotFoundError, NotebookAccessError (access not granted), TimeoutException
            continue
        if value:
            os.environ[name] = value
            found.append(name)
    return found


def mount_drive(folder: str = DRIVE_FOLDER, mountpoint: str | Path | None = None) -> Path:
    """Mount Google Drive at ``./drive`` (below Colab's working folder, where Colab's own examples mount it) and return
    ``MyDrive/<folder>/runs``, created if missing."""
    from google.colab import drive  # type: ignore[import-not-found]

    mountpoint = Path(mountpoint or Path.cwd() / "drive")
    drive.mount(str(mountpoint))
    runs = mountpoint / "MyDrive" / folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    return runs


def checkout_root(start: str | Path | None = None) -> Path | None:
    """The repository checkout around ``start`` (default: the working folder), a folder that holds
    ``colab_setup.sh`` and ``tslib/``; None outside one."""
    start = Path(start or Path.cwd()).resolve()
    return next((p for p in (start, *start.parents) if (p / "colab_setup.sh").is_file() and (p / "tslib").is_dir()),
                None)


def resolve_root(path: str | Path, start: str | Path | None = None) -> Path:
    """A relative data or runs root as the user means it: against the repository root when a notebook runs inside
    a checkout (a local Jupyter starts its kernel in ``notebooks/``, where ``colab_setup.sh`` never put ``data``),
    else against the working folder (Colab's ``/content``)."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    return ((checkout_root(start) or Path(start or Path.cwd())) / path).resolve()


@dataclass
class Setup:
    """Where a notebook's data and runs are, and how it got there."""

    colab: bool
    data: Path
    runs: Path
    on_drive: bool
    credentials: list[str]

    def summary(self) -> str:
        where = f"runs on Google Drive: {self.runs}" if self.on_drive else f"runs in {self.runs}"
        if not self.colab:
            return f"data {self.data}; {where}"
        creds = (f"Kaggle credentials from Colab secrets {'/'.join(self.credentials)}" if self.credentials else
                 "no Kaggle secrets (add KAGGLE_USERNAME and KAGGLE_KEY in Colab's key panel and grant this "
                 "notebook access; without them the notebooks use PROCEDURAL data)")
        return f"Colab: {creds}; data {self.data}; {where}"


def setup(data_root: str | Path = "data", runs_on_drive: bool = False, landcover: bool = False,
          drive_folder: str = DRIVE_FOLDER, install: bool | None = None) -> Setup:
    """A notebook's set-up: ``$TSLIB_DATA`` from ``data_root`` and ``$TSLIB_RUNS`` (unless set), relative ones
    against the repository root inside a checkout (:func:`resolve_root`); in Colab the secrets, Drive
    (``runs_on_drive``; ignored elsewhere) and ``colab_setup.sh`` (``landcover``: also Landcover.ai). ``install``
    (default: in Colab) runs the script; outside Colab the project is assumed set up (``bash colab_setup.sh``)."""
    colab = in_colab()
    os.environ["TSLIB_DATA"] = str(resolve_root(data_root))
    credentials = read_secrets() if colab else []
    on_drive = bool(runs_on_drive and colab)  # elsewhere $TSLIB_RUNS says where runs go
    if on_drive:
        os.environ["TSLIB_RUNS"] = str(mount_drive(drive_folder))
    elif not os.environ.get("TSLIB_RUNS"):  # inside a checkout: its runs/, whichever folder the kernel started in
        os.environ["TSLIB_RUNS"] = str(resolve_root("runs"))
    if install if install is not None else colab:
        script = REPO / "colab_setup.sh"
        subprocess.run(["bash", str(script), *(["--landcover"] if landcover else [])], check=True,
                       env=os.environ.copy())
    result = Setup(colab, Path(os.environ["TSLIB_DATA"]), Path(os.environ.get("TSLIB_RUNS") or "runs").resolve(),
                   on_drive, credentials)
    print(result.summary(), file=sys.stdout, flush=True)
    return result
