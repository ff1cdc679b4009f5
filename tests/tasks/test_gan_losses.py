"""GANTask's choices: bce or hinge loss, several D steps per G step, a D:G learning-rate ratio; both networks step,
resume is exact, old run folders keep today's behaviour, and a tiny projected GAN trains end to end."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.engine import StepContext, TrainConfig, fit, load_checkpoint
from tslib.models import create_model
from tslib.tasks.generate import GenerateConfig, load_generator, sample, train_generator
from tslib.tasks.generate.task import GANTask, d_loss, g_loss
from tslib.tasks.generate.train import make_task
from tslib.utils import seed_everything


def _loaders(n: int = 24, size: int = 16):
    g = torch.Generator().manual_seed(0)
    data = [{"image": torch.rand(3, size, size, generator=g), "label": torch.tensor(i % 3)} for i in range(n)]
    train = DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    return train, DataLoader(data[:8], batch_size=8)


def _build(name: str):
    if name == "dcgan":
        return create_model("dcgan", task="generate", img_size=16, latent_dim=8, width=4, num_classes=3)
    return create_model("projected_gan", task="generate", img_size=16, latent_dim=8, width=4, d_width=4,
                        num_classes=3)


def test_losses_by_hand():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    assert d_loss("hinge", real, fake) == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert g_loss("hinge", fake) == pytest.approx(1.5)
    bce = -(0.9 * F.logsigmoid(real) + 0.1 * F.logsigmoid(-real)).mean() - F.logsigmoid(-fake).mean()
    assert d_loss("bce", real, fake, 0.9) == pytest.approx(float(bce))
    assert g_loss("bce", fake) == pytest.approx(float(-F.logsigmoid(fake).mean()))
    for bad in ({"loss": "wgan"}, {"d_steps": 0}, {"d_lr_ratio": 0.0}):
        with pytest.raises(ValueError, match="bad GAN settings"):
            GANTask(**bad)


@pytest.mark.parametrize("name", ["dcgan", "projected_gan"])
def test_hinge_with_two_d_steps_and_ttur_steps_both_networks(name):
    seed_everything(0)
    model = _build(name)
    task = GANTask(lr=1e-3, loss="hinge", d_steps=2, d_lr_ratio=4.0)
    optim = task.configure_optimizers(model, TrainConfig(schedule="cosine", epochs=2), 3)
    ctx = StepContext(optim, torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"), None, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs = task.training_step(model.train(), next(iter(_loaders()[0])), ctx)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"generator", "discriminator"} and all(torch.isfinite(v) for v in logs.values())
    steps = {k: max(int(s["step"]) for s in o.state.values()) for k, o in optim.optimizers.items()}
    assert steps == {"d": 2, "g": 1}  # two D updates per G update
    assert optim.optimizers["d"].param_groups[0]["initial_lr"] == pytest.approx(4e-3)  # TTUR: 4 x G's 1e-3
    # D's cosine schedule counts its own (twice as many) steps, so both stay at the same point of the run.
    lr_d, lr_g = (optim.optimizers[k].param_groups[0]["lr"] for k in ("d", "g"))
    assert lr_g < 1e-3 and lr_d == pytest.approx(4 * lr_g)


@pytest.mark.parametrize("name", ["dcgan", "projected_gan"])
def test_hinge_d_steps_resume_equals_an_uninterrupted_run(tmp_path, name):
    config = TrainConfig(epochs=2, progress=False, device="cpu")

    def task():
        return GANTask(1e-3, loss="hinge", d_steps=2, d_lr_ratio=2.0)

    seed_everything(0)
    full_model = _build(name)
    full = fit(full_model, task(), *_loaders(), config, tmp_path / "full")

    def stop(info):
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    seed_everything(0)
    assert fit(_build(name), task(), *_loaders(), config, tmp_path / "cut", callbacks=[stop]).stop_reason \
        == "interrupted"
    seed_everything(5)  # another process: other init and RNG state
    resumed_model = _build(name)
    resumed = fit(resumed_model, task(), *_loaders(), config, tmp_path / "cut", resume=True)
    assert [r["train_loss_d"] for r in resumed.history] == [r["train_loss_d"] for r in full.history]
    for k, v in full_model.state_dict().items():
        assert torch.equal(v, resumed_model.state_dict()[k]), k
    state = load_checkpoint(tmp_path / "cut" / "last.pt")["optimizer"]
    assert set(state) == {"d", "g"} and state["d"]["param_groups"][0]["initial_lr"] == pytest.approx(2e-3)


def test_config_defaults_and_old_run_json_files():
    old = {"manifest": "m", "model": "dcgan", "conditional": True, "gan_lr": 1e-4, "real_label": 0.8}  # pre-16
    cfg = GenerateConfig.from_dict(GenerateConfig.saved_defaults(dict(old)))  # as a run folder is read back
    task = make_task(cfg)
    assert (task.loss, task.d_steps, task.d_lr_ratio, task.lr, task.real_label) == ("bce", 1, 1.0, 1e-4, 0.8)
    assert cfg.model_kwargs(7)["upsample"] == "transposed"  # what it was trained with
    new = GenerateConfig.from_dict(old)  # a new run: today's defaults
    assert make_task(new).loss == "hinge" and new.model_kwargs(7)["upsample"] == "resize"
    pg = GenerateConfig(manifest="m", model="projected_gan")
    assert pg.is_gan and pg.is_conditional and make_task(pg).loss == "hinge"
    kw = pg.model_kwargs(7)
    assert kw["num_classes"] == 7 and kw["pretrained"] is True
    explicit = GenerateConfig(manifest="m", model="dcgan", gan_loss="bce", d_steps=3, d_lr_ratio=4)
    assert (make_task(explicit).loss, make_task(explicit).d_steps) == ("bce", 3)
    for bad in ({"d_steps": 0}, {"gan_loss": "wgan"}, {"d_lr_ratio": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GenerateConfig(manifest="m", model="dcgan", **bad)


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    root = tmp_path_factory.mktemp("easy")
    write_procedural(root / "data", per_class=12, size=32, seed=2, difficulty="easy")
    prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape", progress=False)
    return root / "prep"


def test_a_dcgan_run_from_before_the_new_defaults_resumes_as_it_was_trained(easy, tmp_path):
    """A run folder written before dcgan defaulted to resize-convs + hinge (its run.json has neither setting)
    resumes, as `train --resume` does, with the transposed generator its checkpoint holds and BCE; a config with
    today's defaults is refused with one clear error instead of rebuilding another generator."""
    from tslib.engine import runs
    from tslib.errors import RunFolderError, TrainingInterrupted

    cfg = GenerateConfig(manifest=str(easy), model="dcgan", conditional=True, img_size=16, width=4, latent_dim=8,
                         limit_per_class=4, eval_samples=8, upsample="transposed", gan_loss="bce",
                         train=TrainConfig(epochs=2, batch_size=8, num_workers=0, progress=False))

    def stop(info):
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train_generator(cfg, tmp_path / "old", callbacks=[stop])
    info_path = tmp_path / "old" / "run.json"
    info = json.loads(info_path.read_text())
    for key in ("upsample", "gan_loss", "d_steps", "d_lr_ratio"):  # settings that did not exist then
        del info["config"][key]
    del info["model"]["kwargs"]["upsample"]
    info_path.write_text(json.dumps(info))
    today = GenerateConfig.from_dict(info["config"])
    assert make_task(today).loss == "hinge" and today.model_kwargs(7)["upsample"] == "resize"
    with pytest.raises(RunFolderError, match="another config"):
        train_generator(today, tmp_path / "old", resume=True)
    saved = runs.load_config(tmp_path / "old", GenerateConfig)  # what `train --resume RUN` trains with
    assert (saved.upsample, make_task(saved).loss) == ("transposed", "bce")
    train_generator(saved, tmp_path / "old", resume=True)
    model, _ = load_generator(tmp_path / "old")
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.generator.modules())
    assert len((tmp_path / "old" / "history.csv").read_text().splitlines()) == 3


