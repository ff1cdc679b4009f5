"""What the generation notebook shows: image grids, reconstructions, training curves, the metrics table, agreement
per class, and a latent-space explorer widget."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from ..engine.runs import phase_dirs
from .common import title as _title

#: The study judged its generators by eye only: no numbers to put beside ours.
STUDY_ROW = {"model": "study: AE / VAE (reported)", "recon MSE/pixel": None, "PSNR dB": None, "SSIM": None,
             "FID (Lite0 ImageNet features)": None, "KID": None, "agreement": None}


def _show(ax, img: Tensor) -> None:
    ax.imshow(img.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    ax.set_xticks([]), ax.set_yticks([])


def plot_images(images: Tensor, captions: Sequence[str] | None = None, cols: int = 8, title: str = "Samples",
                tag: str | None = None):
    """A grid of [0, 1] images with optional captions (e.g. the class each sample was asked to be)."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows + 0.6), squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            _show(ax, images[k])
            if captions:
                ax.set_title(captions[k], fontsize=8)
    _title(fig, title, tag)
    return fig


def plot_reconstructions(originals: Tensor, recons: Tensor, title: str = "Reconstructions", tag: str | None = None):
    """Originals (top row) above their reconstructions (bottom row)."""
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 4.0), squeeze=False, layout="constrained")
    for i in range(n):
        _show(axes[0, i], originals[i])
        _show(axes[1, i], recons[i])
    axes[0, 0].set_ylabel("original"), axes[1, 0].set_ylabel("reconstructed")
    _title(fig, title, tag)
    return fig


def plot_generator_history(run_dir: str | Path, title: str = "Training curves", tag: str | None = None):
    """Per-epoch curves of a generator run: reconstruction and KL (autoencoders) or D/G losses and D's outputs
    on real and generated images (DCGAN)."""
    frames = [pd.read_csv(d / "history.csv") for _, d in phase_dirs(run_dir) if (d / "history.csv").is_file()]
    if not frames:
        raise FileNotFoundError(f"no history.csv in {run_dir}: has this run trained an epoch yet?")
    df = pd.concat(frames)
    panels = ([("loss", ["train_loss_d", "train_loss_g"]), ("D output", ["train_d_real", "train_d_fake",
                                                                          "val_d_real", "val_d_fake"])]
              if "train_loss_d" in df else
              [("reconstruction MSE / pixel", ["train_recon_mse", "val_recon_mse"]), ("KL (nats)", ["train_kl", "val_kl"])])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False, layout="constrained")
    for ax, (name, cols) in zip(axes.flat, panels):
        for c in cols:
            if c in df:
                ax.plot(df["epoch"], df[c].astype(float), "-o", ms=3, label=c.replace("_", " "))
        ax.set(xlabel="epoch", title=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _title(fig, title, tag)
    return fig


def metrics_table(rows: dict[str, dict]) -> pd.DataFrame:
    """``{model name: gen_metrics}`` as one table beside the study (which reported no numbers). FID is in the
    Lite0 feature space; a standard Inception FID, when computed, gets its own column."""
    table = [STUDY_ROW]
    for name, m in rows.items():
        agree = m.get("agreement", {}).get("mean") if "agreement" in m else None
        row = {"model": name, "recon MSE/pixel": m.get("recon_mse"), "PSNR dB": m.get("psnr"), "SSIM": m.get("ssim"),
               "FID (Lite0 ImageNet features)": m.get("fid"), "KID": m.get("kid"), "agreement": agree}
        if m.get("fid_inception") is not None:
            row["FID (Inception, standard)"] = m["fid_inception"]
        table.append(row)
    return pd.DataFrame(table).set_index("model").round(4)


def plot_agreement(gen_metrics: dict, title: str = "Does the classifier see the class that was asked for?",
                   tag: str | None = None):
    """Per-class agreement bars and the "asked vs predicted" confusion matrix of a conditional generator."""
    agree, conf = gen_metrics["agreement"], gen_metrics["agreement_confusion"]
    classes = conf["classes"]
    m = np.asarray(conf["matrix"], dtype=float)
    m = np.divide(m, m.sum(1, keepdims=True), out=np.zeros_like(m), where=m.sum(1, keepdims=True) > 0)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    a1.bar(list(agree["per_class"]), list(agree["per_class"].values()), color="seagreen")
    a1.axhline(1 / len(classes), color="k", ls="--", lw=1, label="chance")
    a1.set(ylim=(0, 1), ylabel="share labelled as asked", title=f"agreement, mean {agree['mean']:.0%}")
    a1.tick_params(axis="x", rotation=30)
    a1.legend()
    sns.heatmap(m, annot=True, fmt=".2f", cmap="Greens", vmin=0, vmax=1, ax=a2, xticklabels=classes,
                yticklabels=classes, cbar=False)
    a2.set(xlabel="predicted by the classifier", ylabel="asked for", title="asked vs predicted")
    _title(fig, title, tag)
    return fig


@torch.no_grad()
def latent_variance(model, images: Tensor, labels: Tensor | None = None) -> Tensor:
    """Variance of each latent dimension over the codes of ``images`` (autoencoders); ones for a DCGAN."""
    if not hasattr(model, "encode"):
        return torch.ones(model.latent_dim)
    device = next(model.parameters()).device
    z = model.eval().encode(images.to(device), None if labels is None else labels.to(device))
    return z.float().var(0).cpu()


def latent_explorer(model, info: dict, images: Tensor | None = None, labels: Tensor | None = None, k: int = 6,
                    seed: int = 0):
    """Sliders over the ``k`` latent dimensions with the largest variance (over ``images``' codes), a class picker
    for conditional models and a temperature slider; the decoded image updates as they move."""
    import ipywidgets as widgets
    from IPython.display import display

    var = latent_variance(model, images, labels) if images is not None else torch.ones(model.latent_dim)
    dims = var.argsort(descending=True)[:k].tolist()
    device = next(model.parameters()).device
    base = model.prior(1, 1.0, torch.Generator().manual_seed(seed))
    sliders = [widgets.FloatSlider(0.0, min=-3, max=3, step=0.1, description=f"z[{d}]") for d in dims]
    temperature = widgets.FloatSlider(1.0, min=0.1, max=2.0, step=0.1, description="temperature")
    picker = widgets.Dropdown(options=info["classes"], description="class") if model.conditional else None
    out = widgets.Output()

    def render(*_) -> None:
        z = base.clone() * temperature.value
        for d, s in zip(dims, sliders):
            z[0, d] += s.value * float(var[d].sqrt())
        label = torch.tensor([info["classes"].index(picker.value)], device=device) if picker else None
        with torch.no_grad():
            img = model.eval().decode(z.to(device), label)[0].float().clamp(0, 1).cpu()
        out.clear_output(wait=True)
        with out:
            fig, ax = plt.subplots(figsize=(3, 3))
            _show(ax, img)
            ax.set_title(picker.value if picker else "sample", fontsize=9)
            display(fig)
            plt.close(fig)

    controls = [*sliders, temperature, *([picker] if picker else [])]
    for c in controls:
        c.observe(render, names="value")
    render()
    return widgets.HBox([widgets.VBox(controls), out])


def live_curves(title: str = "Training curves", tag: str | None = None):
    """A ``train_generator`` callback that redraws the run's curves after every epoch."""
    from IPython.display import clear_output, display

    from ..engine.runs import find_run_root

    def callback(info: dict) -> None:
        fig = plot_generator_history(find_run_root(info["run_dir"]), f"{title}, epoch {info['epoch']}", tag)
        clear_output(wait=True)
        display(fig)
        plt.close(fig)

    return callback
