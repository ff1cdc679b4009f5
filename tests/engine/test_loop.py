"""Tests for the shared training engine, checkpoints and utils (CPU, seconds)."""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from tslib.engine import TrainConfig, fit, resolve_amp
from tslib.engine.checkpoint import load_checkpoint, save_checkpoint
from tslib.engine.loop import SupervisedTask
from tslib.tasks.classify import ClassificationTask
from tslib.utils import atomic_save, resolve_device, seed_everything, to_device

NUM_CLASSES = 4
CKPT_KEYS = {"model", "optimizer", "scheduler", "scaler", "epoch", "best_metric", "meta", "config", "rng"}


class ColourBlobs(Dataset):
    """Class c = noisy 3x8x8 image around a class colour; random horizontal flip as augmentation."""

    def __init__(self, n: int, seed: int, noise: float = 0.6, augment: bool = True) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % NUM_CLASSES
        colours = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
        self.images = colours[self.labels][:, :, None, None] + noise * torch.randn(n, 3, 8, 8, generator=g)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image = self.images[i]
        if self.augment and torch.rand(()) < 0.5:  # global RNG: resume must restore it
            image = image.flip(-1)
        return {"image": image, "label": self.labels[i]}


def tiny_cnn(dropout: float = 0.3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(8, NUM_CLASSES),
    )


def cfg(**kw) -> TrainConfig:
    base = dict(epochs=3, lr=1e-2, progress=False, device="cpu", seed=0)
    return TrainConfig(**(base | kw))


def loaders(sampler: str = "shuffle", loader_seed: int = 123) -> tuple[DataLoader, DataLoader]:
    train = ColourBlobs(128, seed=1)
    val = ColourBlobs(64, seed=2, augment=False)
    if sampler == "weighted":
        weights = torch.linspace(0.5, 2.0, len(train))
        gen = torch.Generator().manual_seed(loader_seed)
        smp = WeightedRandomSampler(weights, num_samples=len(train), replacement=True, generator=gen)
        train_loader = DataLoader(train, batch_size=16, sampler=smp)
    else:
        gen = torch.Generator().manual_seed(loader_seed)
        train_loader = DataLoader(train, batch_size=16, shuffle=True, generator=gen)
    return train_loader, DataLoader(val, batch_size=32)


def strip_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# ---------------------------------------------------------------------------------------- utils


def test_seed_everything_reproducible():
    def draw():
        return random.random(), float(np.random.rand()), torch.rand(3)

    seed_everything(7)
    a = draw()
    seed_everything(7)
    b = draw()
    seed_everything(8)
    c = draw()
    assert a[:2] == b[:2] and torch.equal(a[2], b[2])
    assert a[:2] != c[:2] and not torch.equal(a[2], c[2])
    assert os.environ["PYTHONHASHSEED"] == "8"


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_atomic_save_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "obj.pt"
    atomic_save({"x": torch.arange(3)}, path)
    atomic_save({"x": torch.arange(5)}, path)  # overwrite
    assert os.listdir(path.parent) == ["obj.pt"]
    assert torch.equal(torch.load(path)["x"], torch.arange(5))
    # A failing save (lambdas cannot be pickled) keeps the previous file and cleans up its temp file.
    with pytest.raises(Exception):  # noqa: B017 - pickle raises different types across versions
        atomic_save({"f": lambda: 0}, path)
    assert os.listdir(path.parent) == ["obj.pt"]
    assert torch.equal(torch.load(path)["x"], torch.arange(5))


def test_to_device_nested():
    batch = {"image": torch.ones(2, 3, 4, 4), "meta": [torch.zeros(2), ("name", torch.ones(1))], "n": 3}
    out = to_device(batch, "cpu", memory_format=torch.channels_last)
    assert out["n"] == 3 and out["meta"][1][0] == "name"
    assert isinstance(out["meta"], list) and isinstance(out["meta"][1], tuple)
    assert out["image"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out["meta"][0], torch.zeros(2))


