"""Classification's part of the results page (``python -m tslib report``): scores, test confusion, curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...report import manifest_tag, part, split_table
from ...viz import classify as viz


def data_tag(config: dict) -> tuple[str, str | None]:
    """The data the run was trained on, from its prepared manifest's ``report.json``."""
    return manifest_tag(config)


def plot_curves(run: Path, tag: str | None = None):
    return viz.plot_history(run, tag)


def sections(run: Path, info: dict, metrics: dict, tag: str | None, maps: Sequence[Path] = ()) -> list[str]:
    return [part("scores", lambda: split_table(metrics, ("accuracy", "macro_f1", "n"))),
            part("confusion matrix (test)", lambda: viz.plot_confusion(metrics["test"], info["classes"], tag)),
            part("training curves", lambda: plot_curves(run, tag))]
