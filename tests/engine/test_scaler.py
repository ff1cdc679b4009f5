"""The loss-scaler protocol under fp16 (an enabled ``torch.amp.GradScaler``, which works on CPU): several steps of
one optimizer per batch (a GAN's ``--d-steps 2``), an overflow skipped once, and a whole engine run."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

import tslib.tasks.generate.task as gan_task
from tslib.engine import TrainConfig, fit
from tslib.engine.optim import StepContext
from tslib.models import create_model
from tslib.tasks.generate.task import GANTask

INIT_SCALE = 2.0 ** 10


def _gan():
    torch.manual_seed(0)
    return create_model("dcgan", task="generate", img_size=16, latent_dim=8, width=8, num_classes=3)


def _batch(n=8):
    g = torch.Generator().manual_seed(1)
    return {"image": torch.rand(n, 3, 16, 16, generator=g), "label": torch.arange(n) % 3}


def _steps(optimizer) -> int:
    return max(int(s["step"]) for s in optimizer.state.values()) if optimizer.state else 0


def test_two_d_steps_with_an_enabled_scaler_and_one_overflow(monkeypatch):
    model = _gan()
    task = GANTask(loss="hinge", d_steps=2)
    optim = task.configure_optimizers(model, TrainConfig(schedule="none"), steps_per_epoch=4)
    scaler = torch.amp.GradScaler("cpu", init_scale=INIT_SCALE, enabled=True)
    ctx = StepContext(optim, scaler, torch.device("cpu"), None, grad_clip=1.0)
    calls = {"n": 0}
    real_d_loss = gan_task.d_loss

    def overflow_once(*args, **kw):  # the first D loss is inf: its gradients overflow, its step must be skipped
        calls["n"] += 1
        loss = real_d_loss(*args, **kw)
        return loss * float("inf") if calls["n"] == 1 else loss

    monkeypatch.setattr(gan_task, "d_loss", overflow_once)
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    logs = task.training_step(model, _batch(), ctx)
    ctx.end_batch()
    assert calls["n"] == 2 and torch.isfinite(logs["loss_g"])
    # round 1 (D, overflowed): skipped, scale backed off; round 2 (D again, then G): both stepped
    assert scaler.get_scale() == INIT_SCALE * 0.5
    assert _steps(optim.optimizers["d"]) == 1 and _steps(optim.optimizers["g"]) == 1
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    task.training_step(model, _batch(), ctx)
    ctx.end_batch()
    assert _steps(optim.optimizers["d"]) == 3 and _steps(optim.optimizers["g"]) == 2
    assert scaler.get_scale() == INIT_SCALE * 0.5  # no new overflow, far from the growth interval
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_end_batch_without_a_step_is_a_no_op():
    model = _gan()
    optim = GANTask().configure_optimizers(model, TrainConfig(), steps_per_epoch=1)
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    StepContext(optim, scaler, torch.device("cpu"), None, None).end_batch()  # GradScaler.update() would assert


@pytest.mark.parametrize("d_steps", [1, 2])
def test_fit_trains_a_gan_with_an_enabled_scaler(tmp_path, monkeypatch, d_steps):
    """The engine's own loop under a loss scaler (as on an fp16 GPU): PyTorch refused a second D step before."""
    import tslib.engine.loop as loop

    made, real = [], torch.amp.GradScaler

    def enabled_scaler(device, enabled=False, **kw):
        made.append(real(device, init_scale=INIT_SCALE, enabled=True))
        return made[-1]

    monkeypatch.setattr(loop.torch.amp, "GradScaler", enabled_scaler)
    data = _batch(24)
    ds = [{"image": x, "label": y} for x, y in zip(data["image"], data["label"])]
    loader = DataLoader(ds, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    result = fit(_gan(), GANTask(loss="hinge", d_steps=d_steps), loader, None,
                 TrainConfig(epochs=2, lr=2e-4, schedule="none", progress=False, num_workers=0), tmp_path / "run")
    assert made and made[0].is_enabled() and result.stop_reason == "finished"
    assert all(row["train_loss_d"] == row["train_loss_d"] for row in result.history)  # finite, not NaN
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert saved["scaler"]["scale"] == made[0].get_scale()  # the scale is checkpointed for resume
