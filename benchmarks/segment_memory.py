"""Whole-image segmentation: speed (megapixels/s) and peak memory against image size, each size in its own process.

    python benchmarks/segment_memory.py [--quick] [--sizes 2048 4096 8192 10240] [--format tif|png] [--device cpu]

A UNet (random weights: speed and memory do not depend on them) segments a square image of each size with
`tslib.tasks.segment.sliding.segment_file` (25% overlap, maps written band by band). The input is a tiled TIFF
(as orthophotos are stored), read band by band, or with --format png a PNG, decoded whole. Peak memory is the
process's maximum resident set size (Python, torch and the model included); "image MiB" is what a whole decode
of the input would take (3 bytes/pixel), for comparison.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from memory import RSS_SOURCE  # a sibling module (benchmarks/ is on sys.path)

CHILD = RSS_SOURCE + """
import json, sys, time
import numpy as np, torch
from PIL import Image
from tslib.models import create_model
from tslib.tasks.segment.maps import segment_file
from tslib.data.landcover import CLASSES, PALETTE
size, window, device, width, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
# sys.argv[6]: the image (a striped TIFF is read band by band; a PNG is decoded whole)
torch.manual_seed(0)
model = create_model("unet", task="segment", num_classes=5, depth=4, width=width)
base = rss_mib("VmRSS")  # Python, torch and the model
t = time.perf_counter()
segment_file(model, sys.argv[6], out, CLASSES, np.asarray(PALETTE, np.uint8), window=window, device=device)
seconds = time.perf_counter() - t
peak = rss_mib("VmHWM")
print(json.dumps({"seconds": seconds, "base_mib": base, "peak_mib": peak}))
"""


def write_image(path: Path, size: int) -> None:
    """A square RGB test image that compresses well (a repeated 256 px pattern), written without a full copy:
    a PNG band by band, or a TIFF in deflate tiles of 256 px (orthophotos are stored in tiles or strips)."""
    import numpy as np

    rng = np.random.default_rng(0)
    pattern = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    if path.suffix == ".tif":  # deflate tiles of 256 px, written one by one (tifffile takes tiles from an iterator)
        import tifffile

        n = -(-size // 256)
        tifffile.imwrite(path, data=(pattern for _ in range(n * n)), shape=(size, size, 3), dtype=np.uint8,
                         photometric="rgb", compression="zlib", tile=(256, 256))
        return
    row = np.tile(pattern, (1, -(-size // 256), 1))[:, :size]
    bands = (row[: min(256, size - top)] for top in range(0, size, 256))
    from tslib.data.pngstream import PngWriter

    with PngWriter(path, size, size, 3) as png:
        for band in bands:
            png.write(band)


def run(quick: bool = False, sizes: list[int] | None = None, window: int = 512, device: str = "cpu",
        width: int | None = None, fmt: str = "tif") -> list[dict]:
    """One row per image size: Mpx/s, peak RSS, the decoded image's own MiB and the rest."""
    sizes = sizes or ([1024, 2048, 4096] if quick else [2048, 4096, 8192, 10240])
    width = width or (8 if quick else 32)
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            image = Path(tmp) / f"image.{fmt}"
            write_image(image, size)
            out = subprocess.run([sys.executable, "-c", CHILD, str(size), str(window), device, str(width), tmp,
                                  str(image)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
        mpx, image_mib = size * size / 1e6, size * size * 3 / 2**20
        rows.append({"size": size, "format": fmt, "mpx": mpx, "mpx_per_s": mpx / r["seconds"],
                     "peak_mib": r["peak_mib"], "image_mib": image_mib, "rest_mib": r["peak_mib"] - r["base_mib"],
                     "width": width, "window": window})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and a narrow UNet (a minute on 2 cores)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=None, help="UNet width (default 32; 8 with --quick)")
    ap.add_argument("--format", choices=("tif", "png"), default="tif",
                    help="input format: a striped TIFF (read band by band) or a PNG (decoded whole)")
    args = ap.parse_args(argv)
    rows = run(args.quick, args.sizes, args.window, args.device, args.width, args.format)
    print(f"UNet width {rows[0]['width']}, window {args.window}, device {args.device}, input {args.format}")
    print(f"{'side px':>8s} {'Mpx':>7s} {'Mpx/s':>7s} {'peak MiB':>9s} {'image MiB':>10s} {'segmenting MiB':>15s}")
    for r in rows:
        print(f"{r['size']:8d} {r['mpx']:7.1f} {r['mpx_per_s']:7.2f} {r['peak_mib']:9.0f} {r['image_mib']:10.0f} "
              f"{r['rest_mib']:15.0f}")
    print(f"peak_memory_growth: {rows[-1]['peak_mib'] / rows[0]['peak_mib']:.2f}x for "
          f"{rows[-1]['mpx'] / rows[0]['mpx']:.0f}x the pixels ({rows[0]['size']} to {rows[-1]['size']} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
