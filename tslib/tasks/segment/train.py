"""Training a segmenter end to end: data (checked up front), UNet, the engine, export, val/test metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ...data.loaders import make_loader
from ...data.masks import default_palette, parse_class_names
from ...data.memory import decide_cache
from ...engine import fit, runs
from ...models import create_model
from ...models.registry import accepted_kwargs
from .config import SegmentConfig
from .data import config_dataset, fill_index, infer_classes
from .evaluate import evaluate_run
from .task import SegmentationTask


def median_frequency_weights(pixels: np.ndarray) -> torch.Tensor:
    """w_c = median(freq) / freq_c over classes present (absent classes get 0)."""
    freq = pixels / max(1, pixels.sum())
    present = freq > 0
    w = np.zeros_like(freq)
    w[present] = np.median(freq[present]) / freq[present]
    return torch.tensor(w, dtype=torch.float32)


@runs.training_run
def train_segmenter(cfg: SegmentConfig, run_dir: str | Path, resume: bool | str = False,
                    callbacks: Sequence[Callable[[dict], None]] = ()) -> dict:
    """Train, keep the best epoch by val mIoU, export ``model.pt``, evaluate val and test; returns metrics."""
    run_dir, resume, device = runs.start_run(run_dir, cfg, resume)
    train = config_dataset(cfg, "train", train=True)
    named, named_colours = parse_class_names(cfg.classes) if cfg.classes else (None, None)
    classes = train.classes or named or infer_classes(train)
    train.classes = classes
    data = {"train": train, "val": config_dataset(cfg, "val", classes=classes)}
    try:
        data["test"] = config_dataset(cfg, "test", classes=classes)
    except ValueError as e:
        if "is empty" not in str(e):
            raise
    colours = train.colours if train.colours is not None else named_colours if named_colours is not None \
        else default_palette(len(classes))
    for ds in data.values():
        ds.colours = colours
    # Every mask of every split is read once now: a bad one (wrong size, a value that is no class) is reported
    # before training, not after the first epoch.
    pixels = train.class_pixels()
    for split in ("val", "test"):
        if split in data:
            data[split].class_pixels()
    for split in ("train", "val"):  # decoded once where they fit (the test split is scored once)
        if decide_cache(cfg.decode_cache, data[split].decoded_bytes(), f"the {split} tiles"):
            data[split].warm_cache(cfg.train.progress)
    model = create_model(cfg.model, task="segment", num_classes=len(classes), depth=cfg.depth, width=cfg.width,
                         pretrained=cfg.pretrained, **accepted_kwargs(cfg.model, encoder=cfg.encoder))
    runs.write_run_info(run_dir, "segment", cfg, model=model, classes=classes,
                        colours=np.asarray(colours).tolist(),
                        class_pixels=pixels.tolist())
    weights = median_frequency_weights(pixels) if cfg.class_weights else None
    task = SegmentationTask(classes, fill_index(cfg.ignore_index), weights, cfg.dice_weight)
    t = cfg.train
    loaders = [make_loader(data[s], t.batch_size, train=s == "train", seed=t.seed, num_workers=t.num_workers,
                           device=device) for s in ("train", "val")]
    result = fit(model, task, *loaders, t, run_dir, callbacks=callbacks, resume=resume, meta={"classes": classes},
                 extra_config={"segment": runs.to_dict(cfg)})
    runs.restore_best(result, run_dir, model)
    runs.save_model(run_dir, model, classes=classes)
    return evaluate_run(run_dir, [s for s in ("val", "test") if s in data], model=model)
