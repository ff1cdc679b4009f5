"""Figures the notebooks show: dataset composition, sampling balance, image sizes, sample grids, augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ..data.datasets import LandscapeDataset, resolve_data_root, resolve_manifest
from ..data.imageio import load_rgb
from ..data.manifest import read_manifest
from ..data.sampling import make_weighted_sampler
from ..data.transforms import study_train_steps, train_transform
from .common import title as _title


def manifest_frame(root: Path | str) -> pd.DataFrame:
    """The manifest as a DataFrame (labelled rows), for EDA."""
    df = pd.DataFrame([e.__dict__ for e in read_manifest(resolve_manifest(root))])
    return df[df["label"] != ""].reset_index(drop=True)


def plot_class_counts(df: pd.DataFrame, classes: Sequence[str], tag: str | None = None):
    """Images per class, by source and by split."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True, layout="constrained")
    sns.countplot(data=df, x="label", hue="source", order=classes, ax=axes[0])
    sns.countplot(data=df, x="label", hue="split", order=classes, hue_order=["train", "val", "test"], ax=axes[1])
    for ax, what in zip(axes, ("source", "split")):
        ax.set_title(f"images per class and {what}")
        ax.tick_params(axis="x", rotation=30)
        for container in ax.containers:
            ax.bar_label(container, fontsize=7)
    _title(fig, "Class counts", tag)
    return fig


def plot_sampling_balance(targets: Sequence[int], classes: Sequence[str], seed: int = 0, tag: str | None = None):
    """Class frequencies of one epoch drawn uniformly vs with the weighted sampler."""
    drawn = list(make_weighted_sampler(targets, seed=seed))
    data = pd.DataFrame(
        {"class": [classes[t] for t in targets] + [classes[targets[i]] for i in drawn],
         "epoch": ["uniform (as stored)"] * len(targets) + ["weighted sampler"] * len(drawn)}
    )
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    sns.countplot(data=data, x="class", hue="epoch", order=classes, ax=ax)
    ax.axhline(len(targets) / len(classes), color="k", ls="--", lw=1, label="balanced")
    ax.legend()
    _title(fig, "Training images per class seen in one epoch", tag)
    return fig


def plot_image_sizes(df: pd.DataFrame, tag: str | None = None):
    """Width x height of every image, per source; odd sizes stand out."""
    sizes = df.groupby(["source", "width", "height"]).size().reset_index(name="images")
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    sns.scatterplot(data=sizes, x="width", y="height", hue="source", size="images", sizes=(20, 400), ax=ax)
    ax.set_title("image sizes (marker area = number of images)")
    _title(fig, "Image sizes", tag)
    return fig


def size_table(df: pd.DataFrame, top: int = 8) -> pd.DataFrame:
    """The most common (source, width, height) combinations."""
    return df.groupby(["source", "width", "height"]).size().sort_values(ascending=False).head(top).to_frame("images")


def plot_class_grid(dataset: LandscapeDataset, per_class: int = 6, tag: str | None = None):
    """``per_class`` images of each class, one row per class (first images in manifest order)."""
    rows = {c: [i for i, t in enumerate(dataset.targets) if t == k][:per_class] for k, c in enumerate(dataset.classes)}
    fig, axes = plt.subplots(len(rows), per_class, figsize=(1.8 * per_class, 1.9 * len(rows)), squeeze=False,
                             layout="constrained")
    for r, (c, idx) in enumerate(rows.items()):
        for k in range(per_class):
            ax = axes[r, k]
            ax.axis("off")
            if k < len(idx):
                dataset.plot(dataset[idx[k]], ax=ax, show_title=False)
        axes[r, 0].text(-0.08, 0.5, c, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=10)
    _title(fig, f"Samples per class ({dataset.split})", tag)
    return fig


def duplicates_frame(report: dict) -> pd.DataFrame:
    """What deduplication dropped: one row per removed file with the reason."""
    rows = [{**d, "why": "same content, same label"} for d in report["duplicates_removed"]]
    rows += [{**d, "why": "same content, labels " + "/".join(d["labels"])} for d in report["conflicts_removed"]]
    return pd.DataFrame(rows, columns=["why", "label", "path", "hash"])


def plot_conflicts(manifest_dir: Path | str, report: dict, max_groups: int = 4, tag: str | None = None):
    """Show identical images that carried different labels (all dropped). None when there are none."""
    groups: dict[str, list[dict]] = {}
    for d in report["conflicts_removed"]:
        groups.setdefault(d["hash"], []).append(d)
    if not groups:
        return None
    root = resolve_data_root(resolve_manifest(manifest_dir), next(iter(groups.values()))[0]["path"])
    chosen = list(groups.values())[:max_groups]
    width = max(len(g) for g in chosen)
    fig, axes = plt.subplots(len(chosen), width, figsize=(2.4 * width, 2.5 * len(chosen)), squeeze=False,
                             layout="constrained")
    for r, group in enumerate(chosen):
        for k in range(width):
            ax = axes[r, k]
            ax.axis("off")
            if k < len(group):
                ax.imshow(load_rgb(root / group[k]["path"]))
                ax.set_title(f"{group[k]['label']}\n{Path(group[k]['path']).name}", fontsize=8)
    _title(fig, "Identical images with conflicting labels (dropped)", tag)
    return fig


def plot_augmentations(images: Sequence, size: int = 150, draws: int = 4, seed: int = 0, tag: str | None = None):
    """One row per study transform applied alone to each image, then ``draws`` rows of the full pipeline.

    ``images``: PIL images or uint8 CHW tensors (e.g. ``dataset[i]["image"]``).
    """
    torch.manual_seed(seed)
    imgs = [tv_tensors.Image(v2.functional.to_image(im)) for im in images]
    steps = [("original", v2.Identity()), *study_train_steps(size)]
    full = train_transform(size, mean=(0, 0, 0), std=(1, 1, 1))  # unnormalised, to display
    n_rows, n_cols = len(steps) + draws, len(imgs)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.1 * n_cols, 2.0 * n_rows), squeeze=False, layout="constrained")
    for r in range(n_rows):
        name = steps[r][0] if r < len(steps) else f"full pipeline #{r - len(steps) + 1}"
        for c, img in enumerate(imgs):
            out = steps[r][1](img) if r < len(steps) else full(img)
            out = out if out.dtype.is_floating_point else out.float() / 255
            axes[r, c].imshow(out.clamp(0, 1).permute(1, 2, 0).numpy())
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=9)
    _title(fig, "The study's augmentation pipeline, step by step", tag)
    return fig
