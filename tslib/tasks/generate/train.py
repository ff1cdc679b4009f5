"""Training a generator (AE, VAE, cVAE, DCGAN) end to end: data, model, the engine, export, test metrics.

Writes the project's run folder (:mod:`tslib.engine.runs`); ``metrics.json`` holds reconstruction metrics
(autoencoders) or the Lite0 FID/KID (DCGAN) on val and test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ...data.datasets import LandscapeDataset
from ...engine import fit, runs
from ...models import create_model
from .config import GenerateConfig
from .data import run_datasets, run_loader
from .evaluate import split_metrics
from .task import DiffusionTask, GANTask, ReconstructionTask


def make_task(cfg: GenerateConfig):
    """The engine task of ``cfg.model``: D-then-G for the GANs, denoising for diffusion, reconstruction + KL for
    the autoencoders."""
    if cfg.trainer == "diffusion":
        return DiffusionTask()
    if cfg.is_gan:
        return GANTask(cfg.gan_lr, cfg.real_label, cfg.loss, cfg.d_steps, cfg.d_lr_ratio)
    return ReconstructionTask(cfg.beta if cfg.model != "ae" else 0.0, cfg.kl_warmup)


@runs.training_run
def train_generator(cfg: GenerateConfig, run_dir: str | Path, resume: bool | str = False,
                    callbacks: Sequence[Callable[[dict], None]] = ()) -> dict:
    """Train, keep the best epoch (autoencoders: lowest val loss; DCGAN: the last), export ``model.pt`` and
    evaluate on val and test; returns the metrics dict."""
    run_dir, resume, device = runs.start_run(run_dir, cfg, resume)
    classes = LandscapeDataset(cfg.manifest, "train").classes
    data = run_datasets(cfg, classes)
    model = create_model(cfg.model, task="generate", **cfg.model_kwargs(len(classes)))
    runs.write_run_info(run_dir, "generate", cfg, model=model, classes=classes, img_size=cfg.img_size,
                        conditional=cfg.is_conditional)
    result = fit(model, make_task(cfg), run_loader(data["train"], cfg, device, True),
                 run_loader(data["val"], cfg, device, False), cfg.train, run_dir, callbacks=callbacks,
                 resume=resume, meta={"classes": classes}, extra_config={"generate": runs.to_dict(cfg)})
    runs.restore_best(result, run_dir, model)
    runs.save_model(run_dir, model, classes=classes)
    metrics = {s: split_metrics(model, cfg, s, classes, device) for s in ("val", "test") if s in data}
    return runs.merge_metrics(run_dir, metrics)
