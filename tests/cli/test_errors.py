"""Every command meets a user's mistake with one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import shutil

import pytest
from conftest import build_intel

from tslib.cli import main
from tslib.data.manifest import read_manifest
from tslib.data.prepare import prepare


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A prepared tiny Intel-layout dataset and a finished 1-epoch CNN run on it."""
    root = tmp_path_factory.mktemp("errs")
    build_intel(root / "intel", per_class=6, test_per_class=2, pred=0)
    prepare(root / "prep", intel=root / "intel", progress=False)
    run = root / "run"
    assert main(["train", "--manifest", str(root / "prep"), "--epochs", "1", "--img-size", "32", "--workers", "0",
                 "--no-progress", "--out", str(run)]) == 0
    return root, run


def one_line_error(capsys, rc: int, *needles: str, code: int = 2) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(("error: ", "interrupted: ")), err
    for needle in needles:
        assert needle in err, err
    return err


def copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_out_is_a_file(finished, tmp_path, capsys):
    root, _ = finished
    afile = tmp_path / "taken.txt"
    afile.write_text("keep me")
    manifest = str(root / "prep")
    for argv in (["train", "--manifest", manifest, "--out", str(afile)],
                 ["prepare", "--intel", str(root / "intel"), "--out", str(afile)],
                 ["synth", "--out", str(afile), "--per-class", "2"],
                 ["notebooks", "--out", str(afile), "--only", "01"],
                 ["download", "--data", str(afile)],
                 ["train", "--manifest", manifest, "--out", str(afile / "sub")]):
        one_line_error(capsys, main(argv), "is a file")
    assert afile.read_text() == "keep me"  # nothing lost


def test_corrupt_last_checkpoint_on_resume(finished, tmp_path, capsys):
    run = copy_run(finished[1], tmp_path / "run")
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 3])
    one_line_error(capsys, main(["train", "--resume", str(run)]), "last.pt", "corrupt or truncated")
    (run / "last.pt").write_bytes(b"not a checkpoint at all")
    one_line_error(capsys, main(["train", "--resume", str(run)]), "corrupt or truncated")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_truncated_model_file(finished, tmp_path, capsys, command):
    root, src = finished
    run = copy_run(src, tmp_path / "run")
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[:100])
    argv = ["evaluate", "--run", str(run)] if command == "evaluate" else \
        ["predict", "--run", str(run), str(root / "intel")]
    one_line_error(capsys, main(argv), "model.pt", "corrupt or truncated")
    (run / "model.pt").unlink()
    one_line_error(capsys, main(argv), "model.pt", "--resume")


def test_image_deleted_after_prepare(tmp_path, capsys):
    build_intel(tmp_path / "intel", per_class=6, test_per_class=2, pred=0)
    prepare(tmp_path / "prep", intel=tmp_path / "intel", progress=False)
    gone = [e for e in read_manifest(tmp_path / "prep" / "manifest.csv") if e.split == "train"][3]
    (tmp_path / "intel" / gone.path).unlink()
    rc = main(["train", "--manifest", str(tmp_path / "prep"), "--epochs", "1", "--img-size", "32", "--workers", "0",
               "--out", str(tmp_path / "run")])
    one_line_error(capsys, rc, "1 of", "missing", gone.path.split("/")[-1], "prepare")
    assert not (tmp_path / "run" / "last.pt").exists()  # caught before training, not in some epoch


@pytest.mark.parametrize("flag,value,needle", [
    ("--epochs", "0", "epochs must be >= 1"),
    ("--batch-size", "-4", "batch-size must be >= 1"),
    ("--limit-per-class", "-5", "limit-per-class must be >= 1"),
    ("--img-size", "0", "img-size must be >= 16"),
    ("--lr", "-1", "lr must be >= 0"),
    ("--workers", "-2", "num-workers must be >= 0"),
    ("--dropout", "1.5", "dropout must be <= 0.99"),
    ("--epochs", "ten", "--epochs expects int"),
    ("--lr", "nan", "lr must be a finite number"),
    ("--optimizer", "adam", "invalid choice"),
])
def test_numbers_out_of_range(finished, tmp_path, capsys, flag, value, needle):
    argv = ["train", "--manifest", str(finished[0] / "prep"), flag, value, "--out", str(tmp_path / "run")]
    one_line_error(capsys, main(argv), needle)
    assert not (tmp_path / "run").exists()  # rejected before anything is written


def test_model_of_another_task_and_unknown_task(finished, tmp_path, capsys):
    manifest = str(finished[0] / "prep")
    err = one_line_error(capsys, main(["train", "--task", "classify", "--model", "unet", "--manifest", manifest,
                                       "--out", str(tmp_path / "r")]), "unknown model 'unet'", "classify")
    assert "cnn" in err and "efficientnet_lite0" in err
    one_line_error(capsys, main(["train", "--task", "paint", "--manifest", manifest, "--out", str(tmp_path / "r")]),
                   "unknown task 'paint'", "classify")


