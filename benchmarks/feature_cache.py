"""Frozen-backbone head training with and without the feature cache, measured in one run.

    python benchmarks/feature_cache.py [--quick] [--model efficientnet_lite0] [--per-class 16] [--epochs 5]

Trains the same frozen, pretrained backbone + MLP head twice on the procedural dataset: once recomputing backbone
features every epoch, once on cached features (computed once, included in the cached run's total). Prints
per-epoch and end-to-end speed-ups as ratios, and both test accuracies (they should match closely: same data,
same head, same seed; only the augmentation differs, as cached features are of clean images).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.engine import TrainConfig
from tslib.tasks.classify import ClassifyConfig, train_classifier


def mean_epoch_seconds(run: Path) -> float:
    """Mean seconds of the epochs after the first (the first pays for start-up)."""
    with open(run / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    rows = rows[1:] or rows
    return sum(float(r["seconds"]) for r in rows) / len(rows)


def run(quick: bool = False, model: str = "efficientnet_lite0", per_class: int | None = None,
        epochs: int | None = None, img_size: int | None = None, device: str = "auto") -> dict:
    """Per-epoch and end-to-end speed-ups of head training on cached features, and both test accuracies."""
    per_class, epochs = per_class or (8 if quick else 16), epochs or (3 if quick else 5)
    img_size = img_size or (128 if quick else 160)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_procedural(tmp / "data", per_class=per_class, size=img_size)
        prepare(tmp / "prep", intel=tmp / "data" / "intel", landscape=tmp / "data" / "landscape", progress=False)
        results = {}
        for name, cache in (("recompute", False), ("cached", True)):
            cfg = ClassifyConfig(
                manifest=str(tmp / "prep" / "manifest.csv"), model=model, pretrained=True, freeze=True,
                feature_cache=cache, augment=False, img_size=img_size,
                train=TrainConfig(epochs=epochs, batch_size=32, num_workers=0, device=device, progress=False),
            )
            t0 = time.perf_counter()
            metrics = train_classifier(cfg, tmp / name)
            results[name] = {"total_s": time.perf_counter() - t0, "epoch_s": mean_epoch_seconds(tmp / name),
                             "test_acc": metrics["test"]["accuracy"]}
    re, ce = results["recompute"], results["cached"]
    return {"model": model, "epochs": epochs, "img_size": img_size, **results,
            "epoch_speedup": re["epoch_s"] / ce["epoch_s"], "end_to_end": re["total_s"] / ce["total_s"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--per-class", type=int, default=None, help="images per class and source (default 16)")
    ap.add_argument("--epochs", type=int, default=None, help="head epochs (default 5)")
    ap.add_argument("--img-size", type=int, default=None, help="input size (default 160)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    r = run(args.quick, args.model, args.per_class, args.epochs, args.img_size, args.device)
    re, ce = r["recompute"], r["cached"]
    print(f"model {r['model']}, {r['epochs']} epochs, img {r['img_size']}, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print(f"recompute: {re['epoch_s']:.2f} s/epoch, {re['total_s']:.1f} s total, test accuracy {re['test_acc']:.3f}")
    print(f"cached:    {ce['epoch_s']:.3f} s/epoch, {ce['total_s']:.1f} s total (features computed once), test "
          f"accuracy {ce['test_acc']:.3f}")
    print(f"head-training speed-up per epoch: {r['epoch_speedup']:.0f}x; end to end: {r['end_to_end']:.1f}x")
    print(f"feature_cache_speedup: {r['epoch_speedup']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
