"""A training run stopped mid-epoch by SIGINT, SIGTERM or SIGKILL, then `train --resume`: nothing lost beyond the
current epoch, history without duplicates, and the same weights and metrics as an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tslib.cli import main
from tslib.errors import EXIT_INTERRUPTED

EPOCHS = 3
CASE_EPOCHS: dict[str, int] = {}  # a case that needs more epochs to be caught mid-run


def _default_sigint() -> None:
    """In the child: SIGINT back to its default. A shell starts background jobs with SIGINT ignored, and Python
    then keeps it ignored (no KeyboardInterrupt): a test run launched that way would never see Ctrl-C land."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _train(case: str, data, out):
    """The `train` command of each case: a CNN classifier (in-process loading, or 2 DataLoader workers), a VAE,
    a UNet on Landcover.ai-layout tiles."""
    common = ["--epochs", str(CASE_EPOCHS.get(case, EPOCHS)), "--no-progress", "--out", str(out)]
    if case == "segment":
        args = ["--task", "segment", "--landcover", str(data), "--img-size", "64", "--depth", "2", "--width", "8",
                "--batch-size", "4", "--workers", "0", "--limit-tiles", "12"]
    elif case == "generate":
        args = ["--task", "generate", "--manifest", str(data), "--model", "vae", "--img-size", "64",
                "--batch-size", "8", "--workers", "0"]
    else:
        args = ["--manifest", str(data), "--model", "cnn", "--img-size", "64", "--batch-size", "8",
                "--workers", "2" if case == "classify-workers" else "0"]
    return [sys.executable, "-m", "tslib", "train", *args, *common]


def _epochs(run) -> list[int]:
    try:
        with open(run / "history.csv") as fh:
            return [int(r["epoch"]) for r in csv.DictReader(fh)]
    except (OSError, ValueError, KeyError):
        return []


def _weights(run):
    return torch.load(run / "last.pt", map_location="cpu", weights_only=False)["model"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from conftest import build_intel

    from tslib.data.aerial import write_aerial
    from tslib.data.landcover import prepare_landcover

    root = tmp_path_factory.mktemp("interrupt")
    intel = build_intel(root / "intel", per_class=12)
    assert main(["prepare", "--intel", str(intel), "--out", str(root / "prep"), "--quiet"]) == 0
    aerial = write_aerial(root / "landcover", n_images=3, height=1024, width=1536, seed=4)
    prepare_landcover(aerial, progress=False)
    return {"manifest": root / "prep" / "manifest.csv", "landcover": aerial, "root": root,
            "env": {**os.environ, "OMP_NUM_THREADS": "1"}}


_REFERENCES: dict = {}


def reference(case: str, data):
    """The uninterrupted run of ``case`` (trained once per module)."""
    if case not in _REFERENCES:
        ref = data["root"] / f"ref-{case}"
        out = subprocess.run(_train(case, _source(case, data), ref), capture_output=True, text=True,
                             env=data["env"], timeout=300)
        assert out.returncode == 0, out.stderr
        _REFERENCES[case] = ref
    return _REFERENCES[case]


def _source(case: str, data):
    return data["landcover"] if case == "segment" else data["manifest"]


# Each signal, each task and DataLoader workers once (SIGINT and SIGTERM take the same path in the engine; CI's
# time is bounded). SIGKILL goes to a run without workers: a killed parent's workers notice only seconds later.
CASES = [("classify-workers", signal.SIGTERM), ("generate", signal.SIGINT), ("segment", signal.SIGKILL)]


@pytest.mark.slow
@pytest.mark.parametrize("case,sig", CASES, ids=[f"{c}-{s.name[3:]}" for c, s in CASES])
def test_stopped_mid_epoch_then_resumed_equals_uninterrupted(data, tmp_path, case, sig):
    ref, env = reference(case, data), data["env"]
    run = tmp_path / "run"
    proc = subprocess.Popen(_train(case, _source(case, data), run), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 240
    while not _epochs(run) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.05)  # into the second epoch
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    done, epochs = _epochs(run), CASE_EPOCHS.get(case, EPOCHS)
    assert 1 <= len(done) < epochs and done == list(range(1, len(done) + 1))
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # a clean stop: one line saying how to continue, no traceback, the last epoch kept
        assert proc.returncode == EXIT_INTERRUPTED, stderr
        assert "Traceback" not in stderr and "--resume" in stderr + stdout, stderr
    resumed = subprocess.run([sys.executable, "-m", "tslib", "train", "--resume", str(run), "--no-progress"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _epochs(run) == list(range(1, epochs + 1))  # each epoch once
    for k, v in _weights(ref).items():
        torch.testing.assert_close(_weights(run)[k], v, rtol=1e-5, atol=1e-6)
    metrics = [json.loads((r / "metrics.json").read_text()) for r in (ref, run)]
    scores = [{k: v for k, v in m["test"].items() if isinstance(v, float)} for m in metrics]
    assert scores[0] and scores[1] == pytest.approx(scores[0], rel=1e-5, abs=1e-6)
    assert not [p.name for p in run.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]


@pytest.mark.slow
def test_two_processes_never_train_in_one_folder(data, tmp_path, capsys):
    """While a run trains, `train --resume RUN` from another process is refused and changes nothing; once that
    process has ended (even stopped by a signal) the operating system has dropped its lock."""
    from tslib.engine import runs

    run = tmp_path / "run"
    long = [*_train("classify", data["manifest"], run), "--epochs", "50"]  # the last --epochs wins: a long run
    proc = subprocess.Popen(long, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=data["env"])
    deadline = time.monotonic() + 240
    while not (run / "run.json").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "training finished before the second process could try"
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pid {proc.pid}" in err and "another process" in err, err
    assert proc.poll() is None, "the refused resume must not have disturbed the running training"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == EXIT_INTERRUPTED
    runs.lock_run(run)  # free again
    runs.release_run(run)
