"""Projected GAN: shapes, what trains and what stays frozen, DiffAugment in training only, the pretrained Lite0
features, and a rebuilt model that needs no weights file."""

from __future__ import annotations

import pytest
import torch

from tslib.engine import StepContext, TrainConfig
from tslib.models import build_from_spec, create_model, load_lite0_imagenet
from tslib.models.diffaugment import diff_augment, rand_cutout, rand_translation
from tslib.tasks.generate.task import GANTask

SMALL = {"latent_dim": 8, "width": 4, "d_width": 4, "num_classes": 3}


def _model(size: int = 32, **kw):
    torch.manual_seed(0)
    return create_model("projected_gan", task="generate", img_size=size, **{**SMALL, **kw})


def _step(model, task: GANTask | None = None) -> dict:
    task = task or GANTask(lr=1e-3, loss="hinge")
    optim = task.configure_optimizers(model, TrainConfig(), 3)
    ctx = StepContext(optim, torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"), None, None)
    batch = {"image": torch.rand(4, 3, model.img_size, model.img_size), "label": torch.tensor([0, 1, 2, 1])}
    return {"logs": task.training_step(model.train(), batch, ctx), "optim": optim}


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_range(size):
    model = _model(size).eval()
    labels = torch.tensor([0, 2])
    fake = model.decode(model.prior(2), labels)
    assert fake.shape == (2, 3, size, size) and 0 <= fake.min() and fake.max() <= 1
    logits = model.discriminate(fake, labels)
    assert logits.ndim == 2 and logits.shape[0] == 2 and logits.shape[1] >= 4  # patches over four scales
    assert model.sample(3, torch.tensor([0, 1, 2])).shape == (3, 3, size, size) and model.conditional
    assert model.trained_against == ("efficientnet_lite0",)  # judges looking through Lite0 are not independent


def test_odd_sizes_are_cropped():
    model = _model(48).eval()
    assert model.decode(model.prior(1), torch.tensor([1])).shape == (1, 3, 48, 48)


def test_gradients_reach_the_generator_and_the_heads_only():
    model = _model().train()
    labels = torch.tensor([0, 1])
    model.discriminate(model.decode(model.prior(2), labels), labels).mean().backward()
    for name, p in model.named_parameters():
        frozen = name.startswith("discriminator.projector.")
        assert p.requires_grad != frozen, name
        if frozen:
            assert p.grad is None, name
        elif "embed" not in name and "gain" not in name and "bias.weight" not in name:  # class tables: rows used
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_a_step_trains_both_networks_and_leaves_the_features_alone():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = _step(model)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("generator.") for k in changed)
    assert any(k.startswith("discriminator.heads.") for k in changed)
    assert not [k for k in changed if k.startswith("discriminator.projector.")]  # weights and BN statistics
    d_params = {id(p) for g in out["optim"].optimizers["d"].param_groups for p in g["params"]}
    frozen = {id(p) for p in model.discriminator.projector.parameters()}
    assert frozen and not d_params & frozen  # no optimizer state for the frozen parts
    assert all(torch.isfinite(torch.as_tensor(v)) for v in out["logs"].values())


def test_frozen_features_stay_in_eval_mode():
    model = _model().train()
    assert model.training and model.generator.training and model.discriminator.heads.training
    assert not any(m.training for m in model.discriminator.projector.modules())
    bns = [m for m in model.discriminator.projector.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)


def test_diffaugment_only_in_training(monkeypatch):
    import tslib.models.projected_gan as pg

    seen = []
    monkeypatch.setattr(pg, "diff_augment", lambda x, policies: seen.append(x.shape) or diff_augment(x, policies))
    model = _model()
    x, labels = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    model.eval()
    assert torch.equal(model.discriminate(x, labels), model.discriminate(x, labels)) and not seen
    model.train()
    a, b = model.discriminate(x, labels), model.discriminate(x, labels)
    assert seen == [x.shape, x.shape]
    plain = _model(augment=False).train()
    c, d = plain.discriminate(x, labels), plain.discriminate(x, labels)
    assert len(seen) == 2
    # Spectral norm's power iteration moves train-mode logits a little; augmentation moves them far more.
    assert (a - b).abs().mean() > 10 * (c - d).abs().mean()


