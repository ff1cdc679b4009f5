"""`python -m tslib doctor` on a CPU: the paths a CPU has run and pass, the others are listed as skipped with the
reason, a failing path fails the command in one line; the gpu-profile estimate adds measured step costs up under
the notebooks' own budgets."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tslib.cli import main
from tslib.doctor import estimate_notebooks, notebook_parameters
from tslib.doctor.estimate import _budgeted


def test_doctor_runs_the_cpu_paths_and_says_what_it_skipped(tmp_path, capsys):
    assert main(["doctor", "--out", str(tmp_path), "--only", "bf16", "tta", "interrupted", "fp16 autocast"]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "doctor.json").read_text())
    rows = {r["path"]: r for r in result["rows"]}
    assert rows["classify: bf16 autocast"]["ok"] is True and rows["evaluate --tta"]["ok"] is True
    assert rows["interrupted run resumed"]["ok"] is True
    assert rows["classify: fp16 autocast + GradScaler"]["ok"] is None
    assert rows["classify: fp16 autocast + GradScaler"]["note"] == "needs a CUDA GPU"
    assert "skipped on this machine: classify: fp16 autocast + GradScaler" in out
    assert "--compile" not in rows  # --only ran the named paths alone
    assert "estimate runs on a GPU" in out and result["estimates"] is None


def test_a_failing_path_fails_the_command_in_one_line(tmp_path, capsys, monkeypatch):
    import tslib.doctor.paths as doctor

    def broken(doc):
        raise RuntimeError("CUDA error: no kernel image is available")

    monkeypatch.setattr(doctor, "_tta", broken)
    assert main(["doctor", "--out", str(tmp_path), "--only", "tta"]) != 0
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "no kernel image" in captured.out
    assert captured.err.strip() == "error: 1 path(s) failed: evaluate --tta (the table above says why)"
    (tmp_path / "file").write_text("x")
    assert main(["doctor", "--out", str(tmp_path / "file")]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_budgets_bound_the_estimate():
    assert _budgeted(10, 30.0, None) == 300  # no budget: every epoch
    assert _budgeted(10, 30.0, 2.0) == 120  # 4 epochs fit in 2 minutes
    assert _budgeted(10, 30.0, 1.9) == 90  # no epoch starts that would end past the budget
    assert _budgeted(10, 300.0, 1.0) == 300  # at least one epoch


def test_gpu_profile_parameters_are_read_from_the_notebooks():
    p = notebook_parameters("05")
    assert p["MINUTES"]["ddpm"] > 0 and p["EPOCHS"] >= 1 and p["IMG_SIZE"] == 64
    assert notebook_parameters("03")["MINUTES"] > 0 and notebook_parameters("06")["MINUTES"] > 0
    assert set(notebook_parameters("04")["MINUTES"]) == {"study", "native_cache", "finetune"}


def test_the_estimate_measures_every_training_at_the_profiles_sizes(tmp_path, monkeypatch):
    """The estimate's code on CPU, with the profiles scaled down (the real sizes take long on 2 cores)."""
    import tslib.doctor.estimate as doctor

    real = doctor.notebook_parameters

    def small(name):
        p = real(name)
        shrink = {"IMG_SIZE": 32, "STUDY_SIZE": 32, "DDPM_SIZE": 16, "BATCH_SIZE": 4, "WIDTH": 8, "DEPTH": 2,
                  "BACKBONE": "efficientnet_lite0", "SAMPLE_STEPS": 2, "N_EVAL": 14, "END_SAMPLES": 2}
        return {**p, **{k: v for k, v in shrink.items() if k in p}}

    monkeypatch.setattr(doctor, "notebook_parameters", small)
    monkeypatch.setattr(doctor, "TILE", 64)
    monkeypatch.setattr(doctor, "REAL_SIZES", {"classify": {"train": 40, "val": 8, "test": 8},
                                               "segment": {"train": 8, "val": 4, "test": 4}})
    out = estimate_notebooks(torch.device("cpu"), tmp_path, progress=False, steps=1)
    assert set(out) == {"03", "04", "05", "06"}
    for name, rows in out.items():
        assert rows and all(math.isfinite(s) and s > 0 for _, s in rows), (name, rows)
    assert len(out["05"]) == 7 and "budget" in out["05"][0][0]


@pytest.mark.parametrize("bad", [["--device", "gpu"], ["--device", "cuda"]])
def test_bad_devices_are_one_line(bad, capsys):
    assert main(["doctor", *bad, "--only", "tta"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
