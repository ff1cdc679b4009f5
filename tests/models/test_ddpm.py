"""The class-conditional diffusion model: shapes, the loss and its gradients, EMA, guidance arithmetic, sampler
options, determinism, a model that learns the class colours, and exact resume through the engine."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from tslib.engine import TrainConfig, fit
from tslib.models import create_model
from tslib.tasks.generate.sampling import check_sampler_options, interpolate_seeds, sample, slerp
from tslib.tasks.generate.task import DiffusionTask
from tslib.utils import seed_everything


def tiny(num_classes: int = 3, size: int = 16, **kw):
    return create_model("ddpm", num_classes, task="generate", img_size=size, width=8, levels=2, timesteps=50,
                        **kw)


@pytest.mark.parametrize("size", [16, 30, 32])
def test_shapes_gradients_and_frozen_ema(size):
    torch.manual_seed(0)
    model = tiny(size=size).train()
    loss = model.loss(torch.rand(2, 3, size, size), torch.tensor([0, 2]))
    loss.backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("unet.") for n in trainable)  # the EMA copy is never optimised
    assert not [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not model.ema.training  # the average only ever runs inference
    images = model.eval().sample(2, torch.tensor([0, 1]), steps=3)
    assert images.shape == (2, 3, size, size) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ValueError, match="expected 16x16"):
        tiny().loss(torch.rand(2, 3, 20, 20), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class indices in 0..2"):
        tiny().loss(torch.rand(2, 3, 16, 16), torch.tensor([0, 3]))


def test_min_snr_weighting_down_weighs_the_nearly_clean_timesteps():
    uniform, min_snr = tiny(), tiny(loss_weighting="min_snr", snr_gamma=5.0)
    t = torch.arange(50)
    assert torch.equal(uniform.loss_weights(t), torch.ones(50))
    w = min_snr.loss_weights(t)
    alpha_bar = min_snr.scheduler.alphas_cumprod[t].float()
    snr = alpha_bar / (1 - alpha_bar)
    torch.testing.assert_close(w, torch.minimum(snr, torch.tensor(5.0)) / (snr + 1))
    assert w[0] < 0.1 and w[-1] < 0.01 and w.max() <= 0.84  # clean steps weigh gamma / SNR, noisy SNR / (SNR + 1)
    # the same draws give the weighted mean of the same per-image errors
    x, y = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 0])
    min_snr.load_state_dict(uniform.state_dict())
    a = uniform.eval().loss(x, y, generator=torch.Generator().manual_seed(3))
    b = min_snr.eval().loss(x, y, generator=torch.Generator().manual_seed(3))
    assert 0 < b < a
    with pytest.raises(ValueError, match="loss_weighting"):
        tiny(loss_weighting="snr")


def test_ema_follows_the_weights_with_a_warm_up():
    model = tiny(ema_decay=0.999)
    ema, live = model.ema.module.conv_in.weight, model.unet.conv_in.weight
    assert torch.equal(ema, live)
    with torch.no_grad():
        live.add_(1.0)
    model.update_ema()  # first update copies (AveragedModel), the warm-up then keeps the average close
    assert torch.allclose(ema, live)
    with torch.no_grad():
        live.add_(1.0)
    model.update_ema()  # n=1: decay min(0.999, 2/11) -> moves 9/11 of the way
    assert torch.allclose(ema, live - 2 / 11, atol=1e-6)


def test_foreach_ema_gives_the_per_tensor_average():
    """The fused EMA update (one foreach call per dtype) equals the per-tensor formula it replaced, to 1e-6,
    over a warm-up and past it, with every tensor of the UNet moving."""
    from torch.optim.swa_utils import AveragedModel

    def per_tensor(decay):
        def avg(averaged, current, n):
            d = torch.clamp((1 + n.float()) / (10 + n.float()), max=decay).to(averaged.dtype)
            return averaged + (current - averaged) * (1 - d)
        return avg

    torch.manual_seed(0)
    model = tiny(ema_decay=0.5)
    reference = AveragedModel(model.unet, avg_fn=per_tensor(0.5), use_buffers=True)
    gen = torch.Generator().manual_seed(3)
    for _ in range(25):  # the warm-up ends at n = 9 ((1 + n) / (10 + n) > 0.5): both regimes are compared
        with torch.no_grad():
            for p in model.unet.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        model.update_ema()
        reference.update_parameters(model.unet)
    pairs = list(zip(model.ema.module.state_dict().values(), reference.module.state_dict().values()))
    assert len(pairs) > 50
    assert max(float((a - b).abs().max()) for a, b in pairs) < 1e-6
    assert int(model.ema.n_averaged) == int(reference.n_averaged) == 25


def test_guidance_mixes_the_conditional_and_unconditional_predictions():
    torch.manual_seed(0)
    model = tiny().eval()
    with torch.no_grad():  # a class embedding that matters, so the three predictions differ
        model.ema.module.class_embedding.weight.normal_(0, 3)
    z = model.prior(2, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1])
    plain = model.decode(z, labels, steps=4, guidance=1.0)
    uncond = model.decode(z, None, steps=4)
    assert torch.allclose(model.decode(z, labels, steps=4, guidance=0.0), uncond, atol=1e-5)
    assert not torch.allclose(plain, uncond, atol=1e-3)
    assert not torch.allclose(model.decode(z, labels, steps=4, guidance=4.0), plain, atol=1e-3)
    # deterministic: the same noise gives the same images, with either sampler
    for sampler in ("ddim", "dpm"):
        a, b = (model.decode(z, labels, steps=4, sampler=sampler) for _ in range(2))
        assert torch.equal(a, b)
    steps = [s for s, _ in model.trajectory(z, labels, keep=3, steps=5)]
    assert steps == [1, 3, 5]
    assert torch.allclose(model.trajectory(z, labels, keep=2, steps=5)[-1][1], model.decode(z, labels, steps=5))


def test_sampler_options_are_checked():
    model = tiny().eval()
    for opts, needle in (({"steps": 0}, "steps must be 1..50"), ({"steps": 51}, "steps must be 1..50"),
                         ({"guidance": -1}, "guidance must be 0..50"), ({"sampler": "euler"}, "sampler must be")):
        with pytest.raises(ValueError, match=needle):
            model.decode(model.prior(1), torch.tensor([0]), **opts)
    vae = create_model("vae", task="generate", img_size=16, latent_dim=4, width=4)
    with pytest.raises(ValueError, match="--guidance does not apply to this ConvVAE generator"):
        check_sampler_options(vae, {"guidance": 2.0, "steps": None})
    assert check_sampler_options(model, {"steps": 3, "guidance": None}) == {"steps": 3}


def test_seed_interpolation_ends_at_the_two_seeds_samples():
    model = tiny().eval()
    info = {"classes": ["a", "b", "c"], "config": {"model": "ddpm"}}
    strip = interpolate_seeds(model, info, 3, 7, frames=4, class_name="b", steps=3)
    ends = [sample(model, info, 1, "b", seed=s, steps=3)[0][0] for s in (3, 7)]
    assert strip.shape == (4, 3, 16, 16)
    assert torch.allclose(strip[0], ends[0], atol=1e-5) and torch.allclose(strip[-1], ends[1], atol=1e-5)
    a, b = torch.randn(1, 64), torch.randn(1, 64)
    mid = slerp(a, b, torch.tensor([0.5]))
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 0.2 * a.norm()  # no norm collapse halfway


def _colour_loaders(n: int = 48, size: int = 16):
    """Class 0 red, class 1 blue, class 2 green images with a little noise: what 'the class' means is obvious."""
    g = torch.Generator().manual_seed(0)
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.1, 0.9], [0.1, 0.8, 0.1]])
    data = [{"image": (colours[i % 3][:, None, None] + 0.05 * torch.randn(3, size, size, generator=g)).clamp(0, 1),
             "label": torch.tensor(i % 3)} for i in range(n)]
    return (DataLoader(data, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(1)),
            DataLoader(data[:12], batch_size=12))


def test_ddpm_learns_the_colour_of_each_class(tmp_path):
    seed_everything(0)
    model = tiny(size=16, ema_decay=0.9)
    result = fit(model, DiffusionTask(), *_colour_loaders(), TrainConfig(epochs=40, lr=3e-3, schedule="none",
                                                                         progress=False, device="cpu"), tmp_path)
    losses = [r["train_loss"] for r in result.history]
    assert min(losses[-5:]) < 0.6 * losses[0], losses
    info = {"classes": ["red", "blue", "green"]}
    means = torch.stack([sample(model, info, 6, c, seed=1, steps=20, guidance=1.0)[0].mean((0, 2, 3))
                         for c in info["classes"]])
    assert means.argmax(1).tolist() == [0, 2, 1], means  # each class's dominant channel: R, B, G


def test_diffusion_resume_equals_an_uninterrupted_run(tmp_path):
    config = TrainConfig(epochs=3, lr=1e-3, progress=False, device="cpu")
    seed_everything(0)
    full_model = tiny()
    full = fit(full_model, DiffusionTask(), *_colour_loaders(24), config, tmp_path / "full")

    def stop(info):
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    seed_everything(0)
    assert fit(tiny(), DiffusionTask(), *_colour_loaders(24), config, tmp_path / "cut",
               callbacks=[stop]).stop_reason == "interrupted"
    seed_everything(5)
    resumed_model = tiny()
    resumed = fit(resumed_model, DiffusionTask(), *_colour_loaders(24), config, tmp_path / "cut", resume=True)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in full.history]
    state = resumed_model.state_dict()
    assert any(k.startswith("ema.") for k in state)
    for k, v in full_model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_a_patched_model_runs_at_a_quarter_of_the_pixels_and_gives_full_size_images():
    torch.manual_seed(0)
    model = tiny(size=32, patch=2).train()
    assert model.unet.config.sample_size == 16 and model.unet.config.in_channels == 12
    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 2])
    model.loss(x, y).backward()
    assert all(p.grad is not None for p in model.unet.parameters() if p.requires_grad)
    images = model.eval().sample(2, y, steps=3)
    assert images.shape == (2, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    # folding is exact: pixel (2i + a, 2j + b) of channel c is channel 4c + 2a + b of the folded grid
    v = torch.arange(2 * 3 * 32 * 32, dtype=torch.float).view(2, 3, 32, 32)
    assert torch.equal(model._predict(lambda f, t, class_labels: type("O", (), {"sample": f})(), v, None, y), v)
    with pytest.raises(ValueError, match="patch must be 1, 2 or 4"):
        tiny(patch=3)
