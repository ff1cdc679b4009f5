"""A task that owns its optimisation step: two parameter groups, two optimizers, two schedulers (a GAN's shape).

The engine must train it, checkpoint every optimizer and scheduler, and resume to exactly the weights of an
uninterrupted run.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tslib.engine import Optimization, TrainConfig, build_scheduler, fit, load_checkpoint
from tslib.utils import seed_everything


class TwoPart(nn.Module):
    """``first`` maps x to features (with dropout: RNG that resume must restore); ``second`` reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
        self.second = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))


class TwoStepTask:
    """Update ``first`` on its own loss, then ``second`` on the detached output, like D-then-G."""

    monitor = "val_loss"
    mode = "min"

    def configure_optimizers(self, model, config: TrainConfig, steps_per_epoch: int, param_groups=None):
        opt_a = torch.optim.AdamW(model.first.parameters(), lr=config.lr)
        opt_b = torch.optim.SGD(model.second.parameters(), lr=config.lr * 5, momentum=0.9)
        return Optimization({"first": opt_a, "second": opt_b},
                            {"first": build_scheduler(opt_a, config, steps_per_epoch),
                             "second": torch.optim.lr_scheduler.StepLR(opt_b, step_size=3, gamma=0.5)})

    def training_step(self, model, batch, ctx):
        x, y1, y2 = batch
        with ctx.autocast():
            h = model.first(x)
            loss_a = F.mse_loss(h.float(), y1)
        ctx.step("first", loss_a)
        with ctx.autocast():
            loss_b = F.mse_loss(model.second(h.detach()).float(), y2)
        ctx.step("second", loss_b)
        return {"loss": loss_a + loss_b, "loss_first": loss_a, "loss_second": loss_b}

    @torch.no_grad()
    def evaluate(self, model, loader, device):
        total, n = 0.0, 0
        for x, y1, y2 in loader:
            h = model.first(x)
            total += (F.mse_loss(h, y1, reduction="sum") + F.mse_loss(model.second(h), y2, reduction="sum")).item()
            n += len(x)
        return {"val_loss": total / n}


def _data(seed: int, n: int = 96) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y1 = torch.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], 1)
    y2 = (y1[:, :1] * y1[:, 1:]).tanh()
    return TensorDataset(x, y1, y2)


def _loaders(loader_seed: int = 7):
    train = DataLoader(_data(1), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(loader_seed))
    return train, DataLoader(_data(2, 48), batch_size=48)


CFG = TrainConfig(epochs=4, lr=2e-2, progress=False, device="cpu", schedule="cosine")


def test_two_optimizers_train_and_are_checkpointed(tmp_path):
    seed_everything(0)
    result = fit(TwoPart(), TwoStepTask(), *_loaders(), CFG, tmp_path)
    h = result.history
    assert result.stop_reason == "finished" and len(h) == 4
    assert h[-1]["train_loss_first"] < h[0]["train_loss_first"] / 2
    assert h[-1]["train_loss_second"] < h[0]["train_loss_second"]
    assert {"lr_first", "lr_second"} <= set(h[0]) and h[-1]["lr_second"] < h[0]["lr_second"]  # StepLR halved
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert set(ckpt["optimizer"]) == {"first", "second"} and set(ckpt["scheduler"]) == {"first", "second"}
    assert ckpt["optimizer"]["second"]["param_groups"][0]["momentum"] == 0.9
    assert ckpt["optimizer"]["first"]["state"][0]["step"] == 4 * 6  # 6 batches per epoch


def test_two_optimizers_resume_exactly(tmp_path):
    seed_everything(0)
    full_model = TwoPart()
    full = fit(full_model, TwoStepTask(), *_loaders(), CFG, tmp_path / "full")

    def stop_after_2(info):
        if info["epoch"] == 2:
            raise KeyboardInterrupt

    seed_everything(0)
    cut = fit(TwoPart(), TwoStepTask(), *_loaders(), CFG, tmp_path / "cut", callbacks=[stop_after_2])
    assert cut.stop_reason == "interrupted" and len(cut.history) == 2

    seed_everything(123)  # a new process: other init, other RNG state, other loader seed
    torch.rand(7)
    resumed_model = TwoPart()
    resumed = fit(resumed_model, TwoStepTask(), *_loaders(loader_seed=99), CFG, tmp_path / "cut", resume=True)
    assert resumed.stop_reason == "finished"
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in full.history]
    for name, value in full_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    for opt in ("first", "second"):
        sa, sb = a["optimizer"][opt]["state"], b["optimizer"][opt]["state"]
        assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i] if torch.is_tensor(sa[i][k]))
    assert a["scheduler"] == b["scheduler"]


class NoMonitor(TwoStepTask):
    monitor = None  # e.g. a GAN, whose losses say little about sample quality


def test_without_a_monitor_the_last_epoch_is_best(tmp_path):
    seed_everything(0)
    result = fit(TwoPart(), NoMonitor(), *_loaders(), TrainConfig(epochs=2, progress=False), tmp_path)
    assert result.stop_reason == "finished" and result.best_metric is None
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 2
    with pytest.raises(ValueError, match="patience"):
        fit(TwoPart(), NoMonitor(), *_loaders(), TrainConfig(epochs=2, patience=1, progress=False), tmp_path / "p")


def test_flip_tta_flips_dense_predictions_back():
    from tslib.engine import flip_tta

    x = torch.arange(24.0).reshape(1, 2, 3, 4)
    assert torch.equal(flip_tta(lambda t: t, x, dense=True), x)  # a per-pixel identity stays aligned
    assert torch.equal(flip_tta(lambda t: t, x), (x + x.flip(-1)) / 2)
    assert torch.equal(flip_tta(lambda t: t.sum((1, 2, 3)), x), x.sum((1, 2, 3)))  # global outputs unchanged
