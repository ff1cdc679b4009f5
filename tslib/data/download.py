"""Download the two Kaggle datasets with the ``kaggle`` package, when credentials exist.

Credentials are looked for, in order: ``KAGGLE_USERNAME``/``KAGGLE_KEY`` or ``KAGGLE_API_TOKEN`` environment
variables, Colab secrets of the same names, ``$KAGGLE_CONFIG_DIR`` or ``~/.kaggle`` (``kaggle.json`` or
``access_token``). We check before importing ``kaggle``, because importing it without credentials prints a page
of help and fails.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from ..errors import TslibError

DATASETS = {
    "intel": "puneet6060/intel-image-classification",
    "landscape": "utkarshsaxenadn/landscape-recognition-image-dataset-12k-images",
}

NO_CREDENTIALS = (
    "No Kaggle credentials found (set KAGGLE_USERNAME and KAGGLE_KEY, add them as Colab secrets, or put "
    "kaggle.json in ~/.kaggle); skipping the download: the main job uses the built-in PROCEDURAL dataset."
)


class MissingCredentialsError(RuntimeError):
    """No Kaggle credentials anywhere we know to look."""


class DownloadError(TslibError):
    """A Kaggle download or its extraction failed; nothing of it was kept."""


def _colab_secret(name: str) -> str | None:
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return userdata.get(name)
    except Exception:  # SecretNotFoundError / NotebookAccessError: the user has not granted this secret
        return None


def find_credentials() -> str | None:
    """Say where Kaggle credentials come from (exporting Colab secrets to the environment), or None."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "environment variables KAGGLE_USERNAME/KAGGLE_KEY"
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "environment variable KAGGLE_API_TOKEN"
    user, key = _colab_secret("KAGGLE_USERNAME"), _colab_secret("KAGGLE_KEY")
    if user and key:
        os.environ["KAGGLE_USERNAME"], os.environ["KAGGLE_KEY"] = user, key
        return "Colab secrets KAGGLE_USERNAME/KAGGLE_KEY"
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    for name in ("kaggle.json", "access_token"):
        if (config_dir / name).is_file():
            return str(config_dir / name)
    return None


def extract_checked(archive: Path, out: Path) -> None:
    """Check every member of a zip against its CRC-32 (Kaggle publishes no other checksum; a truncated file has
    no central directory at all), then extract it into ``out``. Raises ``OSError`` naming what is damaged."""
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise OSError(f"{archive.name}: {bad} fails its CRC-32 check, the download is corrupt")
            z.extractall(out)
    except (zipfile.BadZipFile, EOFError) as e:
        raise OSError(f"{archive.name} is not a complete zip archive ({e}): the download is truncated or "
                      "corrupt") from e


def download(name: str, out: Path | str, force: bool = False) -> Path:
    """Download and unzip dataset ``name`` ("intel" or "landscape") into ``out/name``; skip if already there.

    The download and its extraction happen in a hidden ``out/.name.downloading`` folder, renamed to ``out/name``
    only when complete: an interrupted or failed attempt never leaves a partial dataset that a later run would
    take for the whole one, and the next attempt starts clean. The archive's CRC-32s are checked before extraction
    (:func:`extract_checked`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}")
    target = Path(out) / name
    if target.is_dir() and any(target.iterdir()) and not force:
        return target
    if find_credentials() is None:
        raise MissingCredentialsError(NO_CREDENTIALS)
    from kaggle.api.kaggle_api_extended import KaggleApi

    partial = Path(out) / f".{name}.downloading"
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted earlier attempt left
    partial.mkdir(parents=True)
    try:
        api = KaggleApi()
        api.authenticate()
        # unzip=False: the archive is checked before anything is extracted from it.
        api.dataset_download_files(DATASETS[name], path=str(partial), unzip=False, quiet=False, force=True)
        archives = sorted(partial.glob("*.zip"))
        if not archives:
            raise OSError("the download held no zip archive")
        for archive in archives:
            extract_checked(archive, partial)
            archive.unlink()
        if not any(partial.iterdir()):
            raise OSError("the archive held no files")
    except BaseException as e:
        shutil.rmtree(partial, ignore_errors=True)
        if not isinstance(e, Exception):  # Ctrl-C: cleaned up, still an interruption
            raise
        hint = ("; 401/403 means wrong Kaggle credentials (check KAGGLE_USERNAME/KAGGLE_KEY or kaggle.json), "
                "404 that the dataset is not visible to this account") if any(
            code in str(e) for code in ("401", "403", "404", "Unauthorized", "Forbidden")) else ""
        raise DownloadError(f"downloading {DATASETS[name]} failed ({type(e).__name__}: {str(e).strip()[:200]})"
                            f"{hint}; nothing was kept, run the command again to retry") from e
    if target.exists():  # --force: the old copy goes only once the new one is complete
        shutil.rmtree(target)
    os.replace(partial, target)
    return target