# ----------------------------------------------------------------------------------- checkpoint


def test_load_checkpoint_missing_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpoint_roundtrip_restores_weights_and_rng(tmp_path):
    model = tiny_cnn()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    save_checkpoint(
        tmp_path / "c.pt",
        model=model,
        optimizer=opt,
        scheduler=None,
        scaler=None,
        epoch=3,
        best_metric=0.5,
        config={"a": 1},
        meta={"classes": ["x", "y"]},
        extra={"history": [{"epoch": 1}]},
    )
    expected = (random.random(), float(np.random.rand()), torch.rand(2))
    other = tiny_cnn()
    other_opt = torch.optim.AdamW(other.parameters())
    ckpt = load_checkpoint(tmp_path / "c.pt", other, other_opt, restore_rng=True)
    got = (random.random(), float(np.random.rand()), torch.rand(2))
    assert expected[:2] == got[:2] and torch.equal(expected[2], got[2])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), other.state_dict().values()))
    assert other_opt.state_dict()["state"][0]["step"] == 1
    assert ckpt["epoch"] == 3 and ckpt["meta"]["classes"] == ["x", "y"] and ckpt["history"] == [{"epoch": 1}]
    with pytest.raises(ValueError, match="overwrite"):
        save_checkpoint(
            tmp_path / "d.pt",
            model=model,
            optimizer=None,
            scheduler=None,
            scaler=None,
            epoch=0,
            best_metric=None,
            config={},
            extra={"epoch": 5},
        )


# --------------------------------------------------------------------------------------- engine


def test_classifier_learns_and_writes_run_folder(tmp_path):
    seed_everything(0)
    train_loader, val_loader = loaders()
    seen = []
    history = fit(
        tiny_cnn(),
        ClassificationTask(label_smoothing=0.05),
        train_loader,
        val_loader,
        cfg(epochs=6),
        tmp_path,
        meta={"classes": ["r", "g", "b", "y"]},
        callbacks=[seen.append],
        extra_config={"dataset": "blobs"},
    ).history
    assert len(history) == 6 and [row["epoch"] for row in history] == list(range(1, 7))
    assert history[-1]["val_acc"] > 0.9  # chance is 0.25
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    lrs = [row["lr"] for row in history]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]  # cosine decays

    assert sorted(os.listdir(tmp_path)) == ["best.pt", "config.json", "history.csv", "last.pt"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == asdict(cfg(epochs=6)) | {"dataset": "blobs"}
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    assert {"epoch", "train_loss", "lr", "val_loss", "val_acc", "seconds"} <= set(rows[0])
    assert float(rows[-1]["val_acc"]) == pytest.approx(history[-1]["val_acc"])

    last, best = load_checkpoint(tmp_path / "last.pt"), load_checkpoint(tmp_path / "best.pt")
    assert CKPT_KEYS <= set(last) and CKPT_KEYS <= set(best)
    assert last["epoch"] == 6 and last["meta"]["classes"] == ["r", "g", "b", "y"] and last["config"] == config
    best_epoch = max(history, key=lambda r: r["val_acc"])["epoch"]  # first maximum wins (strict >)
    assert best["epoch"] == best_epoch and best["best_metric"] == last["best_metric"]
    assert strip_seconds(last["history"]) == strip_seconds(history)

    assert [info["epoch"] for info in seen] == list(range(1, 7))
    assert {"epoch", "history", "model", "run_dir", "row"} <= set(seen[0])


def test_overfits_one_batch(tmp_path):
    # Random images with random labels: only memorisation can lower the loss, so this checks the
    # optimisation loop itself rather than how easy the data is.
    seed_everything(0)
    images, labels = torch.randn(8, 3, 8, 8), torch.randint(0, NUM_CLASSES, (8,))
    data = [{"image": x, "label": y} for x, y in zip(images, labels)]
    loader = DataLoader(data, batch_size=8)
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 64), nn.ReLU(), nn.Linear(64, NUM_CLASSES))
    history = fit(
        model, ClassificationTask(), loader, loader, cfg(epochs=60, schedule="none", grad_clip=None), tmp_path
    ).history
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 10
    assert history[-1]["val_acc"] == 1.0


