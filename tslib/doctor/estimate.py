"""What each notebook's gpu profile should take here: measured per-step costs at the profile's own sizes, added up
with its epochs, budgets and the real datasets' sizes."""

from __future__ import annotations

import math
import os
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch import Tensor

from .core import sync

#: about how many images the real data gives each split (Intel + Landscape Recognition after deduplication, the
#: seeded 70/15/15 split; notebook 01 prints the exact counts) and Landcover.ai's tiles per split
REAL_SIZES = {"classify": {"train": 18_000, "val": 3_900, "test": 3_900},
              "segment": {"train": 7_470, "val": 1_602, "test": 1_602}}
NUM_CLASSES = 7
#: Landcover.ai's tile side: what segmentation evaluates, whole
TILE = 512


def notebook_parameters(name: str) -> dict:
    """The values a notebook's parameters cell sets, with its gpu profile applied (whatever this machine has)."""
    import nbformat

    from ..notebooks import list_notebooks

    path = list_notebooks(only=[name])[0]
    cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
    scope: dict = {}
    saved = dict(os.environ)
    os.environ["TSLIB_SMOKE"] = "0"
    try:
        exec(cell.source, scope)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    values = {k: v for k, v in scope.items() if k.isupper()}
    return {**values, **values.get("PROFILES", {}).get("gpu", {}), "PROFILE": "gpu"}


class Costs:
    """Measured seconds of one training step and of one image's forward pass, per workload, on ``device``."""

    def __init__(self, device: torch.device, work: Path, steps: int = 3) -> None:
        self.device, self.work, self.steps = device, work, steps
        self.cache: dict = {}

    def step(self, key: str, model_fn, task_fn, batch: dict) -> float:
        """Seconds per training step (the engine's ``fit``, its second epoch) of ``model_fn()`` on ``batch``."""
        if key not in self.cache:
            from ..engine import TrainConfig, fit

            task = task_fn()
            task.monitor = None  # no validation loader here: the cost of the steps alone
            config = TrainConfig(epochs=2, num_workers=0, progress=False, device=str(self.device), schedule="none")
            with tempfile.TemporaryDirectory(dir=self.work) as run:
                result = fit(model_fn(), task, [batch] * self.steps, None, config, run)
            self.cache[key] = result.history[-1]["seconds"] / self.steps
            _free(self.device)
        return self.cache[key]

    def forward(self, key: str, fn_factory, x: Tensor) -> float:
        """Seconds per image of ``fn(x)`` under the engine's inference autocast, no gradients."""
        if key not in self.cache:
            from ..engine.precision import autocast

            fn = fn_factory()
            x = x.to(self.device)
            with torch.no_grad(), autocast(self.device):
                fn(x)
                sync(self.device)
                start = time.perf_counter()
                for _ in range(self.steps):
                    fn(x)
                sync(self.device)
            self.cache[key] = (time.perf_counter() - start) / (self.steps * len(x))
            _free(self.device)
        return self.cache[key]


