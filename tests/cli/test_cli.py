import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tslib.cli import main
from tslib.data.download import MissingCredentialsError, download, find_credentials


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "tslib", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("synth", "prepare", "download", "notebooks"):
        assert cmd in out


def test_prepare_cli_prints_table(intel_root, landscape_root, tmp_path, capsys):
    rc = main(["prepare", "--intel", str(intel_root), "--landscape", str(landscape_root),
               "--out", str(tmp_path / "m"), "--quiet", "--official-test"])
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "m" / "manifest.csv").is_file()
    assert "desert" in out and "deduplication" in out and "total" in out


def test_prepare_cli_missing_root_is_one_clear_line(tmp_path, capsys):
    rc = main(["prepare", "--intel", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and "seg_train" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def test_synth_then_prepare_unchanged(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "s"), "--per-class", "8", "--size", "48"]) == 0
    assert main(["prepare", "--intel", str(tmp_path / "s" / "intel"), "--landscape", str(tmp_path / "s" / "landscape"),
                 "--out", str(tmp_path / "m"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "PROCEDURAL DATA" in out
    for c in ("buildings", "desert", "forest", "glacier", "mountain", "sea", "street"):
        assert c in out


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))


def test_missing_kaggle_credentials(no_credentials, tmp_path, capsys):
    assert find_credentials() is None
    with pytest.raises(MissingCredentialsError, match="KAGGLE_USERNAME"):
        download("intel", tmp_path / "data")
    assert main(["download", "--data", str(tmp_path / "data"), "--allow-missing"]) == 0
    note = capsys.readouterr()
    assert note.out == "" and note.err.startswith("note: No Kaggle credentials")
    assert main(["download", "--data", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: No Kaggle credentials") and len(err.splitlines()) == 1 and "--allow-missing" in err
    assert not (tmp_path / "data").exists()


def test_credentials_found_in_config_dir(no_credentials, tmp_path, monkeypatch):
    cfg = tmp_path / "kaggle-config"
    cfg.mkdir()
    (cfg / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert find_credentials() == str(cfg / "kaggle.json")
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert "KAGGLE_USERNAME" in find_credentials()
    with pytest.raises(ValueError, match="unknown dataset"):
        download("imagenet", tmp_path)


def test_synth_easy_flag_reaches_the_generator(tmp_path, monkeypatch):
    import tslib.data.workspace as workspace

    seen = []
    real = workspace.write_procedural
    monkeypatch.setattr(workspace, "write_procedural", lambda *a, **k: seen.append(k["difficulty"]) or real(*a, **k))
    assert main(["synth", "--out", str(tmp_path / "e"), "--per-class", "2", "--size", "48", "--easy"]) == 0
    assert main(["synth", "--out", str(tmp_path / "r"), "--per-class", "2", "--size", "48"]) == 0
    assert seen == ["easy", None]  # None: the default (realistic, or TSLIB_PROCEDURAL)
    assert len(list((tmp_path / "e").rglob("*.jpg"))) == len(list((tmp_path / "r").rglob("*.jpg")))


def test_synth_aerial_easy_flag_draws_the_easy_maps(tmp_path, capsys):
    from tslib.data.aerial import AERIAL_MARKER, aerial_scene

    for name, extra in (("easy", ["--easy"]), ("realistic", [])):
        assert main(["synth", "--aerial", "--out", str(tmp_path / name), "--maps", "1", "--size", "512",
                     "--seed", "2", *extra]) == 0
        assert name in (tmp_path / name / AERIAL_MARKER).read_text()
        written = np.array(Image.open(tmp_path / name / "masks" / "AERIAL-2-000.tif"))[..., 0]
        assert np.array_equal(written, aerial_scene(512, 512, seed=2, index=0, difficulty=name)[1])
    assert "prepare-landcover" in capsys.readouterr().out