def test_missing_inputs(finished, tmp_path, capsys):
    root, run = finished
    one_line_error(capsys, main(["train", "--out", str(tmp_path / "r")]), "--manifest")
    one_line_error(capsys, main(["train", "--manifest", str(root / "prep")]), "--out")
    one_line_error(capsys, main(["train", "--manifest", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]),
                   "nope")
    one_line_error(capsys, main(["train", "--resume", str(tmp_path / "nothing")]), "nothing")
    one_line_error(capsys, main(["train", "--resume", str(run), "--out", str(tmp_path / "x")]), "not both")
    one_line_error(capsys, main(["evaluate", "--run", str(tmp_path / "nothing")]), "does not exist")
    one_line_error(capsys, main(["evaluate", "--run", str(run), "--split", "holdout"]), "holdout")
    one_line_error(capsys, main(["predict", "--run", str(root / "prep"), str(root / "intel")]), "run.json")
    one_line_error(capsys, main(["prepare", "--intel", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]),
                   "nowhere")
    one_line_error(capsys, main(["synth", "--out", str(tmp_path / "s"), "--per-class", "0"]), "per-class")
    one_line_error(capsys, main(["notebooks", "--only", "99", "--out", str(tmp_path / "nb")]), "99")
    one_line_error(capsys, main(["frobnicate"]), "invalid choice")


def test_damaged_run_json_and_resume_with_changed_settings(finished, tmp_path, capsys):
    run = copy_run(finished[1], tmp_path / "run")
    one_line_error(capsys, main(["train", "--resume", str(run), "--epochs", "3"]), "another config", "epochs")
    (run / "run.json").write_text('{"task": "classify", "config": {')
    one_line_error(capsys, main(["evaluate", "--run", str(run)]), "run.json", "damaged")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        main(["evaluate", "--run", str(tmp_path / "nothing"), "--debug"])


def test_interrupt_is_exit_130(finished, tmp_path, capsys, monkeypatch):
    import tslib.tasks.classify.train as train_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "create_model", interrupted)
    rc = main(["train", "--manifest", str(finished[0] / "prep"), "--out", str(tmp_path / "r")])
    one_line_error(capsys, rc, "--resume", code=130)


