"""Landcover.ai tiling: seconds per orthophoto, ``tslib.data.landcover.tile_orthophoto`` against a naive PIL
crop-and-save loop writing the same tiles (512 px JPEG images, PNG masks).

    python benchmarks/tiling.py [--quick] [--height 9000 --width 9500]

One procedural orthophoto at the dataset's full 25 cm size (9000x9500; --quick: 4096x4608) with its mask, in the
Landcover.ai layout. Each side writes into an empty folder; the tiles are then compared (same names and count).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def naive_tiles(image: Path, mask: Path, out: Path, size: int = 512) -> int:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # the orthophotos are larger than PIL's bomb limit
    img, msk = Image.open(image).convert("RGB"), Image.open(mask).convert("RGB")
    k = n = 0
    for y in range(0, img.height, size):
        for x in range(0, img.width, size):
            if y + size <= img.height and x + size <= img.width:
                box = (x, y, x + size, y + size)
                img.crop(box).save(out / f"{image.stem}_{k}.jpg", quality=95)
                msk.crop(box).save(out / f"{image.stem}_{k}_m.png")
                n += 1
            k += 1
    return n


def run(quick: bool = False, height: int | None = None, width: int | None = None) -> dict:
    from tslib.data.aerial import write_aerial
    from tslib.data.landcover import tile_orthophoto

    height, width = height or (4096 if quick else 9000), width or (4608 if quick else 9500)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_aerial(Path(tmp) / "lc", n_images=1, height=height, width=width)
        image = next((root / "images").glob("*.tif"))
        mask = root / "masks" / image.name
        (a := Path(tmp) / "naive").mkdir()
        (b := Path(tmp) / "tslib").mkdir()
        t = time.perf_counter()
        n_naive = naive_tiles(image, mask, a)
        naive = time.perf_counter() - t
        t = time.perf_counter()
        written, _ = tile_orthophoto(image, mask, b)
        ours = time.perf_counter() - t
        if written != n_naive or sorted(p.name for p in a.iterdir()) != sorted(p.name for p in b.iterdir()):
            raise SystemExit(f"the two sides wrote different tiles ({n_naive} vs {written})")
    return {"size": f"{width}x{height}", "tiles": written, "naive_s": naive, "tslib_s": ours, "speedup": naive / ours}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--height", type=int, default=None)
    ap.add_argument("--width", type=int, default=None)
    args = ap.parse_args(argv)
    r = run(args.quick, args.height, args.width)
    print(f"orthophoto {r['size']} ({r['tiles']} tiles): naive PIL loop {r['naive_s']:.1f} s, tslib "
          f"{r['tslib_s']:.1f} s, {r['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
