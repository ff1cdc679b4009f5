"""The README's figure from your runs: real test images per class beside a generator's samples of that class, and a
whole orthophoto segmented by a segmentation run, each panel labelled with the data it came from.

    python docs/assets/make_figure.py --generator RUN --segmenter RUN --orthophoto FILE [--out docs/assets/overview.png]

The committed figure was drawn from runs on the built-in procedural data (a ddpm at 32 px trained 15 minutes, an smp
FPN 4 minutes, both on 2 CPU cores), which its caption says.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from tslib.engine import runs
    from tslib.tasks.generate import GenerateConfig, load_generator, sample
    from tslib.tasks.generate.evaluate import real_images
    from tslib.tasks.segment import load_segmenter
    from tslib.tasks.segment.maps import segment_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", required=True, type=Path, help="a finished conditional generator run")
    ap.add_argument("--segmenter", required=True, type=Path, help="a finished segmentation run")
    ap.add_argument("--orthophoto", required=True, type=Path, help="an orthophoto to segment")
    ap.add_argument("--per-class", type=int, default=3, help="real and generated images per class (default 3)")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("overview.png"))
    ap.add_argument("--tag", default="procedural data", help="what the data was, for the panel titles")
    args = ap.parse_args(argv)

    model, info = load_generator(args.generator)
    cfg = runs.load_config(args.generator, GenerateConfig)
    classes, k = info["classes"], args.per_class
    real, labels = real_images(cfg, "test", classes)
    seg, seg_info = load_segmenter(args.segmenter)
    with tempfile.TemporaryDirectory() as tmp:
        result = segment_file(seg, args.orthophoto, tmp, seg_info["classes"], seg_info["colours"], fmt="png")
        overlay = Image.open(result["files"]["overlay"]).convert("RGB")
        overlay.thumbnail((900, 900))

    fig = plt.figure(figsize=(12, 5.6))
    grid = fig.add_gridspec(len(classes), 2 * k + 2 + 2 * k, wspace=0.05, hspace=0.08)
    for row, name in enumerate(classes):
        mine = real[labels == row][:k]
        fake = sample(model, info, k, name, seed=0)[0]
        for col in range(k):
            for offset, images in ((0, mine), (k + 1, fake)):
                ax = fig.add_subplot(grid[row, offset + col])
                if col < len(images):
                    ax.imshow(images[col].permute(1, 2, 0).clamp(0, 1).numpy())
                ax.set_xticks([]), ax.set_yticks([])
                if col == 0 and offset == 0:
                    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
                if row == 0 and col == k // 2:
                    ax.set_title("real" if offset == 0 else f"generated ({info['model']['name']})", fontsize=10)
    ax = fig.add_subplot(grid[:, 2 * k + 2:])
    ax.imshow(overlay)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"segmented orthophoto ({seg_info['model']['name']})", fontsize=10)
    ax.set_xlabel(", ".join(seg_info["classes"]), fontsize=9)
    fig.suptitle(f"TerraSculpt on {args.tag}", fontsize=12)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90, bbox_inches="tight")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    torch.manual_seed(0)
    sys.exit(main())
