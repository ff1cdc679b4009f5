"""The run-folder lock: one training process per folder, released when training returns or the process ends."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tslib.engine import runs
from tslib.errors import RunFolderError

TRY_LOCK = "import sys; from tslib.engine import runs; runs.lock_run(sys.argv[1])"


def _other_process_locks(folder) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(folder)], capture_output=True, text=True, timeout=120)


def test_lock_is_exclusive_across_processes_and_released(tmp_path):
    run = tmp_path / "run"
    runs.lock_run(run)
    runs.lock_run(run)  # the same process again (a re-run notebook cell): fine
    other = _other_process_locks(run)
    assert other.returncode != 0 and "being trained by another process" in other.stderr
    runs.release_run(run)
    assert _other_process_locks(run).returncode == 0  # and that process's lock ended with it


def test_training_run_lets_go_when_training_returns_or_raises(tmp_path):
    @runs.training_run
    def train(cfg, run_dir, resume=False):
        runs.lock_run(run_dir)
        if cfg == "fail":
            raise RunFolderError("boom")
        return {"ok": True}

    assert train("ok", tmp_path / "a") == {"ok": True}
    with pytest.raises(RunFolderError):
        train(cfg="fail", run_dir=tmp_path / "b")  # keywords bind too
    assert _other_process_locks(tmp_path / "a").returncode == 0
    assert _other_process_locks(tmp_path / "b").returncode == 0
