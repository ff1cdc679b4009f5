"""The generators: shapes at 64/128/150 px, gradients everywhere, the VAE loss and its pieces by hand."""

from __future__ import annotations

import pytest
import torch

from tslib.models import create_model, list_models
from tslib.models.autoencoder import kl_divergence, reparameterize
from tslib.models.shapes import center_crop, pad_to, round_up
from tslib.tasks.generate.task import vae_terms

CASES = [("ae", {}), ("vae", {}), ("cvae", {"num_classes": 7}), ("dcgan", {}), ("dcgan", {"num_classes": 7})]


def test_generators_are_registered_under_generate():
    assert list_models("generate") == ["ae", "cvae", "dcgan", "ddpm", "projected_gan", "vae"]
    with pytest.raises(ValueError, match="unknown model 'vae' for task classify"):
        create_model("vae", task="classify")


@pytest.mark.parametrize("size", [64, 128, 150])
@pytest.mark.parametrize("name,kw", CASES, ids=["ae", "vae", "cvae", "dcgan", "cdcgan"])
def test_shapes_and_gradients(name, kw, size):
    torch.manual_seed(0)
    model = create_model(name, task="generate", img_size=size, latent_dim=8, width=4, **kw).train()
    x, labels = torch.rand(2, 3, size, size), torch.tensor([1, 5])
    lab = labels if kw else None
    if name == "dcgan":
        fake = model.decode(model.prior(2), lab)
        assert fake.shape == x.shape and 0 <= fake.min() and fake.max() <= 1
        loss = model.discriminate(fake, lab).sum() + model.discriminate(x, lab).sum()
    else:
        out = model.reconstruct(x, lab)
        assert out["recon"].shape == x.shape and out["z"].shape == (2, 8)
        terms = vae_terms(out, x)
        loss = terms["recon"] + terms["kl"]
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing
    gen = torch.Generator().manual_seed(3)
    samples = model.eval().sample(3, None if lab is None else labels[:1].repeat(3), generator=gen)
    assert samples.shape == (3, 3, size, size)
    again = model.sample(3, None if lab is None else labels[:1].repeat(3), generator=torch.Generator().manual_seed(3))
    assert torch.equal(samples, again)  # same seed, same images


def test_conditional_models_need_labels():
    for name, kw in CASES[2::2]:
        model = create_model(name, task="generate", img_size=32, latent_dim=4, width=4, **kw)
        with pytest.raises(ValueError, match="class-conditional"):
            model.sample(2)


def test_vae_loss_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]]).expand(2, 3, 2, 2).clone()
    recon = torch.full_like(x, 0.5)
    mu = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    logvar = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    terms = vae_terms({"recon": recon, "mu": mu, "logvar": logvar}, x)
    # per image: 3 channels x (0.25 + 0.25 + 0 + 0.0625) = 1.6875; mean over 12 pixels = 0.140625
    assert terms["recon"].item() == pytest.approx(1.6875)
    assert terms["recon_mse"].item() == pytest.approx(0.140625)
    # KL = 0.5 * sum(mu^2 + e^logvar - 1 - logvar): image 1 -> 0.5; image 2 -> 0.5*(e - 2) + 2; mean of the two
    expected = (0.5 + 0.5 * (torch.e - 2) + 2.0) / 2
    assert terms["kl"].item() == pytest.approx(expected, rel=1e-6)
    assert kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3)).item() == 0.0


def test_reparameterisation_is_seeded_and_differentiable():
    mu, logvar = torch.zeros(3, 5, requires_grad=True), torch.zeros(3, 5, requires_grad=True)
    torch.manual_seed(1)
    a = reparameterize(mu, logvar)
    torch.manual_seed(1)
    b = reparameterize(mu, logvar)
    assert torch.equal(a, b) and a.std() > 0.3
    (a * torch.arange(5.0)).sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_pad_and_crop_round_trip():
    x = torch.rand(1, 3, 150, 150)
    padded = pad_to(x, round_up(150, 8), round_up(150, 8))
    assert padded.shape[-2:] == (152, 152) and torch.equal(center_crop(padded, 150, 150), x)
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(x, 200, 150)
