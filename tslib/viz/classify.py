"""What the classification notebooks show: training curves, confusion matrices, mistakes, explanations, result
tables and predictions. Figures draw the results they are given; :mod:`tslib.tasks.classify.review` computes
them from a run (its mistakes, images it has not seen, uploaded photos)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from ..data.imageio import load_rgb
from ..engine.runs import find_run_root, phase_dirs
from .common import image_grid as _image_grid
from .common import title as _title
from .heatmap import overlay

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


def plot_misclassified(mistakes: Sequence[dict], tag: str | None = None, cols: int = 6):
    """Grid of wrong predictions (raw images) titled with the true and predicted class and its probability."""
    def draw(m: dict, ax) -> None:
        ax.imshow(load_rgb(m["path"]))
        ax.set_title(f"true {m['true']}\npred {m['pred']} ({m['prob']:.0%})", fontsize=9, color="firebrick")

    return _image_grid(list(mistakes), min(cols, max(1, len(mistakes))), draw, tag,
                       f"Most confident mistakes ({len(mistakes)} shown)")


def plot_explanations(images, heats, probs, classes: Sequence[str], k: int = 3, labels: Sequence[int] | None = None,
                      captions: Sequence[str] | None = None, tag: str | None = None, method: str = "gradcam",
                      title: str = "Where the model looked"):
    """One row per image: the image as the model saw it | its heat map for the predicted class | the top-``k``
    classes. ``images``: uint8 ``[N, H, W, 3]``; ``heats``: ``[N, H, W]`` in [0, 1]; ``probs``: ``[N, C]``;
    ``labels`` (true class indices) colour the true class green and a wrong prediction red."""
    probs = torch.as_tensor(probs, dtype=torch.float32)
    n, k = len(images), min(k, len(classes))
    fig, axes = plt.subplots(max(n, 1), 3, figsize=(9, 2.6 * max(n, 1)), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 1.3]})
    for ax in axes[:, :2].flat:
        ax.axis("off")
    if n == 0:
        axes[0, 2].axis("off")
        axes[0, 0].text(0.5, 0.5, "nothing to show", ha="center", fontsize=12)
    for row, (image, heat, p) in enumerate(zip(images, heats, probs)):
        image = np.asarray(image)
        top = p.topk(k)
        pred, true = int(top.indices[0]), None if labels is None else int(labels[row])
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(captions[row] if captions else (f"true {classes[true]}" if true is not None else ""),
                               fontsize=9)
        axes[row, 1].imshow(overlay(image, heat))
        axes[row, 1].set_title(f"{method}: {classes[pred]}", fontsize=9,
                               color="firebrick" if true is not None and true != pred else "black")
        ax = axes[row, 2]
        names = [classes[int(i)] for i in top.indices]
        colours = ["seagreen" if int(i) == true else ("firebrick" if j == 0 and true is not None else "steelblue")
                   for j, i in enumerate(top.indices)]
        ax.barh(range(k), top.values.numpy(), color=colours)
        ax.set(yticks=range(k), yticklabels=names, xlim=(0, 1), xlabel="probability")
        ax.invert_yaxis()
        for j, v in enumerate(top.values.tolist()):
            ax.text(min(v, 0.75) + 0.02, j, f"{v:.0%}", va="center", fontsize=8)
        ax.set_title(f"top {k}" + (f" (true: {classes[true]})" if true is not None else ""), fontsize=9)
    _title(fig, f"{title} ({n} shown)", tag)
    return fig


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


def plot_predictions(preds: Sequence[dict], tag: str | None = None, cols: int = 4, title: str = "Predictions"):
    """Grid of ``predict`` results: each image with its predicted class and (calibrated) probability, in orange with
    "uncertain" when the run's OOD score rejects it (or its error)."""
    def draw(p: dict, ax) -> None:
        if "error" in p:
            ax.text(0, 0.5, f"{Path(p['path']).name}\n{p['error'][:60]}", fontsize=8, wrap=True, color="firebrick")
            return
        ax.imshow(load_rgb(p["path"]))
        unsure = p.get("uncertain")  # below the run's OOD threshold: unlike the training photos
        ax.set_title(f"{'uncertain: ' if unsure else ''}{p['class']} ({p['prob']:.0%})\n{Path(p['path']).name}",
                     fontsize=9, color="darkorange" if unsure else "black")

    return _image_grid(list(preds), min(cols, max(1, len(preds))), draw, tag, title)
