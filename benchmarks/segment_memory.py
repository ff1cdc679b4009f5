"""Whole-image segmentation: speed (megapixels/s) and peak memory against image size, each size in its own process.

    python benchmarks/segment_memory.py [--quick] [--sizes 2048 4096 8192] [--window 512] [--device cpu]

A UNet (random weights: speed and memory do not depend on them) segments a square image of each size with
`tslib.tasks.segment.sliding.segment_file` (25% overlap, maps written band by band). Peak memory is the process's
maximum resident set size, minus the image's own uint8 array (3 bytes/pixel, decoded once), which is printed
separately: what must stay flat is everything else.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
import numpy as np, torch
from PIL import Image
from tslib.models import create_model
from tslib.tasks.segment.sliding import segment_file
from tslib.data.landcover import CLASSES, PALETTE
size, window, device, width, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
torch.manual_seed(0)
model = create_model("unet", task="segment", num_classes=5, depth=4, width=width)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
segment_file(model, f"{out}/image.png", out, CLASSES, np.asarray(PALETTE, np.uint8), window=window, device=device)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "base_mib": base / 1024, "peak_mib": peak / 1024}))
"""


def write_image(path: Path, size: int) -> None:
    """A square RGB test image that compresses well (a repeated 256 px pattern), written without a full copy."""
    import numpy as np

    from tslib.data.pngstream import PngWriter

    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    row = np.tile(pattern, (1, -(-size // 256), 1))[:, :size]
    with PngWriter(path, size, size, 3) as png:
        for top in range(0, size, 256):
            png.write(row[: min(256, size - top)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and a narrow UNet (a minute on 2 cores)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=None, help="UNet width (default 32; 8 with --quick)")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([1024, 2048, 4096] if args.quick else [2048, 4096, 8192, 10240])
    width = args.width or (8 if args.quick else 32)
    print(f"UNet width {width}, window {args.window}, device {args.device}")
    print(f"{'side px':>8s} {'Mpx':>7s} {'Mpx/s':>7s} {'peak MiB':>9s} {'image MiB':>10s} {'rest MiB':>9s}")
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            write_image(Path(tmp) / "image.png", size)
            out = subprocess.run([sys.executable, "-c", CHILD, str(size), str(args.window), args.device, str(width),
                                  tmp], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
        mpx, image_mib = size * size / 1e6, size * size * 3 / 2**20
        rest = r["peak_mib"] - r["base_mib"] - image_mib
        rows.append(rest)
        print(f"{size:8d} {mpx:7.1f} {mpx / r['seconds']:7.2f} {r['peak_mib']:9.0f} {image_mib:10.0f} {rest:9.0f}",
              flush=True)
    print(f"memory_growth_beyond_image: {rows[-1] / max(rows[0], 1):.2f}x from {sizes[0]} to {sizes[-1]} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
