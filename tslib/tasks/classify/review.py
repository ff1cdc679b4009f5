"""A classification run's predictions to look at: its most confident mistakes (with CAM heat maps), images it has
not been trained on, and photos uploaded in a notebook. These load the run and run its model; the figures that
show the results are in :mod:`tslib.viz.classify`."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import torch

from ...data.datasets import LandscapeDataset
from ...data.imageio import ImageReadError, decode_rgb
from ...data.loaders import make_loader
from .config import ClassifyConfig
from .data import split_dataset
from .evaluate import trusted_outputs
from .explain import explain_inputs, most_confident_mistakes
from .prediction import predict_images
from .trust import load_trusted


def _split_probs(run_dir: str | Path, split: str, device: str, tta: bool = False):
    """(model, run info, dataset, calibrated probabilities, labels) of a run on one manifest split."""
    trusted, info = load_trusted(run_dir, device)
    cfg = ClassifyConfig.from_run(run_dir)
    ds = split_dataset(cfg, split, info["preprocessing"], info["classes"])
    loader = make_loader(ds, cfg.train.batch_size, num_workers=cfg.train.num_workers)
    probs, _, _, labels = trusted_outputs(trusted, loader, trusted.temperature.device, tta)
    return trusted.model, info, ds, probs, labels


def misclassified(run_dir: str | Path, split: str = "test", n: int = 12, tta: bool = False,
                  device: str = "auto") -> list[dict]:
    """The ``n`` most confident wrong predictions of a run on a manifest split: ``{"path", "true", "pred",
    "prob", "true_prob"}``."""
    _, info, ds, probs, labels = _split_probs(run_dir, split, device, tta)
    conf, pred = probs.max(1)
    pred, y = pred.tolist(), labels.tolist()
    wrong = most_confident_mistakes(probs, labels, n).tolist()
    return [{"path": str(ds.path(i)), "true": info["classes"][y[i]], "pred": info["classes"][pred[i]],
             "prob": float(conf[i]), "true_prob": float(probs[i, y[i]])} for i in wrong]


def explain_mistakes(run_dir: str | Path, split: str = "test", n: int = 6, method: str = "gradcam",
                     device: str = "auto") -> dict:
    """The ``n`` most confident wrong predictions of a run on a manifest split with their CAM heat maps for the
    predicted class: :func:`plot_explanations`'s arguments (``images``, ``heats``, ``probs``, ``classes``,
    ``labels``, ``captions``)."""
    model, info, ds, probs, labels = _split_probs(run_dir, split, device)
    idx = most_confident_mistakes(probs, labels, n).tolist()
    size = info["preprocessing"]["size"]
    x = torch.stack([ds[i]["image"] for i in idx]) if idx else torch.zeros(0, 3, size, size)
    return {**explain_inputs(model, x, info, method=method), "labels": labels[idx].tolist(),
            "captions": [Path(ds.path(i)).name for i in idx]}


def new_images(manifest_dir: str | Path, n: int = 8) -> tuple[list[Path], str]:
    """``n`` images the model has not been trained on: Intel's unlabelled seg_pred if the manifest has it,
    else test images; and where they come from."""
    try:
        ds, where = LandscapeDataset(manifest_dir, "unlabeled"), "Intel seg_pred (unlabelled)"
    except ValueError:
        ds, where = LandscapeDataset(manifest_dir, "test"), "test split (this manifest has no unlabelled images)"
    step = max(1, len(ds) // n)
    return [ds.path(i) for i in range(0, len(ds), step)][:n], where


def predict_uploads(value: Any, model, info: dict, top_k: int = 3) -> list[dict]:
    """``{"name", "image", "top"}`` per readable upload, ``{"name", "error"}`` per unreadable one. ``value``: a
    FileUpload value, ipywidgets 8 (tuple of dicts with "name", "content") or 7 (dict name -> {"content"})."""
    files = value.items() if isinstance(value, dict) else [(f.get("name", "upload"), f) for f in value]
    out = []
    for name, data in ((n, bytes(f["content"])) for n, f in files):
        try:
            image = decode_rgb(data, name)
        except ImageReadError as e:
            out.append({"name": name, "error": str(e).removeprefix(f"{name}: ")})
            continue
        pred = predict_images(model, [image], info["preprocessing"], info["classes"], top_k=top_k)[0]
        out.append({"name": name, "image": image, "top": pred["top"], "uncertain": pred.get("uncertain", False)})
    return out


def upload_widget(run_dir: str | Path, top_k: int = 3, device: str = "auto"):
    """FileUpload + output area: each uploaded image is shown with the run's top-``top_k`` classes."""
    import ipywidgets as widgets
    from IPython.display import display

    model, info = load_trusted(run_dir, device)  # calibrated probabilities, and "uncertain" for non-landscapes
    upload = widgets.FileUpload(accept="image/*", multiple=True, description="Upload images")
    out = widgets.Output()

    def on_upload(change: dict) -> None:
        out.clear_output()
        with out:
            for r in predict_uploads(change["new"], model, info, top_k):
                if "error" in r:
                    print(f"{r['name']}: cannot read this file as an image ({r['error'].split(' (')[0]})")
                    continue
                r["image"].thumbnail((160, 160))
                display(r["image"])
                unsure = " (uncertain: this does not look like a landscape photo)" if r["uncertain"] else ""
                print(r["name"] + ": " + ", ".join(f"{c} {p:.1%}" for c, p in r["top"]) + unsure)

    upload.observe(on_upload, names="value")
    note = widgets.HTML(f"Classify your own landscape photos with <code>{html.escape(str(run_dir))}</code>:")
    return widgets.VBox([note, upload, out])
