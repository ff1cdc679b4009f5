"""Frozen-backbone head training with and without the feature cache, measured in one run.

    python benchmarks/feature_cache.py [--model efficientnet_lite0] [--per-class 16] [--epochs 5] [--img-size 160]

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
    with open(run / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    return sum(float(r["seconds"]) for r in rows) / len(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--per-class", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--img-size", type=int, default=160)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_procedural(tmp / "data", per_class=args.per_class, size=args.img_size)
        prepare(tmp / "prep", intel=tmp / "data" / "intel", landscape=tmp / "data" / "landscape", progress=False)
        results = {}
        for name, cache in (("recompute", False), ("cached", True)):
            cfg = ClassifyConfig(
                manifest=str(tmp / "prep" / "manifest.csv"), model=args.model, pretrained=True, freeze=True,
                feature_cache=cache, augment=False, img_size=args.img_size,
                train=TrainConfig(epochs=args.epochs, batch_size=32, num_workers=0, device=args.device, progress=False),
            )
            t0 = time.perf_counter()
            metrics = train_classifier(cfg, tmp / name)
            results[name] = (time.perf_counter() - t0, mean_epoch_seconds(tmp / name), metrics["test"]["accuracy"])
    (rt, re, ra), (ct, ce, ca) = results["recompute"], results["cached"]
    print(f"model {args.model}, {args.epochs} epochs, img {args.img_size}, device {torch.device('cuda' if torch.cuda.is_available() else 'cpu')}")
    print(f"recompute: {re:.2f} s/epoch, {rt:.1f} s total, test accuracy {ra:.3f}")
    print(f"cached:    {ce:.3f} s/epoch, {ct:.1f} s total (features computed once), test accuracy {ca:.3f}")
    print(f"head-training speed-up per epoch: {re / ce:.0f}x; end to end: {rt / ct:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