@pytest.mark.parametrize(
    "sampler,schedule,optimizer", [("shuffle", "cosine", "adamw"), ("weighted", "onecycle", "sgd")]
)
def test_resume_is_bit_identical(tmp_path, sampler, schedule, optimizer):
    config = cfg(epochs=4, schedule=schedule, optimizer=optimizer)

    seed_everything(0)
    full_model = tiny_cnn()
    full = fit(full_model, ClassificationTask(), *loaders(sampler), config, tmp_path / "full").history

    def stop_after_2(info):
        if info["epoch"] == 2:
            raise KeyboardInterrupt

    seed_everything(0)
    part = fit(
        tiny_cnn(),
        ClassificationTask(),
        *loaders(sampler),
        config,
        tmp_path / "resumed",
        callbacks=[stop_after_2],
    ).history
    assert len(part) == 2 and load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 2

    # A "new process": different init, RNGs consumed, fresh loaders with a different generator seed.
    seed_everything(99)
    random.random(), np.random.rand(), torch.rand(10)
    resumed_model = tiny_cnn()
    resumed = fit(
        resumed_model,
        ClassificationTask(),
        *loaders(sampler, loader_seed=5),
        config,
        tmp_path / "resumed",
        resume=True,
    ).history

    assert strip_seconds(resumed) == strip_seconds(full) and len(full) == 4
    full_sd, resumed_sd = full_model.state_dict(), resumed_model.state_dict()
    assert full_sd.keys() == resumed_sd.keys()
    for name in full_sd:
        assert torch.equal(full_sd[name], resumed_sd[name]), name


def test_resume_without_rng_restore_differs(tmp_path, monkeypatch):
    """Guards the test above: with dropout/augmentation RNG not restored, weights must diverge."""
    import tslib.engine.checkpoint as checkpoint

    config = cfg(epochs=2, schedule="none")
    seed_everything(0)
    full_model = tiny_cnn()
    fit(full_model, ClassificationTask(), *loaders(), config, tmp_path / "full")

    def stop_after_1(info):
        raise KeyboardInterrupt

    seed_everything(0)
    fit(tiny_cnn(), ClassificationTask(), *loaders(), config, tmp_path / "r", callbacks=[stop_after_1])
    monkeypatch.setattr(checkpoint, "set_rng_state", lambda state: None)
    torch.rand(10)
    resumed_model = tiny_cnn()
    fit(resumed_model, ClassificationTask(), *loaders(), config, tmp_path / "r", resume=True)
    assert not all(
        torch.equal(a, b)
        for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values())
    )


def test_resume_finished_run_does_nothing(tmp_path):
    seed_everything(0)
    history = fit(tiny_cnn(), ClassificationTask(), *loaders(), cfg(epochs=2), tmp_path).history
    mtime = (tmp_path / "last.pt").stat().st_mtime_ns
    model = tiny_cnn()
    again = fit(model, ClassificationTask(), *loaders(), cfg(epochs=2), tmp_path, resume=True).history
    assert again == history
    assert (tmp_path / "last.pt").stat().st_mtime_ns == mtime
    saved = load_checkpoint(tmp_path / "last.pt")["model"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())  # weights were loaded


def test_early_stopping_when_metric_stalls(tmp_path):
    seed_everything(0)
    # lr=0: weights never change, so val_acc is constant and only epoch 1 counts as an improvement.
    history = fit(tiny_cnn(), ClassificationTask(), *loaders(), cfg(epochs=10, lr=0.0, patience=2), tmp_path).history
    assert len(history) == 3
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 1
    again = fit(
        tiny_cnn(),
        ClassificationTask(),
        *loaders(),
        cfg(epochs=10, lr=0.0, patience=2),
        tmp_path,
        resume=True,
    ).history
    assert len(again) == 3  # an early-stopped run stays stopped