def test_a_tiny_projected_gan_trains_end_to_end(easy, tmp_path):
    cfg = GenerateConfig(manifest=str(easy), model="projected_gan", img_size=32, width=8,
                         latent_dim=16, limit_per_class=8, eval_samples=16,
                         train=TrainConfig(epochs=2, batch_size=16, num_workers=0, progress=False))
    metrics = train_generator(cfg, tmp_path / "pg")
    assert metrics["test"]["fid"] > 0 and metrics["test"]["feature_space"] == "Lite0 ImageNet features"
    info = json.loads((tmp_path / "pg" / "run.json").read_text())
    assert info["conditional"] and info["model"]["name"] == "projected_gan"
    assert "pretrained" not in info["model"]["kwargs"]  # the rebuild restores every weight from model.pt
    history = (tmp_path / "pg" / "history.csv").read_text().splitlines()
    head, last = history[0].split(","), dict(zip(history[0].split(","), history[-1].split(",")))
    assert len(history) == 3 and {"lr_d", "lr_g", "val_d_real", "val_d_fake"} <= set(head)
    assert float(last["val_d_real"]) > float(last["val_d_fake"])  # D tells real from generated after 2 epochs
    model, run_info = load_generator(tmp_path / "pg")  # built from the spec, no pretrained weights read
    images, labels = sample(model, run_info, 7, seed=0)
    assert images.shape == (7, 3, 32, 32) and labels.tolist() == list(range(7))
    assert torch.isfinite(images).all() and 0 <= images.min() and images.max() <= 1
