"""What the segmentation notebook shows: class shares, tiles with their masks in the class palette, training
curves, a per-class IoU table beside the study's pixel accuracy, predictions beside ground truth (whole maps:
:mod:`tslib.viz.maps`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..imagenet import IMAGENET_MEAN, IMAGENET_STD
from .common import title as _title

#: The study's only reported number: pixel accuracy of its UNet on Landcover.ai after 3 epochs.
STUDY_PIXEL_ACC = 0.922


def colour_mask(mask, colours, ignore: int | None = None) -> np.ndarray:
    """[H, W] class indices -> [H, W, 3] uint8 palette colours; ignored pixels white."""
    mask = np.asarray(mask).astype(np.int64)
    table = np.zeros((256, 3), np.uint8)
    table[: len(colours)] = np.asarray(colours, np.uint8)
    if ignore is not None:
        table[ignore] = 255
    return table[np.clip(mask, 0, 255)]


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """An ImageNet-normalised [3, H, W] tensor back to [H, W, 3] uint8 for display."""
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    img = (tensor.detach().cpu().float() * std + mean).clamp(0, 1)
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def legend(ax, classes: Sequence[str], colours, **kw) -> None:
    ax.legend(handles=[Patch(color=np.asarray(c) / 255, label=n) for n, c in zip(classes, colours)], **kw)


def plot_sample(sample: dict, classes: Sequence[str], colours, prediction=None, ignore: int | None = None,
                axes=None, alpha: float = 0.0, show_legend: bool = True):
    """Image | mask (| prediction) in the class palette; ``alpha`` > 0 draws the mask over the image instead."""
    n = 2 if prediction is None else 3
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1.6, 3.4), layout="constrained")
    image = to_image(sample["image"]) if isinstance(sample["image"], torch.Tensor) else np.asarray(sample["image"])
    panels = [("image", image), ("mask", colour_mask(sample["mask"], colours, ignore))]
    if prediction is not None:
        panels.append(("prediction", colour_mask(prediction, colours, ignore)))
    for ax, (name, img) in zip(np.atleast_1d(axes), panels):
        if alpha and name != "image":
            img = (image * (1 - alpha) + img * alpha).astype(np.uint8)
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    if show_legend:
        legend(np.atleast_1d(axes)[-1], classes, colours, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return np.atleast_1d(axes)[0].figure


def class_shares(datasets: dict) -> pd.DataFrame:
    """Percent of labelled pixels per class (columns) in each split's dataset (rows); reads every mask."""
    rows = {}
    for split, ds in datasets.items():
        px = ds.class_pixels()
        rows[split] = 100 * px / max(1, px.sum())
    return pd.DataFrame(rows, index=list(next(iter(datasets.values())).classes)).T.round(2)


def plot_class_shares(shares: pd.DataFrame, colours, tag: str | None = None):
    """Stacked bars of :func:`class_shares`: how little of the map buildings and water are."""
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(shares) + 1.8), layout="constrained")
    left = np.zeros(len(shares))
    for c, colour in zip(shares.columns, colours):
        ax.barh(shares.index, shares[c], left=left, color=np.asarray(colour) / 255, label=c, edgecolor="k", lw=0.3)
        left += shares[c].to_numpy()
    ax.set(xlabel="% of labelled pixels", xlim=(0, 100))
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    _title(fig, "Class pixel shares per split", tag)
    return fig


def plot_tiles(dataset, n: int = 4, tag: str | None = None, seed: int = 0, model=None, device: str = "cpu",
               title: str | None = None):
    """``n`` samples of ``dataset``, one row each: image, mask (and ``model``'s prediction, if given)."""
    idx = [int(i) for i in np.random.default_rng(seed).choice(len(dataset), min(n, len(dataset)), replace=False)]
    preds = None if model is None else predict_samples(model, dataset, idx, device)
    cols = 2 if preds is None else 3
    fig, axes = plt.subplots(len(idx), cols, figsize=(3 * cols + 1.8, 3 * len(idx)), squeeze=False,
                             layout="constrained")
    for row, i in enumerate(idx):
        plot_sample(dataset[i], dataset.classes, dataset.colours, None if preds is None else preds[row],
                    dataset.fill, axes[row], show_legend=row == 0)
    _title(fig, title or f"{len(idx)} {dataset.split} tiles with their masks", tag)
    return fig


