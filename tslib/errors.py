"""The one error layer: the exceptions that mean "the user's input is wrong", and how a command reports them.

Library code raises clear exceptions (these classes, or ``ValueError``/``FileNotFoundError`` with a message that
names the file and the fix); :func:`report` turns any exception into one line and an exit code, which every CLI
command goes through (``python -m tslib ... --debug`` shows the traceback instead).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class TslibError(Exception):
    """Base class of the errors a user can fix: the message says what is wrong and what to do."""


class CheckpointError(TslibError):
    """A checkpoint or model file that is corrupt, truncated, or belongs to another model."""


class RunFolderError(TslibError, ValueError):
    """A run folder that is missing, unfinished, or written by something else."""


class MissingFilesError(TslibError, FileNotFoundError):
    """Files listed in a manifest that no longer exist (moved or deleted since ``prepare``)."""


class ImageReadError(OSError):
    """An image file that cannot be decoded (corrupt, truncated, empty or not an image); raised by
    ``tslib.data.imageio``."""


class TrainingInterrupted(TslibError):
    """Training stopped before its last epoch (Ctrl-C, a callback, a crash); ``last.pt`` holds the progress."""


#: Exit codes: 2 for a user's mistake (argparse uses 2 too), 130 for an interruption (128 + SIGINT), 1 otherwise.
EXIT_USER, EXIT_INTERRUPTED, EXIT_BUG = 2, 130, 1


def check_out_dir(path: str | Path, flag: str = "--out", run_ok: bool = False) -> Path:
    """``path`` as an output folder: fine if missing or a folder, a clear error if it is a file, if its parent
    cannot be written, or (unless ``run_ok``: ``train`` itself) if it is a training run's folder, whose files
    another command's output must not mix with or overwrite."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{flag} {path} is a file, not a folder; give a folder path (it is created "
                                 "if missing)")
    if not run_ok and (path / "run.json").is_file():
        raise RunFolderError(f"{flag} {path} is the folder of a training run; write into another folder, e.g. "
                             f"{path / 'out'} (nothing was changed)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{flag} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK) and not path.exists():
                raise PermissionError(f"{flag} {path}: cannot create it, {parent} is not writable")
            break
    return path


def check_out_file(path: str | Path, flag: str = "--out", new: bool = False) -> Path:
    """``path`` as a file to write: missing parent folders are fine (they are created when it is written, as
    ``--out`` folders are); a clear error if it is a folder, if a parent is a file, if the nearest existing parent
    cannot be written, or (``new``) if it exists already."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path} is a folder; give a file path (a name inside it, for example)")
    if new and path.exists():
        raise FileExistsError(f"{flag} {path} exists; give a new file name or delete it (nothing was changed)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{flag} {path}: {parent} is a file, not a folder")
            break
    check_writable(path.parent, flag)
    return path


def nearest_folder(path: Path) -> Path:
    """``path`` if it is a folder, else its nearest existing parent: where a folder made at ``path`` would live."""
    return next((p for p in (path, *path.parents) if p.is_dir()), Path.cwd())


def check_writable(path: str | Path, flag: str = "--out") -> None:
    """Create and delete a file in ``path`` (or in its nearest existing parent, which is where it would be made):
    a read-only folder or file system is then a clear error before any work starts, not a failure after the first
    epoch. A real write, because ``os.access`` says yes to root even on a read-only mount or an immutable folder."""
    import tempfile

    path = Path(path).expanduser()
    where = nearest_folder(path)
    try:
        with tempfile.TemporaryFile(dir=where, prefix=".tslib-write-test."):
            pass
    except OSError as e:
        raise RunFolderError(f"{flag} {path}: cannot write in {where} ({e.strerror or e}); choose a writable "
                             "folder (nothing was changed)") from e


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: keep the original error's last line
        text = text.splitlines()[-1].split(": ", 1)[-1]
    lines = [line for line in text.splitlines() if line.strip()]
    if isinstance(exc, KeyError) and lines:
        return lines[0].strip("'\"")
    return lines[0] if len(lines) == 1 else "; ".join(lines[:3]) if lines else type(exc).__name__


#: optional packages -> the extra of ``pip install "terrasculpt[EXTRA]"`` that brings them (pyproject.toml)
EXTRAS = {"rasterio": "segment", "shapely": "segment", "pyogrio": "segment", "segmentation_models_pytorch": "segment",
          "onnx": "export", "onnxscript": "export", "onnxruntime": "export", "pytorch_grad_cam": "explain",
          "ipywidgets": "notebooks", "ipykernel": "notebooks", "nbclient": "notebooks", "nbformat": "notebooks",
          "gradio": "app"}


def missing_extra(exc: BaseException) -> str | None:
    """For an import of an optional package that is not installed: the line that says what to install."""
    name = getattr(exc, "name", None) or ""
    extra = EXTRAS.get(name.split(".")[0]) if isinstance(exc, ModuleNotFoundError) else None
    if extra is None:
        return None
    return f"this needs the optional package {name.split('.')[0]}: pip install \"terrasculpt[{extra}]\" (or \"[all]\")"


def report(exc: BaseException, debug: bool = False) -> int:
    """Print ``exc`` as one line on stderr and return the exit code (re-raise it with ``debug``)."""
    if debug:
        raise exc
    hint = missing_extra(exc)
    if hint:
        print(f"error: {hint}", file=sys.stderr)
        return EXIT_USER
    if isinstance(exc, TrainingInterrupted | KeyboardInterrupt):
        print(f"interrupted: {_one_line(exc) if str(exc) else 'stopped by the user'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    user = (TslibError, ImageReadError, OSError, ValueError, KeyError, RuntimeError)
    if isinstance(exc, user) and not isinstance(exc, NotImplementedError):
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USER
    print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (rerun with --debug for the traceback, and "
          "please report it)", file=sys.stderr)
    return EXIT_BUG
