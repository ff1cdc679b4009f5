"""Kaggle downloads (with a stand-in for the kaggle client): extraction is all or nothing, failures are one line."""

from __future__ import annotations

import sys
import types

import pytest

from tslib.cli import main
from tslib.data.download import DownloadError, download


def _fake_kaggle(monkeypatch, behaviour):
    """Install a fake ``kaggle`` package whose download writes two files, then does ``behaviour``."""
    class KaggleApi:
        def authenticate(self):
            pass

        def dataset_download_files(self, slug, path, unzip, quiet, force):
            from pathlib import Path

            (Path(path) / "seg_train").mkdir()
            (Path(path) / "seg_train" / "a.jpg").write_bytes(b"half")
            behaviour()
            (Path(path) / "seg_train" / "b.jpg").write_bytes(b"whole")

    modules = {n: types.ModuleType(n) for n in ("kaggle", "kaggle.api", "kaggle.api.kaggle_api_extended")}
    modules["kaggle.api.kaggle_api_extended"].KaggleApi = KaggleApi
    for n, m in modules.items():
        monkeypatch.setitem(sys.modules, n, m)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")


def test_interrupted_extraction_leaves_nothing_then_retry_completes(tmp_path, monkeypatch):
    def cut():
        raise KeyboardInterrupt

    _fake_kaggle(monkeypatch, cut)
    with pytest.raises(KeyboardInterrupt):
        download("intel", tmp_path)
    assert not list(tmp_path.iterdir())  # no partial dataset, no hidden leftovers
    _fake_kaggle(monkeypatch, lambda: None)
    target = download("intel", tmp_path)
    assert sorted(p.name for p in (target / "seg_train").iterdir()) == ["a.jpg", "b.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["intel"]
    assert download("intel", tmp_path) == target  # complete: not downloaded again


def test_a_killed_attempt_is_cleaned_by_the_next(tmp_path, monkeypatch):
    (tmp_path / ".intel.downloading" / "seg_train").mkdir(parents=True)  # what a SIGKILL mid-unzip leaves
    (tmp_path / ".intel.downloading" / "seg_train" / "stale.jpg").write_bytes(b"x")
    _fake_kaggle(monkeypatch, lambda: None)
    target = download("intel", tmp_path)
    assert sorted(p.name for p in (target / "seg_train").iterdir()) == ["a.jpg", "b.jpg"]


def test_wrong_credentials_is_one_clear_line(tmp_path, monkeypatch, capsys):
    def refused():
        raise OSError("401 Client Error: Unauthorized for url: https://www.kaggle.com/api/v1/datasets/download")

    _fake_kaggle(monkeypatch, refused)
    with pytest.raises(DownloadError, match="wrong Kaggle credentials"):
        download("intel", tmp_path)
    assert not list(tmp_path.iterdir())
    assert main(["download", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "KAGGLE_USERNAME" in err and "Traceback" not in err
