"""Kaggle downloads (with a stand-in for the kaggle client): extraction is all or nothing, failures are one line."""

from __future__ import annotations

import sys
import types
import zipfile
from pathlib import Path

import pytest

from tslib.cli import main
from tslib.data.download import DownloadError, download


def _fake_kaggle(monkeypatch, behaviour):
    """Install a fake ``kaggle`` package whose download writes a zip of two files, then does ``behaviour(zip)``."""
    class KaggleApi:
        def authenticate(self):
            pass

        def dataset_download_files(self, slug, path, unzip, quiet, force):
            assert not unzip  # tslib checks the archive before extracting it
            archive = Path(path) / f"{slug.split('/')[1]}.zip"
            with zipfile.ZipFile(archive, "w") as z:  # stored, so a flipped byte lands in a member's data
                z.writestr("seg_train/a.jpg", b"half" * 1000)
                z.writestr("seg_train/b.jpg", b"whole" * 1000)
            behaviour(archive)

    modules = {n: types.ModuleType(n) for n in ("kaggle", "kaggle.api", "kaggle.api.kaggle_api_extended")}
    modules["kaggle.api.kaggle_api_extended"].KaggleApi = KaggleApi
    for n, m in modules.items():
        monkeypatch.setitem(sys.modules, n, m)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "secret")


def _ok(archive):
    pass


def test_interrupted_extraction_leaves_nothing_then_retry_completes(tmp_path, monkeypatch):
    def cut(archive):
        raise KeyboardInterrupt

    _fake_kaggle(monkeypatch, cut)
    with pytest.raises(KeyboardInterrupt):
        download("intel", tmp_path)
    assert not list(tmp_path.iterdir())  # no partial dataset, no hidden leftovers
    _fake_kaggle(monkeypatch, _ok)
    target = download("intel", tmp_path)
    assert sorted(p.name for p in (target / "seg_train").iterdir()) == ["a.jpg", "b.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["intel"]
    assert download("intel", tmp_path) == target  # complete: not downloaded again


def test_a_killed_attempt_is_cleaned_by_the_next(tmp_path, monkeypatch):
    (tmp_path / ".intel.downloading" / "seg_train").mkdir(parents=True)  # what a SIGKILL mid-unzip leaves
    (tmp_path / ".intel.downloading" / "seg_train" / "stale.jpg").write_bytes(b"x")
    _fake_kaggle(monkeypatch, _ok)
    target = download("intel", tmp_path)
    assert sorted(p.name for p in (target / "seg_train").iterdir()) == ["a.jpg", "b.jpg"]


def test_wrong_credentials_is_one_clear_line(tmp_path, monkeypatch, capsys):
    def refused(archive):
        raise OSError("401 Client Error: Unauthorized for url: https://www.kaggle.com/api/v1/datasets/download")

    _fake_kaggle(monkeypatch, refused)
    with pytest.raises(DownloadError, match="wrong Kaggle credentials"):
        download("intel", tmp_path)
    assert not list(tmp_path.iterdir())
    assert main(["download", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "KAGGLE_USERNAME" in err and "Traceback" not in err


@pytest.mark.parametrize("damage,needle", [("flip", "CRC-32"), ("truncate", "not a complete zip")])
def test_corrupt_or_truncated_archive_is_refused_then_retried(tmp_path, monkeypatch, capsys, damage, needle):
    def spoil(archive):
        data = bytearray(archive.read_bytes())
        if damage == "flip":
            data[200] ^= 0xFF  # inside a.jpg's bytes: only its CRC-32 can tell
        else:
            del data[len(data) // 2:]
        archive.write_bytes(bytes(data))

    _fake_kaggle(monkeypatch, spoil)
    with pytest.raises(DownloadError, match=needle):
        download("intel", tmp_path)
    assert not list(tmp_path.iterdir())  # nothing extracted, no archive kept
    assert main(["download", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "again" in err
    _fake_kaggle(monkeypatch, _ok)
    target = download("intel", tmp_path)
    assert (target / "seg_train" / "b.jpg").read_bytes() == b"whole" * 1000


def test_extraction_cut_short_leaves_nothing(tmp_path, monkeypatch):
    real = zipfile.ZipFile._extract_member

    def extract_then_stop(self, member, path, pwd):
        real(self, member, path, pwd)
        raise KeyboardInterrupt

    _fake_kaggle(monkeypatch, _ok)
    monkeypatch.setattr(zipfile.ZipFile, "_extract_member", extract_then_stop)
    with pytest.raises(KeyboardInterrupt):
        download("intel", tmp_path)
    assert not list(tmp_path.iterdir())