def plot_confusion(metrics_split: dict, tag: str | None = None, title: str = "Confusion (row-normalised)"):
    """Pixel confusion matrix of ``metrics.json[split]``, each row divided by the true class's pixels (recall)."""
    import seaborn as sns

    classes = list(metrics_split["per_class_iou"])
    cm = np.asarray(metrics_split["confusion"], float)
    cm = np.divide(cm, cm.sum(1, keepdims=True), out=np.zeros_like(cm), where=cm.sum(1, keepdims=True) > 0)
    fig, ax = plt.subplots(figsize=(1.1 * len(classes) + 2.6, 0.9 * len(classes) + 1.8), layout="constrained")
    sns.heatmap(cm, annot=True, fmt=".2f", cmap="Blues", square=True, vmin=0, vmax=1, ax=ax, xticklabels=classes,
                yticklabels=classes, cbar_kws={"label": "fraction of the true class's pixels"})
    ax.set(xlabel="predicted", ylabel="true")
    ax.tick_params(axis="x", rotation=30)
    _title(fig, f"{title}: mIoU {metrics_split['miou']:.1%}", tag)
    return fig


def plot_history(run_dir: str | Path, tag: str | None = None, title: str = "Training curves"):
    """Loss (train, val) and validation mIoU / pixel accuracy per epoch."""
    df = pd.read_csv(Path(run_dir) / "history.csv")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for col, style in (("train_loss", "-o"), ("val_loss", "-s")):
        if col in df:
            a.plot(df["epoch"], df[col], style, ms=4, label=col.split("_")[0])
    for col, label in (("val_miou", "val mIoU"), ("val_pixel_acc", "val pixel accuracy")):
        if col in df:
            b.plot(df["epoch"], df[col], "-o", ms=4, label=label)
    for ax, name in ((a, "loss"), (b, "score")):
        ax.set(xlabel="epoch", title=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if "val_miou" in df and len(df):
        title += f" (best val mIoU {df['val_miou'].max():.3f})"
    _title(fig, title, tag)
    return fig


def live_curves(tag: str | None = None, title: str = "Training curves") -> Callable[[dict], None]:
    """A ``train_segmenter`` callback redrawing the curves after every epoch."""
    from IPython.display import clear_output, display

    def callback(info: dict) -> None:
        fig = plot_history(info["run_dir"], tag, title)
        clear_output(wait=True)
        display(fig)
        plt.close(fig)

    return callback


def iou_table(rows: dict[str, dict], split: str = "test") -> pd.DataFrame:
    """mIoU first, then per-class IoU and pixel accuracy (percent) of each run's ``metrics.json[split]``, with the
    study's pixel accuracy for reference (it reported nothing else)."""
    table = {"study UNet (reported, 3 epochs)": {"pixel acc %": 100 * STUDY_PIXEL_ACC}}
    for name, m in rows.items():
        s = m[split]
        table[name] = {"mIoU %": 100 * s["miou"],
                       **{f"IoU {c} %": (None if v is None else 100 * v) for c, v in s["per_class_iou"].items()},
                       "pixel acc %": 100 * s["pixel_accuracy"]}
    frame = pd.DataFrame(table).T.astype(float).round(1)
    return frame[["mIoU %", *[c for c in frame if c.startswith("IoU ")], "pixel acc %"]] if rows else frame


@torch.no_grad()
def predict_samples(model, dataset, indices: Sequence[int], device: str = "cpu") -> list[np.ndarray]:
    """Class-index predictions for ``dataset[i]`` (whole tiles)."""
    model.eval().to(device)
    return [model(dataset[int(i)]["image"][None].to(device)).argmax(1)[0].cpu().numpy() for i in indices]
