"""Using a trained generator: samples (per class, seeded, with a temperature), reconstructions, latent
interpolations, and PNG files plus a grid."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.utils import make_grid, save_image

from ...data.imageio import load_rgb
from ...data.transforms import generation_transform
from ...errors import check_out_dir
from .. import load_run


def load_generator(run_dir: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """The trained generator of a run folder (eval mode) and its run info (classes, image size, ...)."""
    return load_run(run_dir, "generate", device)


def class_labels(info: dict, n: int, class_name: str | None = None, conditional: bool = True) -> Tensor | None:
    """Labels for ``n`` samples: all ``class_name``, or the classes in turn; None for unconditional models."""
    classes = info["classes"]
    if not conditional:
        if class_name is not None:
            raise ValueError(f"--class needs a conditional model (cvae, or dcgan --conditional); this is "
                             f"{info['config']['model']}")
        return None
    if class_name is None:
        return torch.arange(n) % len(classes)
    if class_name not in classes:
        raise ValueError(f"unknown class {class_name!r}; this generator knows {', '.join(classes)}")
    return torch.full((n,), classes.index(class_name))


def check_sampler_options(model: nn.Module, opts: dict) -> dict:
    """The sampler options given (None values dropped), or a clear error when this generator takes none of them
    (the generator contract's :meth:`~tslib.models.generator.Generator.check_options`)."""
    return model.check_options(opts)


@torch.no_grad()
def sample(model: nn.Module, info: dict, n: int = 64, class_name: str | None = None, seed: int = 0,
           temperature: float = 1.0, chunk: int = 256, progress: bool = False, **opts) -> tuple[Tensor, Tensor | None]:
    """``n`` images in [0, 1] and the labels asked for; the same seed gives the same images. ``opts``: sampler
    options of diffusion models (``steps``, ``guidance``, ``sampler``; None = the run's default); ``progress``
    shows a bar over their denoising steps."""
    if n < 1 or temperature <= 0:
        raise ValueError(f"need n >= 1 and temperature > 0, got n={n}, temperature={temperature}")
    opts = check_sampler_options(model, opts)
    if progress and model.sampler_options:  # iterative samplers only: one pass needs no bar
        opts["progress"] = True
    model.eval()
    device = next(model.parameters()).device
    labels = class_labels(info, n, class_name, model.conditional)
    gen = torch.Generator().manual_seed(seed)
    # Every latent is drawn first, then decoded in chunks (eval mode: no batch statistics), so memory stays
    # bounded for a large n and a seed gives the same images whatever the chunk size (to float rounding).
    z = model.prior(n, temperature, gen)
    images = torch.cat([model.decode(z[i:i + chunk], None if labels is None else labels[i:i + chunk].to(device),
                                     **opts).float().clamp(0, 1).cpu() for i in range(0, n, chunk)])
    return images, labels


def sample_classes(model: nn.Module, info: dict, labels: Tensor, seed: int = 0,
                   temperature: float = 1.0, **opts) -> tuple[Tensor, Tensor]:
    """One sample per entry of ``labels`` (class indices), drawn one batch per class (seed ``seed + class``);
    returned sorted by class, with the sorted labels."""
    labels = labels.sort().values
    images = [sample(model, info, int((labels == c).sum()), info["classes"][c], seed + c, temperature, **opts)[0]
              for c in labels.unique().tolist()]
    return torch.cat(images), labels


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between Gaussian draws ``a`` and ``b`` (shape [1, ...]) at fractions ``t``: every
    point keeps the norm a Gaussian draw has, where a straight line would pass through unlikely, low-norm codes."""
    fa, fb = a.flatten(1).double(), b.flatten(1).double()
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1))
    omega = torch.arccos(cos.clamp(-1, 1))
    t = t.double()[:, None]
    if float(omega.abs().max()) < 1e-6:  # the same draw: nothing to bend
        out = (1 - t) * fa + t * fb
    else:
        out = (torch.sin((1 - t) * omega) * fa + torch.sin(t * omega) * fb) / torch.sin(omega)
    return out.to(a.dtype).view(len(t), *a.shape[1:])


@torch.no_grad()
def interpolate_seeds(model: nn.Module, info: dict, seed_a: int, seed_b: int, frames: int = 8,
                      class_name: str | None = None, temperature: float = 1.0, **opts) -> Tensor:
    """``frames`` images along the great circle between the prior draws of two seeds (any generator with a
    prior: every model here); conditional models keep one class (``class_name``, default the first)."""
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    opts = check_sampler_options(model, opts)
    model.eval()
    device = next(model.parameters()).device
    za, zb = (model.prior(1, temperature, torch.Generator().manual_seed(s)) for s in (seed_a, seed_b))
    z = slerp(za.cpu(), zb.cpu(), torch.linspace(0, 1, frames)).to(device)
    labels = class_labels(info, frames, class_name or (info["classes"][0] if model.conditional else None),
                          model.conditional)
    return model.decode(z, None if labels is None else labels.to(device), **opts).float().clamp(0, 1).cpu()


def load_images(paths: Sequence[str | Path], size: int) -> Tensor:
    """Image files preprocessed as the generator's evaluation images (clear error for unreadable files)."""
    tf = generation_transform(size)
    return torch.stack([tf(load_rgb(p)) for p in paths])


def _require_encoder(model: nn.Module, what: str) -> None:
    if not model.can_encode:
        raise ValueError(f"{what} needs an autoencoder (ae, vae, cvae): a DCGAN has no encoder")


@torch.no_grad()
def reconstruct(model: nn.Module, images: Tensor, labels: Tensor | None = None) -> Tensor:
    """Encode and decode images in [0, 1] (the mean code for a VAE)."""
    _require_encoder(model, "reconstruction")
    model.eval()
    device = next(model.parameters()).device
    labels = None if labels is None else labels.to(device)
    return model.decode(model.encode(images.to(device), labels), labels).float().clamp(0, 1).cpu()


@torch.no_grad()
def interpolate(model: nn.Module, a: Tensor, b: Tensor, steps: int = 8, label: int | None = None) -> Tensor:
    """``steps`` images decoded along the straight line between the codes of images ``a`` and ``b``."""
    _require_encoder(model, "interpolation")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    model.eval()
    device = next(model.parameters()).device
    lab = None if label is None else torch.tensor([label], device=device)
    za, zb = (model.encode(x[None].to(device), lab) for x in (a, b))
    t = torch.linspace(0, 1, steps, device=device)[:, None]
    z = (1 - t) * za + t * zb
    return model.decode(z, None if lab is None else lab.repeat(steps)).float().clamp(0, 1).cpu()


def save_images(images: Tensor, out_dir: str | Path, prefix: str = "sample", nrow: int = 8,
                names: Sequence[str] | None = None) -> list[Path]:
    """One PNG per image (``prefix_000.png``, or ``names``) plus ``prefix_grid.png``; returns the grid path last."""
    out = check_out_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / (f"{names[i]}.png" if names else f"{prefix}_{i:03d}.png") for i in range(len(images))]
    for img, path in zip(images, paths):
        _save_png(img, path)
    grid = out / f"{prefix}_grid.png"
    _save_png(make_grid(images, nrow=min(nrow, len(images)), padding=2, pad_value=1.0), grid)
    return [*paths, grid]


def _save_png(image: Tensor, path: Path) -> None:
    """Write under a temporary name, then rename: an interrupted command never leaves a truncated PNG."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_image(image, tmp, format="png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
