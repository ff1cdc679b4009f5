"""Judging a finished generator run: reconstruction or FID on manifest splits (``metrics.json``), and the full
report against a trained classifier (``gen_metrics.json``: FID/KID, agreement, class histogram)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from ...engine import runs
from ...engine.inference import run_batches
from ...utils import atomic_write_text, resolve_device
from .config import GenerateConfig
from .data import run_loader, split_dataset
from .metrics import (
    LITE0_SPACE,
    agreement,
    class_histogram,
    fid_kid,
    inception_fid,
    lite0_features,
    reconstruction_metrics,
)
from .sampling import load_generator, sample, sample_classes


def real_images(cfg: GenerateConfig, split: str, classes: list[str], n: int | None = None) -> tuple[Tensor, Tensor]:
    """Up to ``n`` images of a split (spread over the split, deterministic), preprocessed as in training."""
    ds = split_dataset(cfg, split, classes)
    idx = list(range(len(ds))) if n is None or n >= len(ds) else torch.linspace(0, len(ds) - 1, n).long().tolist()
    items = [ds[i] for i in idx]
    return torch.stack([s["image"] for s in items]), torch.tensor([s["label"] for s in items])


@torch.no_grad()
def split_metrics(model: nn.Module, cfg: GenerateConfig, split: str, classes: list[str], device: torch.device,
                  features: nn.Module | None = None) -> dict:
    """Autoencoders: reconstruction metrics over the whole split. DCGAN: FID/KID (Lite0) against it."""
    if hasattr(model, "encode"):
        loader = run_loader(split_dataset(cfg, split, classes), cfg, device, train=False)
        cond = model.conditional
        originals, recons = [], []
        model.eval().to(device)
        for batch in loader:
            x = batch["image"].to(device)
            labels = batch["label"].to(device) if cond else None
            originals.append(x.cpu())
            recons.append(model.decode(model.encode(x, labels), labels).float().clamp(0, 1).cpu())
        return reconstruction_metrics(torch.cat(originals), torch.cat(recons))
    real, labels = real_images(cfg, split, classes, cfg.eval_samples)
    info = {"classes": classes, "config": runs.to_dict(cfg)}
    # Conditional samples follow the real class mix, so FID compares like with like.
    fake = sample_classes(model, info, labels)[0] if model.conditional else sample(model, info, len(real))[0]
    return {**fid_kid(real, fake, (features or lite0_features()).to(device)), "n": len(real),
            "feature_space": LITE0_SPACE}


def evaluate_run(run_dir: str | Path, splits: Sequence[str] = ("test",), tta: bool | None = None,
                 device: str | None = None) -> dict:
    """Metrics of a generator run on manifest splits, merged into ``metrics.json`` (``tta`` does not apply)."""
    info = runs.read_run_info(run_dir)
    cfg = runs.load_config(run_dir, GenerateConfig)
    dev = resolve_device(device or cfg.train.device)
    model, _ = load_generator(run_dir, str(dev))
    return runs.merge_metrics(run_dir, {s: split_metrics(model, cfg, s, info["classes"], dev) for s in splits})


def _classifier_inputs(images: Tensor, prep: dict) -> Tensor:
    """[0, 1] images -> the classifier's eval preprocessing (resize, centre crop, normalise)."""
    mode = TF.InterpolationMode(prep.get("interpolation", "bilinear"))
    x = TF.resize(images, [prep["resize_size"]], interpolation=mode, antialias=True)
    return TF.normalize(TF.center_crop(x, [prep["size"]]), prep["mean"], prep["std"])


@torch.no_grad()
def classify_images(classifier: nn.Module, prep: dict, images: Tensor, device: torch.device) -> Tensor:
    """Predicted class indices of [0, 1] images."""
    data = [{"image": _classifier_inputs(b, prep)} for b in images.split(64)]
    probs, _ = run_batches(classifier, data, device, fn=lambda x: classifier(x).float().softmax(1))
    return probs.argmax(1)


def evaluate_generator(run_dir: str | Path, classifier_run: str | Path, n: int = 500, device: str = "auto",
                       inception: bool = False, seed: int = 0) -> dict:
    """The generator's report card, written to ``run_dir/gen_metrics.json``: reconstruction on the test split
    (autoencoders), FID/KID against up to ``n`` test images in the Lite0 feature space (and the standard
    Inception FID with ``inception``, when its weights can be had), and what the classifier of
    ``classifier_run`` sees in ``n`` samples: per-class agreement (conditional) or the class histogram."""
    from ..classify.evaluate import load_run

    dev = resolve_device(device)
    model, info = load_generator(run_dir, str(dev))
    cfg = runs.load_config(run_dir, GenerateConfig)
    classifier, cls_info = load_run(classifier_run, str(dev))
    classes = info["classes"]
    real, real_labels = real_images(cfg, "test", classes, n)
    if model.conditional:
        # every class, as evenly as n allows
        fake, asked = sample_classes(model, info, torch.arange(len(real)) % len(classes), seed)
    else:
        fake, asked = sample(model, info, len(real), seed=seed)[0], None
    out: dict = {"n": len(real), "feature_space": LITE0_SPACE, "model": cfg.model, "classifier": str(classifier_run)}
    if hasattr(model, "encode"):
        out |= {k: v for k, v in split_metrics(model, cfg, "test", classes, dev).items() if k != "n"}
    out |= fid_kid(real, fake, lite0_features().to(dev))
    if inception:
        try:
            out["fid_inception"] = inception_fid(real, fake)
        except Exception as e:  # no torch-fidelity, or no network for its weights
            out["fid_inception"] = None
            out["fid_inception_unavailable"] = str(e).splitlines()[0][:200]
    pred = classify_images(classifier, cls_info["preprocessing"], fake, dev)
    names = cls_info["classes"]
    if asked is not None:
        shared = [c for c in classes if c in names]  # agreement by class name: the two runs may order them differently
        keep = [classes[int(a)] in shared for a in asked]
        asked_s = [shared.index(classes[int(a)]) for a, k in zip(asked, keep) if k]
        pred_s = [shared.index(names[int(q)]) if names[int(q)] in shared else -1 for q, k in zip(pred, keep) if k]
        agree = agreement(asked_s, pred_s, shared)
        out["agreement"] = {k: agree[k] for k in ("mean", "per_class", "overall")}
        out["agreement_confusion"] = {"classes": shared, "rows": "asked", "matrix": agree["confusion"]}
    else:
        gen_hist = class_histogram(pred.tolist(), names)
        real_hist = class_histogram([names.index(classes[int(y)]) for y in real_labels if classes[int(y)] in names],
                                    names)
        out["class_histogram"] = {"generated": gen_hist, "real": real_hist}
    atomic_write_text(Path(run_dir) / "gen_metrics.json", json.dumps(out, indent=2))
    return out
