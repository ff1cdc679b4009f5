"""What a generator batch means to the engine: reconstruction (+ KL) for the autoencoders, D-then-G for the GANs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ...distributed import sum_over_processes
from ...engine.config import TrainConfig
from ...engine.loop import SupervisedTask
from ...engine.optim import Optimization, StepContext, build_scheduler
from ...models.autoencoder import kl_divergence
from ...utils import to_device


def _labels(model: nn.Module, batch: dict) -> Tensor | None:
    return batch["label"] if model.conditional else None


def log_images(model: nn.Module, loader: DataLoader, device: torch.device, n: int = 8) -> dict[str, Tensor]:
    """What ``--log tensorboard`` shows of a generator: ``n`` samples from a fixed seed (so epochs compare), one per
    class in turn when conditional, and for autoencoders the first val images over their reconstructions."""
    labels = (torch.arange(n) % model.num_classes).to(device) if model.conditional else None
    z = model.prior(n, generator=torch.Generator().manual_seed(0))
    shown = {"samples": model.decode(z, labels)}
    if model.can_encode:
        batch = to_device(next(iter(loader)), device)
        x, y = batch["image"][:n], _labels(model, batch)
        y = None if y is None else y[:n]
        shown["reconstructions"] = torch.cat([x, model.decode(model.encode(x, y), y)])
    return shown


def validation_means(loader: DataLoader, device: torch.device,
                     batch_means: Callable[[dict], dict[str, float]]) -> dict[str, float]:
    """Every task's validation: the image-weighted mean of ``batch_means(batch)`` over the loader, summed over
    torchrun's processes (each validates its share), so every process gets the single-process numbers."""
    sums: dict[str, float] = {}
    n = 0
    for batch in loader:
        batch = to_device(batch, device)
        k = len(batch["image"])
        for key, value in batch_means(batch).items():
            sums[key] = sums.get(key, 0.0) + value * k
        n += k
    *totals, n = sum_over_processes(torch.tensor([*sums.values(), n], dtype=torch.float64), device).tolist()
    if n == 0:
        raise ValueError("validation loader is empty")
    return {key: total / n for key, total in zip(sums, totals)}


def vae_terms(out: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
    """Reconstruction error summed per image (the study's loss) and per pixel, and the KL term (0 for an AE)."""
    err = (out["recon"].float() - x.float()).pow(2)
    recon = err.flatten(1).sum(1).mean()
    kl = kl_divergence(out["mu"], out["logvar"]) if "mu" in out else torch.zeros((), device=x.device)
    return {"recon": recon, "recon_mse": err.mean(), "kl": kl}


class ReconstructionTask(SupervisedTask):
    """AE / VAE / cVAE: loss = reconstruction (sum per image) + beta x KL, beta warming up over ``warmup`` epochs."""

    log_images = staticmethod(log_images)

    monitor = "val_loss"
    mode = "min"

    def __init__(self, beta: float = 1.0, warmup: float = 0.0) -> None:
        self.beta, self.warmup = beta, warmup

    def beta_at(self, progress: float) -> float:
        return self.beta if self.warmup <= 0 else self.beta * min(1.0, progress / self.warmup)

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> dict:
        x = batch["image"]
        with ctx.autocast():
            out = model.reconstruct(x, _labels(model, batch))
        terms = vae_terms(out, x)
        beta = self.beta_at(ctx.progress)
        loss = terms["recon"] + beta * terms["kl"]
        ctx.step("model", loss)
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}, "beta": beta}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        def batch_means(batch: dict) -> dict[str, float]:
            terms = vae_terms(model.reconstruct(batch["image"], _labels(model, batch)), batch["image"])
            return {f"val_{k}": float(terms[k]) for k in ("recon", "recon_mse", "kl")}

        m = validation_means(loader, device, batch_means)
        return {"val_loss": m["val_recon"] + self.beta * m["val_kl"], **m}


GAN_LOSSES = ("bce", "hinge")


def d_loss(kind: str, d_real: Tensor, d_fake: Tensor, real_label: float = 0.9) -> Tensor:
    """Discriminator loss on realness logits (any shape): ``bce`` with one-sided smoothing of the real target,
    or ``hinge`` (Lim & Ye 2017; the loss of SAGAN, BigGAN and Projected GAN), which has no target to smooth."""
    if kind == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    return (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))


def g_loss(kind: str, d_fake: Tensor) -> Tensor:
    """Generator loss: non-saturating BCE (log D(G(z)) up), or the hinge generator's -D(G(z))."""
    if kind == "hinge":
        return -d_fake.mean()
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def _per_image(logits: Tensor) -> Tensor:
    """sigmoid(logits) averaged over everything but the batch (patch or multi-scale discriminators)."""
    return torch.sigmoid(logits.float()).reshape(len(logits), -1).mean(1)