def test_labels_are_required():
    model = _model()
    with pytest.raises(ValueError, match="class-conditional: pass labels"):
        model.decode(model.prior(2))
    with pytest.raises(ValueError, match="class-conditional: pass labels"):
        model.discriminate(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        create_model("projected_gan", task="generate", img_size=32)
    with pytest.raises(ValueError, match="feature_size"):
        _model(feature_size=40)


def test_pretrained_features_and_a_rebuild_without_weights(monkeypatch):
    torch.manual_seed(0)
    model = create_model("projected_gan", task="generate", img_size=32, pretrained=True, **SMALL).eval()
    ref = load_lite0_imagenet()
    assert torch.equal(model.discriminator.projector.backbone.conv_stem.weight, ref.conv_stem.weight)
    assert "pretrained" not in model.spec["kwargs"]

    def no_weights(*args):
        raise AssertionError("a rebuilt model must not read the weights file")

    monkeypatch.setattr("tslib.models.lite.package_weights_path", no_weights)
    rebuilt = build_from_spec(model.spec)
    rebuilt.load_state_dict(model.state_dict())  # strict: frozen features and random mixing included
    rebuilt.eval()
    x, labels = torch.rand(2, 3, 32, 32), torch.tensor([0, 2])
    assert torch.equal(rebuilt.discriminate(x, labels), model.discriminate(x, labels))
    z = model.prior(2)
    assert torch.equal(rebuilt.decode(z, labels), model.decode(z, labels))


def test_diffaugment_ops():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    y = diff_augment(x * 2 - 1)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # differentiable: G gets gradients through it
    ones = torch.ones(64, 3, 16, 16)
    cut = rand_cutout(ones)
    zero = (cut == 0).float().mean((1, 2, 3))
    assert 0 < zero.min() and zero.max() <= 0.25 + 1e-6  # one square of half the side, clipped at the border
    moved = rand_translation(ones)
    assert torch.equal(moved[:, :, 2:-2, 2:-2], ones[:, :, 2:-2, 2:-2])  # shifts of at most 2 px fill the border
    assert (moved == 0).any()
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        diff_augment(x, ("rotate",))


def test_the_latent_reaches_every_batchnorm():
    """The collapse's cause: a latent fed only at the input faded layer by layer behind the class. Every
    conditional BN's scale and shift now take [z, embed(y)]: a gradient from each layer reaches z."""
    model = _model(32).train()
    z = model.prior(4).requires_grad_(True)
    labels = torch.tensor([0, 1, 2, 1])
    g = model.generator
    cond = torch.cat([z, g.embed(labels)], 1)
    for norm in g.norms:
        assert norm.gain.in_features == norm.bias.in_features == 2 * SMALL["latent_dim"]
        (grad,) = torch.autograd.grad(norm.gain(cond).sum() + norm.bias(cond).sum(), z)
        assert torch.count_nonzero(grad) == grad.numel()
    x = model.decode(z, labels)
    (grad,) = torch.autograd.grad(x.sum(), z)
    assert torch.count_nonzero(grad) == grad.numel()
    # features are never below 64 px (Lite0's deepest map would be 1x1 at 32 px)
    assert model.discriminator.feature_size == 64 and _model(96).discriminator.feature_size == 96


def test_a_file_from_before_the_hierarchical_latent_is_refused_in_one_line():
    model = _model(32)
    state = model.state_dict()
    for i, norm in enumerate(model.generator.norms):  # the old class-only embeddings: (classes, channels)
        c = norm.bn.num_features
        state[f"generator.norms.{i}.gain.weight"] = torch.zeros(SMALL["num_classes"], c)
        state[f"generator.norms.{i}.bias.weight"] = torch.zeros(SMALL["num_classes"], c)
    with pytest.raises(ValueError, match="trained before tslib 0.3 .* train it again"):
        _model(32).load_state_dict(state)
