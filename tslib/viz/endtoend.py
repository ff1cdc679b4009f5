"""What notebook 07 shows beyond the generation figures: what the classifier sees in unconditional samples, and
agreement and FID against the sampling temperature."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from .common import title as _title


def plot_predicted_classes(results: dict[str, dict], tag: str | None = None,
                           title: str = "What the classifier sees in the samples"):
    """Share of samples predicted as each class, one bar group per generator (``{name: judged result}``)."""
    classes = next(iter(results.values()))["classes"]
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(classes)), 3.8), layout="constrained")
    width = 0.8 / len(results)
    for k, (name, r) in enumerate(results.items()):
        counts = Counter(r["predicted"])
        shares = [counts[c] / max(1, len(r["predicted"])) for c in classes]
        ax.bar([i + k * width for i in range(len(classes))], shares, width, label=name)
    ax.axhline(1 / len(classes), color="k", ls="--", lw=1, label="uniform")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(classes))], classes, rotation=30)
    ax.set(ylabel="share of samples", ylim=(0, 1))
    ax.legend(fontsize=8)
    _title(fig, title, tag)
    return fig


def plot_sweep(rows: dict[str, Sequence[dict]], tag: str | None = None, title: str | None = None):
    """Agreement (conditional generators), coverage and FID (Lite0 features) against one sampling setting (the
    rows of :func:`tslib.endtoend.sampling_sweep`: temperature, guidance or steps), one line per generator; the
    real photos' own values as dotted lines of the same colour."""
    first = next(iter(rows.values()))
    setting = first[0].get("setting", "temperature")
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(15, 3.8), layout="constrained")
    for name, rs in rows.items():
        xs = [r[setting] for r in rs]
        panels = ((a1, "agreement", "real_agreement"), (a2, "coverage", "real_coverage"), (a3, "fid", "real_fid"))
        for ax, key, real in panels:
            if not all(r.get(key) is not None for r in rs):
                continue
            (line,) = ax.plot(xs, [r[key] for r in rs], "-o", label=name)
            if rs[0].get(real) is not None:
                ax.axhline(rs[0][real], ls=":", color=line.get_color(), label=f"{name}: real photos")
    a1.set(xlabel=setting, ylabel="mean agreement", ylim=(0, 1), title="the classifier sees the asked class")
    a2.set(xlabel=setting, ylabel="coverage", ylim=(0, 1), title="real photos covered by the samples")
    a3.set(xlabel=setting, ylabel=f"FID ({first[0]['feature_space']})",
           title="distance to real test images (lower is better)")
    for ax in (a1, a2, a3):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _title(fig, title or f"Sampling {setting}: agreement, coverage and FID", tag)
    return fig


def plot_temperature(rows: dict[str, Sequence[dict]], tag: str | None = None,
                     title: str = "Sampling temperature: agreement, coverage and FID"):
    """:func:`plot_sweep` of a temperature sweep."""
    return plot_sweep(rows, tag, title)


def variety_table(report: dict[str, dict]):
    """:func:`tslib.endtoend.variety_report` as a table, the real photos' row first: a generator's precision,
    recall, coverage and duplicates read against it."""
    cols = ("agreement", "precision", "recall", "density", "coverage", "duplicates")
    return pd.DataFrame([{"images": name, **{c: r.get(c) for c in cols}} for name, r in report.items()]
                        ).set_index("images").round(3)
