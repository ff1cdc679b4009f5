"""How sure a classifier is, drawn: reliability diagrams (before and after temperature scaling) and the OOD score
distributions of landscape photos against images that are not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .common import title as _title


def _metrics(run_or_metrics: dict | str | Path) -> dict:
    if isinstance(run_or_metrics, dict):
        return run_or_metrics
    from ..engine.runs import read_metrics

    return read_metrics(run_or_metrics)


def plot_reliability(run_or_metrics: dict | str | Path, splits: Sequence[str] = ("val", "test"),
                     tag: str | None = None):
    """One panel per split: accuracy against confidence in 15 bins, raw softmax (grey) and temperature-scaled
    (blue); the diagonal is perfect calibration, and the legend gives each curve's ECE. Reads ``metrics.json``."""
    metrics = _metrics(run_or_metrics)
    shown = [s for s in splits if "reliability" in metrics.get(s, {}).get("calibration", {})]
    if not shown:
        raise ValueError("no reliability data in these metrics: evaluate the run first (`python -m tslib evaluate`)")
    fig, axes = plt.subplots(1, len(shown), figsize=(4.6 * len(shown), 4.2), squeeze=False, layout="constrained")
    for ax, split in zip(axes[0], shown):
        cal = metrics[split]["calibration"]
        for key, ece, colour, label in (("reliability_uncalibrated", cal["ece_uncalibrated"], "0.55", "raw softmax"),
                                        ("reliability", cal["ece"], "tab:blue", f"T = {cal['temperature']:.2f}")):
            bins = cal[key]
            conf, acc, count = (np.asarray(bins[k], dtype=float) for k in ("confidence", "accuracy", "count"))
            keep = count > 0
            ax.plot(conf[keep], acc[keep], "o-", color=colour, ms=4, label=f"{label} (ECE {ece:.3f})")
        ax.plot([0, 1], [0, 1], ":", color="k", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="accuracy",
               title=f"{split} (n={metrics[split]['n']})")
        ax.legend(loc="upper left", fontsize=8)
    _title(fig, "Reliability: is an 80% answer right 80% of the time?", tag)
    return fig


def save_reliability(run_dir: str | Path, tag: str | None = None) -> Path:
    """``plot_reliability`` of a run folder's ``metrics.json``, written to ``run_dir/reliability.png``."""
    path = Path(run_dir) / "reliability.png"
    fig = plot_reliability(run_dir, tag=tag)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