def test_param_groups_and_frozen_params(tmp_path):
    seed_everything(0)
    model = tiny_cnn(dropout=0.0)
    conv, head = model[0], model[5]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    groups = [{"params": conv.parameters(), "lr": 1e-4}, {"params": head.parameters(), "lr": 1e-2}]
    config = cfg(epochs=2, schedule="none", weight_decay=0.0)
    fit(model, ClassificationTask(), *loaders(), config, tmp_path, param_groups=groups)
    saved_groups = load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"]
    assert [g["lr"] for g in saved_groups] == [1e-4, 1e-2]
    conv_step = (model[0].weight - before["0.weight"]).abs().max()
    head_step = (model[5].weight - before["5.weight"]).abs().max()
    assert 0 < conv_step < head_step / 10  # Adam steps scale with lr

    # Default: only requires_grad parameters are optimised; frozen ones stay bit-identical.
    frozen = tiny_cnn()
    frozen[0].requires_grad_(False)
    conv_before = frozen[0].weight.clone()
    fit(frozen, ClassificationTask(), *loaders(), cfg(epochs=1), tmp_path / "frozen")
    assert torch.equal(frozen[0].weight, conv_before)
    saved = load_checkpoint(tmp_path / "frozen" / "last.pt")["optimizer"]["param_groups"]
    assert sum(len(g["params"]) for g in saved) == 2  # only the Linear weight and bias


class DtypeSpy(ClassificationTask):
    """Records the dtype the model produces inside the engine's autocast region."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: set[torch.dtype] = set()

    def loss(self, model, batch):
        self.dtypes.add(model(batch["image"]).dtype)
        return super().loss(model, batch)


def test_amp_bf16_runs_on_cpu_and_fp16_is_rejected(tmp_path):
    assert resolve_amp("auto", torch.device("cpu")) is None  # auto never autocasts on CPU
    seed_everything(0)
    task = DtypeSpy()
    history = fit(tiny_cnn(), task, *loaders(), cfg(epochs=3, amp="bf16"), tmp_path / "bf16").history
    assert task.dtypes == {torch.bfloat16}
    assert history[-1]["val_acc"] > 0.6 and history[-1]["train_loss"] < history[0]["train_loss"]
    with pytest.raises(ValueError, match="fp16"):
        fit(tiny_cnn(), ClassificationTask(), *loaders(), cfg(amp="fp16"), tmp_path / "fp16")
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")


class _Clock:
    """A fake ``time.perf_counter``: every training batch takes 15 s (two batches an epoch: 30 s)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _budget_run(tmp_path, monkeypatch, minutes, resume=False, callbacks=()):
    import tslib.engine.loop as loop_module

    clock = _Clock()
    monkeypatch.setattr(loop_module.time, "perf_counter", clock)
    train, val = _budget_loaders()
    task = _BudgetTask()
    task.clock = clock
    torch.manual_seed(0)
    return fit(torch.nn.Linear(4, 2), task, train, val, TrainConfig(epochs=50, max_minutes=minutes, progress=False,
                                                                  device="cpu"), tmp_path, resume=resume,
               callbacks=callbacks), clock


def test_a_time_budget_starts_no_epoch_that_would_end_past_it(tmp_path, monkeypatch):
    result, clock = _budget_run(tmp_path, monkeypatch, minutes=1.9)  # 114 s; 30 s an epoch
    assert result.stop_reason == "time_budget" and result.completed
    assert len(result.history) == 3 and clock.now <= 114  # a fourth epoch would have ended at 120 s
    assert (tmp_path / "last.pt").is_file()
    one, _ = _budget_run(tmp_path / "tiny", monkeypatch, minutes=0.01)
    assert len(one.history) == 1 and one.stop_reason == "time_budget"  # at least one epoch
    with pytest.raises(ValueError, match="max-minutes must be >= 0.0"):
        TrainConfig(max_minutes=-1)


