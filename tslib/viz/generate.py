"""What the generation notebook shows: image grids, reconstructions, denoising trajectories, training curves, the
metrics table, agreement per class, and a latent-space explorer widget."""

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


def plot_trajectory(frames: Sequence[tuple[int, Tensor]], row_labels: Sequence[str] | None = None,
                    title: str = "Denoising: from noise to a landscape", tag: str | None = None):
    """Rows: images; columns: the reverse process at a few steps (``DDPM.trajectory``), noisiest on the left."""
    rows, cols = len(frames[0][1]), len(frames)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.6), squeeze=False, layout="constrained")
    for j, (step, images) in enumerate(frames):
        axes[0, j].set_title(f"step {step}/{frames[-1][0]}", fontsize=8)
        for i in range(rows):
            _show(axes[i, j], images[i])
    for i, label in enumerate(row_labels or []):
        axes[i, 0].set_ylabel(label, fontsize=8)
    _title(fig, title, tag)
    return fig


def plot_generator_history(run_dir: str | Path, title: str = "Training curves", tag: str | None = None):
    """Per-epoch curves of a generator run: reconstruction and KL (autoencoders), D/G losses and D's outputs
    on real and generated images (GANs), or the denoising loss (diffusion)."""
    frames = [pd.read_csv(d / "history.csv") for _, d in phase_dirs(run_dir) if (d / "history.csv").is_file()]
    if not frames:
        raise FileNotFoundError(f"no history.csv in {run_dir}: has this run trained an epoch yet?")
    df = pd.concat(frames)
    if "train_loss_d" in df:
        panels = [("loss", ["train_loss_d", "train_loss_g"]),
                  ("D output", ["train_d_real", "train_d_fake", "val_d_real", "val_d_fake"])]
    elif "train_recon_mse" in df:
        panels = [("reconstruction MSE / pixel", ["train_recon_mse", "val_recon_mse"]),
                  ("KL (nats)", ["train_kl", "val_kl"])]
    else:  # diffusion: the denoising loss (val: EMA weights, fixed noise)
        panels = [("denoising loss (v-prediction MSE)", ["train_loss", "val_loss"])]
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
    Lite0 feature space; a standard Inception FID, when computed, gets its own column, and so does each
    classifier judge (FID in its features, agreement), with the judges not independent of each generator.
    Agreement, coverage, precision and duplicates are the first classifier's, each beside what held-out real
    photos score on the same judge."""
    table = [STUDY_ROW]
    for name, m in rows.items():
        agree = m.get("agreement", {}).get("mean") if "agreement" in m else None
        ref = m.get("reference") or {}
        row = {"model": name, "recon MSE/pixel": m.get("recon_mse"), "PSNR dB": m.get("psnr"), "SSIM": m.get("ssim"),
               "FID (Lite0 ImageNet features)": m.get("fid"), "KID": m.get("kid"), "agreement": agree,
               "real photos' agreement": m.get("real_agreement"),
               "coverage": (m.get("prdc") or {}).get("coverage"),
               "real photos' coverage": (ref.get("prdc") or {}).get("coverage"),
               "precision": (m.get("prdc") or {}).get("precision"), "duplicates": m.get("duplicates"),
               "real photos' duplicates": ref.get("duplicates")}
        if m.get("fid_inception") is not None:
            row["FID (Inception, standard)"] = m["fid_inception"]
        for j in m.get("judges", []):  # each classifier judge: FID in its own feature space, its agreement
            if j.get("run") is None:
                continue  # the Lite0 FID has its column already
            row[f"FID ({j['name']} features)"] = j["fid"]
            if j.get("agreement"):
                row[f"agreement ({j['name']})"] = j["agreement"]["mean"]
        if "judges" in m:
            row["not independent judges"] = ", ".join(j["name"] for j in m["judges"] if not j["independent"])
        table.append(row)
    return pd.DataFrame(table).set_index("model").round(4)


def plot_agreement(gen_metrics: dict, title: str = "Does the classifier see the class that was asked for?",
                   tag: str | None = None):
    """Per-class agreement bars (one per classifier judge when there are several) and the "asked vs predicted"
    confusion matrix of a conditional generator (the first classifier's)."""
    agree, conf = gen_metrics["agreement"], gen_metrics["agreement_confusion"]
    classes = conf["classes"]
    m = np.asarray(conf["matrix"], dtype=float)
    m = np.divide(m, m.sum(1, keepdims=True), out=np.zeros_like(m), where=m.sum(1, keepdims=True) > 0)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    judged = [j for j in gen_metrics.get("judges", []) if j.get("agreement")]
    if len(judged) > 1:  # one bar per classifier judge and class, side by side
        names, width = list(agree["per_class"]), 0.8 / len(judged)
        for k, j in enumerate(judged):
            label = f"{j['name']}, mean {j['agreement']['mean']:.0%}" + ("" if j["independent"] else
                                                                         " (not independent)")
            a1.bar(np.arange(len(names)) + (k - (len(judged) - 1) / 2) * width,
                   [j["agreement"]["per_class"].get(c, 0.0) for c in names], width, label=label)
        a1.set_xticks(range(len(names)), names)
        a1.set(title="agreement per judge")
    else:
        a1.bar(list(agree["per_class"]), list(agree["per_class"].values()), color="seagreen")
        a1.set(title=f"agreement, mean {agree['mean']:.0%}")
    a1.axhline(1 / len(classes), color="k", ls="--", lw=1, label="chance")
    a1.set(ylim=(0, 1), ylabel="share labelled as asked")
    a1.tick_params(axis="x", rotation=30)
    a1.legend()
    sns.heatmap(m, annot=True, fmt=".2f", cmap="Greens", vmin=0, vmax=1, ax=a2, xticklabels=classes,
                yticklabels=classes, cbar=False)
    a2.set(xlabel="predicted by the classifier", ylabel="asked for",
           title="asked vs predicted" + (f" ({judged[0]['name']})" if len(judged) > 1 else ""))
    _title(fig, title, tag)
    return fig


@torch.no_grad()
def latent_variance(model, images: Tensor, labels: Tensor | None = None) -> Tensor:
    """Variance of each latent dimension over the codes of ``images`` (autoencoders); ones for a DCGAN."""
    if not model.can_encode:
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
