"""Segmenters side by side at one wall-time budget: test mIoU and per-class IoU against the from-scratch UNet.

    python benchmarks/segmenters.py --landcover ROOT --out DIR [--models unet,smp_unet,fpn,deeplabv3plus]
        [--minutes 3] [--img-size 192] [--width 16] [--batch-size 8] [--limit-tiles 40] [--class-weights]
    python benchmarks/segmenters.py --images IMGS --masks MASKS [--classes a,b,c | --palette P.json] --out DIR ...

ROOT is a Landcover.ai folder after ``prepare-landcover`` (or procedural maps from ``synth --aerial``); ``--images``
/``--masks`` are your own data, as ``train --task segment`` takes them. Every model trains through the public API
(``SegmentConfig`` + ``train_segmenter``) with the same data, crop, batch, seed and budget (``max_minutes``: the
epoch that ends past it is the last); the pretrained ones load the offline ImageNet Lite weights. One markdown row
per model: epochs done, wall seconds, test mIoU, each class's IoU, and its mIoU minus the first model's (so the first
model, ``unet`` by default, is the baseline the others are measured against, in one run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PRETRAINED = {"smp_unet", "fpn", "deeplabv3plus"}


def run_one(model: str, args: argparse.Namespace) -> dict:
    from tslib.engine import TrainConfig
    from tslib.tasks.segment import SegmentConfig, train_segmenter

    train = TrainConfig(epochs=args.max_epochs, batch_size=args.batch_size, lr=args.lr, num_workers=args.workers,
                        seed=args.seed, max_minutes=args.minutes, progress=False)
    cfg = SegmentConfig(landcover=args.landcover, images=args.images, masks=args.masks, classes=args.classes,
                        palette=args.palette, model=model, pretrained=model in PRETRAINED, img_size=args.img_size,
                        width=args.width, depth=args.depth,
                        class_weights=args.class_weights, limit_tiles=args.limit_tiles, train=train)
    out = Path(args.out) / model
    start = time.perf_counter()
    metrics = train_segmenter(cfg, out)
    with open(out / "history.csv") as f:
        epochs = sum(1 for _ in f) - 1
    return {"model": model, "epochs": epochs, "seconds": time.perf_counter() - start, **metrics["test"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--landcover")
    p.add_argument("--images")
    p.add_argument("--masks")
    p.add_argument("--classes")
    p.add_argument("--palette")
    p.add_argument("--out", required=True)
    p.add_argument("--models", default="unet,smp_unet,fpn,deeplabv3plus")
    p.add_argument("--minutes", type=float, default=3.0, help="wall-time budget per model")
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--img-size", type=int, default=192)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=4, help="UNet levels / smp encoder stages")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--limit-tiles", type=int, default=40)
    p.add_argument("--class-weights", action="store_true")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = [run_one(m.strip(), args) for m in args.models.split(",") if m.strip()]
    classes = list(rows[0]["per_class_iou"])
    print(f"budget {args.minutes} min per model, {args.img_size} px crops, width {args.width}, batch "
          f"{args.batch_size}, {args.limit_tiles} train/val tiles, class weights {args.class_weights}; test tiles, %")
    print("| model | epochs | seconds | test mIoU | " + " | ".join(classes) + f" | vs {rows[0]['model']} |")
    print("|---" * (len(classes) + 5) + "|")
    for r in rows:
        ious = " | ".join("–" if r["per_class_iou"][c] is None else f"{100 * r['per_class_iou'][c]:.1f}"
                          for c in classes)  # None: the class is absent from the test tiles
        print(f"| `{r['model']}` | {r['epochs']} | {r['seconds']:.0f} | {100 * r['miou']:.1f} | {ious} | "
              f"{100 * (r['miou'] - rows[0]['miou']):+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