def test_a_resumed_run_continues_the_same_budget(tmp_path, monkeypatch):
    """A disconnect costs the budget nothing: the resumed session counts the training time already spent."""
    def stop_after_two(info):
        if info["epoch"] == 2:
            raise KeyboardInterrupt

    first, _ = _budget_run(tmp_path, monkeypatch, minutes=1.9, callbacks=[stop_after_two])
    assert first.stop_reason == "interrupted" and len(first.history) == 2
    resumed, clock = _budget_run(tmp_path, monkeypatch, minutes=1.9, resume=True)
    assert resumed.stop_reason == "time_budget" and [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert clock.now == 30  # one more epoch in this session: 60 s were spent before it
    again, clock = _budget_run(tmp_path, monkeypatch, minutes=1.9, resume=True)  # the budget is spent
    assert len(again.history) == 3 and again.stop_reason == "time_budget" and clock.now == 0


def _budget_loaders():
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(4, generator=g), torch.tensor(i % 2)) for i in range(8)]
    return DataLoader(data, batch_size=4), DataLoader(data, batch_size=4)


class _BudgetTask(SupervisedTask):
    monitor, mode = None, "min"
    clock: _Clock | None = None

    def loss(self, model, batch):
        if self.clock is not None:
            self.clock.now += 15.0
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y), {}

    def evaluate(self, model, loader, device):
        return {"val_n": float(len(loader))}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_files_get_the_mode_plain_open_would_give(tmp_path, umask, intel_root):
    """Atomic writes go through mkstemp (0600): every file of a run and the results page must end as
    open(..., "w") makes them under the umask, so they can be shared."""
    from tslib.cli import main
    from tslib.report import write_report

    old = os.umask(umask)
    try:
        assert main(["prepare", "--intel", str(intel_root), "--out", str(tmp_path / "prep"), "--quiet"]) == 0
        assert main(["train", "--manifest", str(tmp_path / "prep" / "manifest.csv"), "--model", "cnn",
                     "--img-size", "32", "--epochs", "1", "--workers", "0", "--no-progress",
                     "--out", str(tmp_path / "runs" / "cnn")]) == 0
        page = write_report(tmp_path / "runs")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert os.stat(tmp_path / "plain.txt").st_mode & 0o777 == want
    files = [p for p in (tmp_path / "runs" / "cnn").rglob("*") if p.is_file()] + [page]
    assert {p.name for p in files} >= {"run.json", "config.json", "history.csv", "last.pt", "best.pt", "model.pt",
                                       "metrics.json", "report.html"}
    assert {p.name: oct(os.stat(p).st_mode & 0o777) for p in files} == {p.name: oct(want) for p in files}


def test_compile_trains_the_same_and_keeps_plain_checkpoints(tmp_path, monkeypatch):
    """--compile runs the step through torch.compile (dynamo's eager backend here, to skip the C++ build) and the
    run's files hold the plain model's keys, without torch.compile's ``_orig_mod.`` prefix."""
    import tslib.engine.parallel as parallel

    compiled, real = [], torch.compile

    def eager_compile(net):
        compiled.append(type(net).__name__)
        return real(net, backend="eager")

    monkeypatch.setattr(parallel.torch, "compile", eager_compile)
    loader = DataLoader(ColourBlobs(32, 0, augment=False), batch_size=8)
    results = {}
    for flag in (False, True):
        torch.manual_seed(0)
        model = tiny_cnn(dropout=0.0)
        fit(model, ClassificationTask(), loader, loader, cfg(epochs=2, compile=flag), tmp_path / str(flag))
        results[flag] = model.state_dict()
    assert compiled == ["Sequential"]
    for k, v in results[False].items():
        torch.testing.assert_close(results[True][k], v)
    saved = load_checkpoint(tmp_path / "True" / "last.pt", tiny_cnn())
    assert set(saved["model"]) == set(results[False]) and not any("_orig_mod" in k for k in saved["model"])
