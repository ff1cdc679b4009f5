"""What a generator batch means to the engine: reconstruction (+ KL) for the autoencoders, D-then-G for DCGAN."""

from __future__ import annotations

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
    return batch["label"] if getattr(model, "conditional", False) else None


def vae_terms(out: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
    """Reconstruction error summed per image (the study's loss) and per pixel, and the KL term (0 for an AE)."""
    err = (out["recon"].float() - x.float()).pow(2)
    recon = err.flatten(1).sum(1).mean()
    kl = kl_divergence(out["mu"], out["logvar"]) if "mu" in out else torch.zeros((), device=x.device)
    return {"recon": recon, "recon_mse": err.mean(), "kl": kl}


class ReconstructionTask(SupervisedTask):
    """AE / VAE / cVAE: loss = reconstruction (sum per image) + beta x KL, beta warming up over ``warmup`` epochs."""

    monitor = "val_loss"
    mode = "min"

    def __init__(self, beta: float = 1.0, warmup: float = 0.0) -> None:
        self.beta, self.warmup = beta, warmup

    def beta_at(self, progress: float) -> float:
        return self.beta if self.warmup <= 0 else self.beta * min(1.0, progress / self.warmup)

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> dict:
        x = batch["image"]
        with ctx.autocast():
            out = model(x, _labels(model, batch))
        terms = vae_terms(out, x)
        beta = self.beta_at(ctx.progress)
        loss = terms["recon"] + beta * terms["kl"]
        ctx.step("model", loss)
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}, "beta": beta}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        sums = {"recon": 0.0, "recon_mse": 0.0, "kl": 0.0}
        n = 0
        for batch in loader:
            batch = to_device(batch, device)
            terms = vae_terms(model(batch["image"], _labels(model, batch)), batch["image"])
            k = len(batch["image"])
            for key in sums:
                sums[key] += float(terms[key]) * k
            n += k
        *totals, n = sum_over_processes(torch.tensor([*sums.values(), n], dtype=torch.float64), device).tolist()
        if n == 0:
            raise ValueError("validation loader is empty")
        m = {f"val_{k}": v / n for k, v in zip(sums, totals)}
        return {"val_loss": m["val_recon"] + self.beta * m["val_kl"], **m}


class GANTask:
    """DCGAN: update D on real (label ``real_label``, one-sided smoothing) and fake, then G to fool D.

    Two Adam optimizers (betas 0.5/0.999) and two schedulers, all checkpointed by the engine. No monitor: GAN
    losses say little about sample quality, so the last epoch is kept (FID judges the samples afterwards).
    """

    monitor = None
    mode = "min"

    def __init__(self, lr: float = 2e-4, real_label: float = 0.9) -> None:
        self.lr, self.real_label = lr, real_label

    def configure_optimizers(self, model: nn.Module, config: TrainConfig, steps_per_epoch: int,
                             param_groups: list[dict] | None = None) -> Optimization:
        opts = {name: torch.optim.Adam(getattr(model, net).parameters(), lr=self.lr, betas=(0.5, 0.999))
                for name, net in (("d", "discriminator"), ("g", "generator"))}
        return Optimization(opts, {k: build_scheduler(o, config, steps_per_epoch) for k, o in opts.items()})

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> dict:
        real, labels = batch["image"], _labels(model, batch)
        z = model.prior(len(real))
        with ctx.autocast():
            fake = model.decode(z, labels)
            d_real, d_fake = model.discriminate(real, labels).float(), model.discriminate(fake.detach(), labels).float()
            loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, self.real_label))
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        ctx.step("d", loss_d)
        with ctx.autocast():
            g_out = model.discriminate(fake, labels).float()
            loss_g = F.binary_cross_entropy_with_logits(g_out, torch.ones_like(g_out))
        ctx.step("g", loss_g)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": torch.sigmoid(d_real).mean().detach(), "d_fake": torch.sigmoid(d_fake).mean().detach()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        """Mean D(real) on the val images and D(G(z)) on as many samples from a fixed seed."""
        gen = torch.Generator().manual_seed(0)  # never the global RNG: resume must see the same draws
        real_p, fake_p, n = 0.0, 0.0, 0
        for batch in loader:
            batch = to_device(batch, device)
            labels = _labels(model, batch)
            z = model.prior(len(batch["image"]), generator=gen)
            real_p += torch.sigmoid(model.discriminate(batch["image"], labels).float()).sum().item()
            fake_p += torch.sigmoid(model.discriminate(model.decode(z, labels), labels).float()).sum().item()
            n += len(batch["image"])
        real_p, fake_p, n = sum_over_processes(torch.tensor([real_p, fake_p, n], dtype=torch.float64), device).tolist()
        if n == 0:
            raise ValueError("validation loader is empty")
        return {"val_d_real": real_p / n, "val_d_fake": fake_p / n}
