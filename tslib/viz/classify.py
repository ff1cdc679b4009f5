"""What the classification notebooks show: training curves, confusion matrices, mistakes, result tables,
predictions on new images and an upload widget."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from ..data.datasets import LandscapeDataset
from ..data.imageio import ImageReadError, decode_rgb, load_rgb
from ..data.loaders import make_loader
from ..engine.runs import find_run_root, phase_dirs
from ..tasks.classify.config import ClassifyConfig
from ..tasks.classify.data import split_dataset
from ..tasks.classify.evaluate import load_run
from ..tasks.classify.metrics import predict_probs
from ..tasks.classify.prediction import predict_images
from .common import image_grid as _image_grid
from .common import title as _title

# The original study's reported test accuracies (simple CNN from scratch; frozen EfficientNetV2-L + MLP head).
STUDY_CNN_ACC = 0.69
STUDY_EFFNETV2L_ACC = 0.77


def load_history(run_dir: str | Path) -> list[dict]:
    """The run's ``history.csv`` of every training phase (``run.json``'s ``phases``: head, then fine-tuning),
    epochs counting on across phases, rows tagged with their ``phase``."""
    run_dir = Path(run_dir)
    rows: list[dict] = []
    for phase, folder in phase_dirs(run_dir):
        path = folder / "history.csv"
        if path.is_file():
            offset = int(rows[-1]["epoch"]) if rows else 0
            for r in pd.read_csv(path).to_dict("records"):
                rows.append({**r, "epoch": int(r["epoch"]) + offset, "phase": phase})
    if not rows:
        raise FileNotFoundError(f"no history.csv in {run_dir}: has this run trained an epoch yet?")
    return rows


def plot_history(history_or_run_dir: Sequence[dict] | str | Path, tag: str | None = None,
                 title: str = "Training curves"):
    """Loss and accuracy per epoch, train vs val; a dashed line marks where fine-tuning starts."""
    h = history_or_run_dir
    df = pd.DataFrame(load_history(h) if isinstance(h, str | Path) else list(h))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for ax, metric in zip(axes, ("loss", "acc")):
        for split, style in (("train", "-o"), ("val", "-s")):
            if f"{split}_{metric}" in df:
                ax.plot(df["epoch"], df[f"{split}_{metric}"].astype(float), style, ms=4, label=split)
        if "phase" in df and df["phase"].nunique() > 1:  # a dashed line where each later phase starts
            for phase in list(dict.fromkeys(df["phase"]))[1:]:
                ax.axvline(df.loc[df["phase"] == phase, "epoch"].min() - 0.5, color="k", ls="--", lw=1,
                           label=f"{phase} starts")
        ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "cross-entropy loss",
               title="accuracy" if metric == "acc" else "loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if len(df) and "val_acc" in df:
        title += f" (best val acc {df['val_acc'].astype(float).max():.1%})"
    _title(fig, title, tag)
    return fig


def live_curves(tag: str | None = None, title: str = "Training curves") -> Callable[[dict], None]:
    """A ``train_classifier`` callback that redraws the curves of the whole run after every epoch."""
    from IPython.display import clear_output, display

    def callback(info: dict) -> None:
        rows = load_history(find_run_root(info["run_dir"]))  # every phase; epochs count on through fine-tuning
        fig = plot_history(rows, tag, f"{title}, epoch {rows[-1]['epoch']}")
        clear_output(wait=True)
        display(fig)
        plt.close(fig)

    return callback


def plot_confusion(metrics_split: dict, classes: Sequence[str], tag: str | None = None, normalize: bool = True,
                   title: str = "Confusion matrix"):
    """Heatmap of ``metrics_split["confusion"]`` (rows = true class); normalised per row = recall."""
    cm = np.asarray(metrics_split["confusion"], dtype=float)
    if normalize:
        totals = cm.sum(1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    fig, ax = plt.subplots(figsize=(1.0 * len(classes) + 2.5, 0.9 * len(classes) + 1.8), layout="constrained")
    sns.heatmap(cm, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", square=True, ax=ax,
                xticklabels=classes, yticklabels=classes, vmin=0, vmax=1 if normalize else None,
                cbar_kws={"label": "fraction of the true class" if normalize else "images"})
    ax.set(xlabel="predicted", ylabel="true")
    ax.tick_params(axis="x", rotation=30), ax.tick_params(axis="y", rotation=0)
    _title(fig, f"{title} (n={metrics_split.get('n', int(np.sum(metrics_split['confusion'])))}, "
                f"accuracy {metrics_split['accuracy']:.1%})", tag)
    return fig


def misclassified(run_dir: str | Path, split: str = "test", n: int = 12, tta: bool = False,
                  device: str = "auto") -> list[dict]:
    """The ``n`` most confident wrong predictions of a run on a manifest split: ``{"path", "true", "pred",
    "prob", "true_prob"}``."""
    model, info = load_run(run_dir, device)
    cfg = ClassifyConfig.from_run(run_dir)
    ds = split_dataset(cfg, split, info["preprocessing"], info["classes"])
    loader = make_loader(ds, cfg.train.batch_size, num_workers=cfg.train.num_workers)
    probs, labels = predict_probs(model, loader, next(model.parameters()).device, tta=tta)
    conf, pred = probs.max(1)
    pred, y = pred.tolist(), labels.tolist()
    wrong = [i for i in conf.argsort(descending=True).tolist() if pred[i] != y[i] and y[i] >= 0][:n]
    return [{"path": str(ds.path(i)), "true": info["classes"][y[i]], "pred": info["classes"][pred[i]],
             "prob": float(conf[i]), "true_prob": float(probs[i, y[i]])} for i in wrong]


def plot_misclassified(mistakes: Sequence[dict], tag: str | None = None, cols: int = 6):
    """Grid of wrong predictions (raw images) titled with the true and predicted class and its probability."""
    def draw(m: dict, ax) -> None:
        ax.imshow(load_rgb(m["path"]))
        ax.set_title(f"true {m['true']}\npred {m['pred']} ({m['prob']:.0%})", fontsize=9, color="firebrick")

    return _image_grid(list(mistakes), min(cols, max(1, len(mistakes))), draw, tag,
                       f"Most confident mistakes ({len(mistakes)} shown)")


def results_table(rows: Sequence[dict], tag: str | None = None) -> pd.DataFrame:
    """Our runs (``{"run": name, **metrics_split}``) next to the study's reported accuracies, in percent."""
    ref = [{"run": f"study: {name} (reported)", "accuracy": acc, "data": "original study"}
           for name, acc in (("simple CNN", STUDY_CNN_ACC), ("EfficientNetV2-L, frozen", STUDY_EFFNETV2L_ACC))]
    table = []
    for r in ref + [{"data": tag or "", **r} for r in rows]:
        acc = float(r["accuracy"])
        table.append({"run": r["run"], "data": r["data"], "test accuracy %": round(100 * acc, 1),
                      "macro F1 %": round(100 * r["macro_f1"], 1) if "macro_f1" in r else None,
                      "test images": r.get("n"), "TTA": r.get("tta"),
                      "vs study CNN (pp)": round(100 * (acc - STUDY_CNN_ACC), 1),
                      "vs study EffNetV2-L (pp)": round(100 * (acc - STUDY_EFFNETV2L_ACC), 1)})
    return pd.DataFrame(table).astype({"test images": "Int64"}).set_index("run")