class _Payload:
    """A pickle that runs code when unpickled without weights_only: what a hostile shared run folder could hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))  # creates the marker file if it ever runs


@pytest.mark.parametrize("name", ["model.pt", "last.pt"])
def test_hostile_checkpoint_never_runs_code(finished, tmp_path, capsys, name):
    """Checkpoints load with torch.load(weights_only=True): a pickle with code in it is refused, not executed."""
    import torch

    root, src = finished
    run = copy_run(src, tmp_path / "run")
    marker = tmp_path / "PWNED"
    torch.save({"model": _Payload(marker)}, run / name)
    argv = ["evaluate", "--run", str(run)] if name == "model.pt" else ["train", "--resume", str(run)]
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not marker.exists()


def test_train_never_overwrites_a_run(finished, tmp_path, capsys):
    """`train --out RUN` on an existing run folder refuses (nothing changed) and says how to continue it."""
    root, src = finished
    run = copy_run(src, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    argv = ["train", "--manifest", str(root / "prep"), "--epochs", "1", "--img-size", "32", "--workers", "0",
            "--no-progress", "--out", str(run)]
    one_line_error(capsys, main(argv), "already holds a run", f"--resume {run}")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_decompression_bomb_is_skipped_by_prepare(tmp_path, capsys, monkeypatch):
    """An image over PIL's pixel limit is listed as skipped with the reason, the rest prepared."""
    from conftest import make_image
    from PIL import Image

    build_intel(tmp_path / "intel", per_class=6, test_per_class=2, pred=0)
    bomb = make_image(tmp_path / "intel" / "seg_train" / "seg_train" / "forest" / "huge.jpg", "forest", "bomb",
                      size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # 32x32 images pass, 64x64 is over twice the limit
    result = prepare(tmp_path / "prep", intel=tmp_path / "intel", progress=False)
    paths = {e.path for e in read_manifest(result.manifest)}
    assert not any(p.endswith("huge.jpg") for p in paths) and len(paths) == 6 * 8
    assert any(s["path"].endswith("huge.jpg") and "pixels" in s["reason"] for s in result.report["skipped"])
    assert bomb.is_file()  # reported, never touched


def test_prepare_with_only_bad_files(tmp_path, capsys):
    for c in ("forest", "sea"):
        folder = tmp_path / "intel" / "seg_train" / "seg_train" / c
        folder.mkdir(parents=True)
        (folder / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        (folder / "b.jpg").write_bytes(b"")
    argv = ["prepare", "--intel", str(tmp_path / "intel"), "--out", str(tmp_path / "prep"), "--quiet"]
    one_line_error(capsys, main(argv), "no readable images", "4 unreadable")
    assert not (tmp_path / "prep" / "manifest.csv").exists()


@pytest.mark.parametrize("change,needle", [("classes", "trained on classes"), ("task", "holds a generate model"),
                                           ("architecture", "but")])
def test_model_file_from_another_run_is_refused(finished, tmp_path, capsys, change, needle):
    """A model.pt copied in from another run would label predictions with the wrong names: refused, one line."""
    import torch

    root, src = finished
    run = copy_run(src, tmp_path / "run")
    saved = torch.load(run / "model.pt", weights_only=True)
    if change == "classes":
        saved["classes"] = saved["classes"][::-1]
    elif change == "task":
        saved["spec"]["task"] = "generate"
    else:
        saved["spec"]["kwargs"]["args"] = [3]  # a 3-class CNN
    torch.save(saved, run / "model.pt")
    for argv in (["evaluate", "--run", str(run)], ["predict", "--run", str(run), str(root / "intel")]):
        one_line_error(capsys, main(argv), "model.pt", needle, "another run")


def test_no_command_writes_into_a_run_folder(finished, tmp_path, capsys):
    """An --out that is some training run's folder is refused by every command that writes a folder."""
    root, src = finished
    run = copy_run(src, tmp_path / "run")
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    for argv in (["synth", "--out", str(run), "--per-class", "2"],
                 ["prepare", "--intel", str(root / "intel"), "--out", str(run)],
                 ["notebooks", "--out", str(run), "--only", "01"],
                 ["download", "--data", str(run)],
                 ["segment", "--run", str(src), "--out", str(run), str(root / "intel" / "seg_pred")]):
        one_line_error(capsys, main(argv))
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def _immutable(folder) -> bool:
    """Make ``folder`` unwritable even for root (chattr +i); False where the file system or container forbids it."""
    import os
    import subprocess

    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    ok = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        (folder / "probe").touch()
    except OSError:
        return ok
    (folder / "probe").unlink()
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    return False


def _writable_again(folder) -> None:
    import os
    import subprocess

    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_read_only_run_folder_fails_before_training(finished, tmp_path, capsys):
    root, src = finished
    locked = tmp_path / "locked"
    locked.mkdir()
    if not _immutable(locked):
        pytest.skip("cannot make a folder read-only here")
    try:
        for out in (locked, locked / "run"):
            argv = ["train", "--manifest", str(root / "prep"), "--epochs", "1", "--img-size", "32", "--workers",
                    "0", "--no-progress", "--out", str(out)]
            one_line_error(capsys, main(argv), "writ", str(locked))
        assert not list(locked.iterdir())
    finally:
        _writable_again(locked)


def test_full_disk_fails_before_training(finished, tmp_path, capsys, monkeypatch):
    from collections import namedtuple

    import tslib.engine.checkpoint as checkpoint

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: usage(10 << 30, (10 << 30) - 4096, 4096))
    argv = ["train", "--manifest", str(finished[0] / "prep"), "--epochs", "1", "--img-size", "32", "--workers", "0",
            "--no-progress", "--out", str(tmp_path / "run")]
    one_line_error(capsys, main(argv), "MiB free", "checkpoints need about")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("damage,needle", [
    ("columns", "missing columns"), ("short row", "line 3: the row has the wrong number of fields"),
    ("split", "line 2: unknown split 'holdout'"), ("width", "line 2: width/height"),
    ("label", "line 2: unknown label 'volcano'"), ("binary", "not a text CSV"),
])
def test_malformed_manifest(finished, tmp_path, capsys, damage, needle):
    lines = (finished[0] / "prep" / "manifest.csv").read_text().splitlines()
    header, first, *rest = lines
    fields = header.split(",")
    row = dict(zip(fields, first.split(",")))
    if damage == "columns":
        lines = [header.replace("split", "fold"), first, *rest]
    elif damage == "short row":
        lines = [header, first, ",".join(first.split(",")[:3]), *rest]
    elif damage in ("split", "width", "label"):
        key, value = {"split": ("split", "holdout"), "width": ("width", "wide"), "label": ("label", "volcano")}[damage]
        row[key] = value
        lines = [header, ",".join(row[f] for f in fields), *rest]
    manifest = tmp_path / "manifest.csv"
    if damage == "binary":
        manifest.write_bytes(b"path,label\n\xff\xfe\x00garbage")
    else:
        manifest.write_text("\n".join(lines) + "\n")
    argv = ["train", "--manifest", str(manifest), "--epochs", "1", "--img-size", "32", "--out", str(tmp_path / "r")]
    one_line_error(capsys, main(argv), needle, "prepare")
    assert not (tmp_path / "r").exists()