class GANTask:
    """DCGAN / projected GAN: ``d_steps`` updates of D on real and fake, then one of G to fool D.

    ``loss``: ``bce`` (non-saturating, real target ``real_label``: one-sided smoothing) or ``hinge``. Two Adam
    optimizers (betas 0.5/0.999), D's lr ``lr * d_lr_ratio`` (TTUR, Heusel et al. 2017), and two schedulers, all
    checkpointed by the engine. Each D step reuses the real batch and draws fresh latents. Frozen parameters
    (a projected GAN's feature network) get no optimizer state. No monitor: GAN losses say little about sample
    quality, so the last epoch is kept (FID judges the samples afterwards).
    """

    log_images = staticmethod(log_images)

    monitor = None
    mode = "min"

    def __init__(self, lr: float = 2e-4, real_label: float = 0.9, loss: str = "bce", d_steps: int = 1,
                 d_lr_ratio: float = 1.0) -> None:
        if loss not in GAN_LOSSES or d_steps < 1 or d_lr_ratio <= 0:
            raise ValueError(f"bad GAN settings: loss={loss!r} (one of {', '.join(GAN_LOSSES)}), "
                             f"d_steps={d_steps} (>= 1), d_lr_ratio={d_lr_ratio} (> 0)")
        self.lr, self.real_label, self.loss = lr, real_label, loss
        self.d_steps, self.d_lr_ratio = d_steps, d_lr_ratio

    def configure_optimizers(self, model: nn.Module, config: TrainConfig, steps_per_epoch: int,
                             param_groups: list[dict] | None = None) -> Optimization:
        lrs = {"d": self.lr * self.d_lr_ratio, "g": self.lr}
        opts = {name: torch.optim.Adam([p for p in getattr(model, net).parameters() if p.requires_grad],
                                       lr=lrs[name], betas=(0.5, 0.999))
                for name, net in (("d", "discriminator"), ("g", "generator"))}
        # D steps d_steps times per batch: its schedule counts its own steps, so both end together.
        steps = {"d": steps_per_epoch * self.d_steps, "g": steps_per_epoch}
        return Optimization(opts, {k: build_scheduler(o, config, steps[k]) for k, o in opts.items()})

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> dict:
        real, labels = batch["image"], _labels(model, batch)
        for i in range(self.d_steps):
            last = i == self.d_steps - 1
            z = model.prior(len(real))
            # Only the last D step's fakes also train G: the earlier ones need no graph through G.
            with ctx.autocast(), torch.set_grad_enabled(last):
                fake = model.decode(z, labels)
            with ctx.autocast():
                d_real = model.discriminate(real, labels).float()
                d_fake = model.discriminate(fake.detach(), labels).float()
                loss_d = d_loss(self.loss, d_real, d_fake, self.real_label)
            ctx.step("d", loss_d)
        with ctx.autocast():
            loss_g = g_loss(self.loss, model.discriminate(fake, labels).float())
        ctx.step("g", loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": _per_image(d_real).mean().detach(), "d_fake": _per_image(d_fake).mean().detach()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        """Mean D(real) on the val images and D(G(z)) on as many samples from a fixed seed."""
        gen = torch.Generator().manual_seed(0)  # never the global RNG: resume must see the same draws

        def batch_means(batch: dict) -> dict[str, float]:
            labels = _labels(model, batch)
            z = model.prior(len(batch["image"]), generator=gen)
            return {"val_d_real": _per_image(model.discriminate(batch["image"], labels)).mean().item(),
                    "val_d_fake": _per_image(model.discriminate(model.decode(z, labels), labels)).mean().item()}

        return validation_means(loader, device, batch_means)


class DiffusionTask(SupervisedTask):
    """DDPM: the model's noise-prediction loss, one optimizer, then the EMA weights follow the step.

    Validation scores the EMA weights on the same noise and timesteps every epoch (a fixed generator), so the
    curve moves only when the model does. No monitor: the last epoch's EMA weights sample best, however the
    (noisy) loss moves.
    """

    log_images = staticmethod(log_images)

    monitor = None
    mode = "min"

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> dict:
        with ctx.autocast():
            loss = model.loss(batch["image"], batch["label"])
        ctx.step("model", loss)
        model.update_ema()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        gen = torch.Generator().manual_seed(0)  # never the global RNG: resume must see the same draws
        return validation_means(loader, device, lambda batch: {"val_loss": float(model.loss(
            batch["image"], batch["label"], generator=gen, net=model.ema.module))})
