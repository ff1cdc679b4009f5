"""A finished segmentation run: mIoU, per-class IoU/F1, pixel accuracy and confusion on its splits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ...data.loaders import make_loader
from ...engine import runs
from ...engine.inference import flip_tta
from ...utils import resolve_device
from .. import load_run
from .config import SegmentConfig
from .data import config_dataset, fill_index
from .metrics import confusion, segmentation_metrics


def load_segmenter(run_dir: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """The trained segmenter of a run folder (eval mode) and its run info (:func:`tslib.tasks.load_run`)."""
    return load_run(run_dir, "segment", device)


@torch.no_grad()
def evaluate_run(run_dir: str | Path, splits: Sequence[str] = ("test",), model: nn.Module | None = None,
                 tta: bool | None = None, device: str | None = None) -> dict:
    """Metrics per split (``tta``: average with the horizontal flip, flipped back), merged into metrics.json."""
    info = runs.read_run_info(run_dir)
    cfg = runs.load_config(run_dir, SegmentConfig)
    dev = resolve_device(device or cfg.train.device)
    if model is None:
        model, _ = load_segmenter(run_dir, str(dev))
    model.eval().to(dev)
    classes = info["classes"]
    new = {}
    for split in splits:
        loader = make_loader(config_dataset(cfg, split, classes=classes), cfg.train.batch_size,
                             num_workers=cfg.train.num_workers, device=dev)
        conf = torch.zeros(len(classes), len(classes), dtype=torch.long)
        for batch in loader:
            x = batch["image"].to(dev)
            logits = flip_tta(lambda t: model(t).float().softmax(1), x, dense=True) if tta else model(x)
            conf += confusion(logits.argmax(1).cpu(), batch["mask"], len(classes), fill_index(cfg.ignore_index))
        new[f"{split}_tta" if tta else split] = segmentation_metrics(conf, classes)
    return runs.merge_metrics(run_dir, new)