def _free(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _images(n: int, size: int) -> dict:
    return {"image": torch.randn(n, 3, size, size), "label": torch.arange(n) % NUM_CLASSES}


def _classifier(name: str, **kw):
    from ..models import create_model

    return lambda: create_model(name, NUM_CLASSES, pretrained=False, **kw)


def _budgeted(epochs: int, epoch_s: float, minutes: float | None) -> float:
    """Training seconds under a budget: no epoch starts that would end past it, at least one runs."""
    total = epochs * epoch_s
    if minutes is None or total <= 60 * minutes:
        return total
    return max(1, math.floor(60 * minutes / epoch_s)) * epoch_s


def estimate_03(c: Costs, p: dict) -> list[tuple[str, float]]:
    from ..tasks.classify.task import ClassificationTask

    n, size, batch = REAL_SIZES["classify"], p["IMG_SIZE"], p["BATCH_SIZE"]
    step = c.step(f"cnn{size}", _classifier("cnn"), ClassificationTask, _images(batch, size))
    fwd = c.forward(f"cnn{size}-fwd", _classifier("cnn"), _images(batch, size)["image"])
    epoch = math.ceil(n["train"] / batch) * step + n["val"] * fwd
    return [(f"cnn {size} px, {p['EPOCHS']} epochs, budget {p['MINUTES']} min",
             _budgeted(p["EPOCHS"], epoch, p["MINUTES"])), ("evaluation (val, test)", 2 * n["test"] * fwd)]


def estimate_04(c: Costs, p: dict) -> list[tuple[str, float]]:
    from ..tasks.classify.task import ClassificationTask

    n, batch, name, minutes = REAL_SIZES["classify"], p["BATCH_SIZE"], p["BACKBONE"], p["MINUTES"]
    study, size = p["STUDY_SIZE"], p["IMG_SIZE"] or 480
    frozen = _classifier(name, freeze=True)
    step_study = c.step(f"{name}{study}-frozen", frozen, ClassificationTask, _images(batch, study))
    fwd_study = c.forward(f"{name}{study}-fwd", frozen, _images(batch, study)["image"])
    fwd = c.forward(f"{name}{size}-fwd", frozen, _images(batch, size)["image"])
    step_ft = c.step(f"{name}{size}-full", _classifier(name), ClassificationTask, _images(batch, size))
    study_epoch = math.ceil(n["train"] / batch) * step_study + n["val"] * fwd_study
    ft_epoch = math.ceil(n["train"] / batch) * step_ft + n["val"] * fwd
    trust = n["train"] * fwd_study + n["val"] * fwd_study  # the OOD scores' training features, the temperature
    return [(f"study: {name} frozen at {study} px, {p['HEAD_EPOCHS']} epochs, budget {minutes.get('study')} min",
             _budgeted(p["HEAD_EPOCHS"], study_epoch, minutes.get("study")) + trust),
            (f"feature cache at {size} px, {p['CACHE_VIEWS']} views", (p["CACHE_VIEWS"] * n["train"] + n["val"]) * fwd),
            (f"fine-tuning at {size} px, {p['FINETUNE_EPOCHS']} epochs, budget {minutes.get('finetune')} min",
             _budgeted(p["FINETUNE_EPOCHS"], ft_epoch, minutes.get("finetune"))),
            ("evaluation (3 runs x val, test; TTA; OOD)",
             (2 * n["test"]) * (fwd_study + 2 * fwd) + 2 * n["test"] * fwd)]


def estimate_05(c: Costs, p: dict) -> list[tuple[str, float]]:
    from ..engine.precision import autocast
    from ..models import create_model
    from ..tasks.generate import GenerateConfig
    from ..tasks.generate.train import make_task

    n, batch, rows = REAL_SIZES["classify"], p["BATCH_SIZE"], []
    epochs = {"ae": p["EPOCHS"], "vae": p["EPOCHS"], "cvae": p["EPOCHS"], "dcgan": p["GAN_EPOCHS"],
              "projected_gan": p["PG_EPOCHS"], "ddpm": p["DDPM_EPOCHS"]}
    for model, e in epochs.items():
        size = p["DDPM_SIZE"] if model == "ddpm" else p["IMG_SIZE"]
        patch = p.get("DDPM_PATCH", 1) if model == "ddpm" else 1
        cfg = GenerateConfig(manifest="-", model=model, img_size=size, width=p["WIDTH"], conditional=model == "dcgan",
                             patch=patch)
        step = c.step(f"{model}{size}p{patch}", lambda cfg=cfg: create_model(cfg.model, task="generate",
                                                                     **cfg.model_kwargs(NUM_CLASSES)),
                      lambda cfg=cfg: make_task(cfg), {"image": torch.rand(batch, 3, size, size),
                                                       "label": torch.arange(batch) % NUM_CLASSES})
        minutes = p["MINUTES"].get(model)
        rows.append((f"{model} {size} px, {e} epochs, budget {minutes} min",
                     _budgeted(e, math.ceil(n["train"] / batch) * step, minutes)))
    if "ddpm-sample" not in c.cache:
        model = create_model("ddpm", NUM_CLASSES, task="generate", img_size=p["DDPM_SIZE"],
                             patch=p.get("DDPM_PATCH", 1)).to(c.device).eval()
        with torch.no_grad(), autocast(c.device):
            start = time.perf_counter()
            model.sample(16, torch.arange(16, device=c.device) % NUM_CLASSES, steps=p["SAMPLE_STEPS"])
            sync(c.device)
        c.cache["ddpm-sample"] = (time.perf_counter() - start) / 16
        _free(c.device)
    sweep = len(p["GUIDANCE"]) * max(2, p["N_EVAL"] // 14) * NUM_CLASSES
    rows.append((f"diffusion samples: {p['N_EVAL']} judged, {p['END_SAMPLES']} at the end, {sweep} for the sweep",
                 (p["N_EVAL"] + p["END_SAMPLES"] + sweep) * c.cache["ddpm-sample"]))
    return rows


def estimate_06(c: Costs, p: dict) -> list[tuple[str, float]]:
    from ..models import create_model
    from ..tasks.segment.task import SegmentationTask

    n, batch, size, rows = REAL_SIZES["segment"], p["BATCH_SIZE"], p["IMG_SIZE"], []
    classes = ["building", "woodland", "water", "road", "background"]
    unet = {"width": p["WIDTH"], "depth": p["DEPTH"]}
    for label, name, kw in (("unet", "unet", unet), ("unet + class weights", "unet", unet),
                            (p["PRETRAINED_MODEL"], p["PRETRAINED_MODEL"], {})):
        def build(name=name, kw=kw):
            return create_model(name, task="segment", num_classes=len(classes), pretrained=False, **kw)

        tiles = {"image": torch.randn(batch, 3, size, size), "mask": torch.randint(0, 5, (batch, size, size))}
        step = c.step(f"seg-{name}{size}", build, lambda: SegmentationTask(classes, 255), tiles)
        fwd = c.forward(f"seg-{name}{TILE}-fwd", build, torch.randn(4, 3, TILE, TILE))
        epoch = math.ceil(n["train"] / batch) * step + n["val"] * fwd
        rows.append((f"{label} {size} px crops, {p['EPOCHS']} epochs, budget {p['MINUTES']} min",
                     _budgeted(p["EPOCHS"], epoch, p["MINUTES"]) + 2 * n["test"] * fwd))
    return rows


ESTIMATES = {"03": estimate_03, "04": estimate_04, "05": estimate_05, "06": estimate_06}


def estimate_notebooks(device: torch.device, work: Path, progress: bool = True, steps: int = 3) -> dict:
    """``{notebook: [(what, seconds), ...]}`` for the gpu profile of every notebook that trains (01, 02 and 07
    train nothing when the runs of 03-06 exist); each cost timed over ``steps`` steps."""
    costs, out = Costs(device, work, steps), {}
    for name, fn in ESTIMATES.items():
        try:
            out[name] = fn(costs, notebook_parameters(name))
        except Exception as e:  # noqa: BLE001 - e.g. out of memory at the gpu profile's sizes: said, not fatal
            out[name] = [(f"not estimated: {traceback.format_exception_only(type(e), e)[-1].strip()[:160]}",
                          float("nan"))]
        if progress:
            total = sum(s for _, s in out[name])
            print(f"  notebook {name}: about {total / 60:.1f} min of compute", flush=True)
    return out


def format_estimates(estimates: dict, device_name: str) -> str:
    lines = [f"Expected gpu-profile compute per notebook on {device_name} (from measured per-step costs and the real "
             "datasets' sizes; without downloads, set-up and data loading):"]
    for name, rows in estimates.items():
        lines.append(f"  {name}: {sum(s for _, s in rows) / 60:5.1f} min")
        lines += [f"        {s / 60:5.1f} min  {what}" for what, s in rows]
    return "\n".join(lines)