def model_summary(model, img_size: int, depth: int = 2, device: str = "cpu"):
    """``torchinfo.summary`` of ``model`` on one ``img_size`` image: layers, output shapes, (trainable) params."""
    from torchinfo import summary

    return summary(model, input_size=(1, 3, img_size, img_size), depth=depth, device=device, verbose=0,
                   col_names=("output_size", "num_params", "trainable"), row_settings=("var_names",))


def new_images(manifest_dir: str | Path, n: int = 8) -> tuple[list[Path], str]:
    """``n`` images the model has not been trained on: Intel's unlabelled seg_pred if the manifest has it,
    else test images; and where they come from."""
    try:
        ds, where = LandscapeDataset(manifest_dir, "unlabeled"), "Intel seg_pred (unlabelled)"
    except ValueError:
        ds, where = LandscapeDataset(manifest_dir, "test"), "test split (this manifest has no unlabelled images)"
    step = max(1, len(ds) // n)
    return [ds.path(i) for i in range(0, len(ds), step)][:n], where


def plot_predictions(preds: Sequence[dict], tag: str | None = None, cols: int = 4, title: str = "Predictions"):
    """Grid of ``predict`` results: each image with its predicted class and probability (or its error)."""
    def draw(p: dict, ax) -> None:
        if "error" in p:
            ax.text(0, 0.5, f"{Path(p['path']).name}\n{p['error'][:60]}", fontsize=8, wrap=True, color="firebrick")
            return
        ax.imshow(load_rgb(p["path"]))
        ax.set_title(f"{p['class']} ({p['prob']:.0%})\n{Path(p['path']).name}", fontsize=9)

    return _image_grid(list(preds), min(cols, max(1, len(preds))), draw, tag, title)


def _predict_uploads(value: Any, model, info: dict, top_k: int = 3) -> list[dict]:
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
        out.append({"name": name, "image": image, "top": pred["top"]})
    return out


def upload_widget(run_dir: str | Path, top_k: int = 3, device: str = "auto"):
    """FileUpload + output area: each uploaded image is shown with the run's top-``top_k`` classes."""
    import ipywidgets as widgets
    from IPython.display import display

    model, info = load_run(run_dir, device)
    upload = widgets.FileUpload(accept="image/*", multiple=True, description="Upload images")
    out = widgets.Output()

    def on_upload(change: dict) -> None:
        out.clear_output()
        with out:
            for r in _predict_uploads(change["new"], model, info, top_k):
                if "error" in r:
                    print(f"{r['name']}: cannot read this file as an image ({r['error'].split(' (')[0]})")
                    continue
                r["image"].thumbnail((160, 160))
                display(r["image"])
                print(r["name"] + ": " + ", ".join(f"{c} {p:.1%}" for c, p in r["top"]))

    upload.observe(on_upload, names="value")
    note = widgets.HTML(f"Classify your own landscape photos with <code>{html.escape(str(run_dir))}</code>:")
    return widgets.VBox([note, upload, out])
