"""Segmentation's part of the results page: mIoU and pixel accuracy, per-class IoU, test confusion, curves and
the whole images segmented from the run (its ``segment.json`` files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...viz import segment as viz
from ...viz.page import frame, part, segment_maps, split_table


def data_tag(config: dict) -> tuple[str, str | None]:
    """Landcover.ai, the procedural aerial maps (the folder's marker file says so) or the user's own images."""
    from ...data.aerial import AERIAL_MARKER
    from ...data.workspace import AERIAL_TAG

    if not config.get("landcover"):
        return ("own images" if config.get("images") else "–"), None
    if (Path(config["landcover"]) / AERIAL_MARKER).is_file():
        return "PROCEDURAL aerial", AERIAL_TAG
    return "Landcover.ai", None


def plot_curves(run: Path, tag: str | None = None):
    return viz.plot_history(run, tag)


def sections(run: Path, info: dict, metrics: dict, tag: str | None, maps: Sequence[Path] = ()) -> list[str]:
    return [part("scores", lambda: split_table(metrics, ("miou", "pixel_accuracy"))),
            part("per-class IoU", lambda: frame(viz.iou_table({run.name: metrics}))),
            part("confusion (test)", lambda: viz.plot_confusion(metrics["test"], tag)),
            part("training curves", lambda: plot_curves(run, tag)),
            *segment_maps(maps, tag)]
