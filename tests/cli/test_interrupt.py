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

EPOCHS = 4


def _train(manifest, out, *extra):
    return [sys.executable, "-m", "tslib", "train", "--manifest", str(manifest), "--model", "cnn", "--img-size", "64",
            "--epochs", str(EPOCHS), "--batch-size", "8", "--workers", "0", "--no-progress", "--out", str(out), *extra]


def _epochs(run) -> list[int]:
    try:
        with open(run / "history.csv") as fh:
            return [int(r["epoch"]) for r in csv.DictReader(fh)]
    except (OSError, ValueError, KeyError):
        return []


def _weights(run):
    return torch.load(run / "last.pt", map_location="cpu", weights_only=False)["model"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from conftest import build_intel

    root = tmp_path_factory.mktemp("interrupt")
    intel = build_intel(root / "intel", per_class=12)
    assert main(["prepare", "--intel", str(intel), "--out", str(root / "prep"), "--quiet"]) == 0
    manifest = root / "prep" / "manifest.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(_train(manifest, root / "ref"), capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return manifest, root / "ref", env


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["INT", "TERM", "KILL"])
def test_stopped_mid_epoch_then_resumed_equals_uninterrupted(reference, tmp_path, sig):
    manifest, ref, env = reference
    run = tmp_path / "run"
    proc = subprocess.Popen(_train(manifest, run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while not _epochs(run) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.05)  # into the second epoch
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    done = _epochs(run)
    assert 1 <= len(done) < EPOCHS and done == list(range(1, len(done) + 1))
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # a clean stop: one line saying how to continue, no traceback, the last epoch kept
        assert proc.returncode == EXIT_INTERRUPTED, stderr
        assert "Traceback" not in stderr and "--resume" in stderr + stdout, stderr
    resumed = subprocess.run([sys.executable, "-m", "tslib", "train", "--resume", str(run), "--no-progress"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert _epochs(run) == list(range(1, EPOCHS + 1))  # each epoch once
    for k, v in _weights(ref).items():
        torch.testing.assert_close(_weights(run)[k], v, rtol=1e-5, atol=1e-6)
    metrics = [json.loads((r / "metrics.json").read_text()) for r in (ref, run)]
    assert metrics[1]["test"]["accuracy"] == metrics[0]["test"]["accuracy"]
    assert not [p.name for p in run.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
