"""Orthophoto I/O: rasterio windowed band reads against a whole decode, and the GeoTIFF class map against PNGs.

    python benchmarks/raster_read.py [--quick] [--size 6144]

For each TIFF layout orthophotos come in (deflate tiles, LZW strips, JPEG strips), a square RGB image is read top to
bottom in bands of 512 rows every 384 (what the sliding windows ask for) by ``tslib.data.georaster.RasterRows``,
and decoded whole by tifffile (the most a reader that cannot read in parts needs); then a class map of the same
size is written band by band as the paletted COG GeoTIFF ``segment`` writes (``ClassTiffWriter``) and as the class
PNG (``PngWriter``). Seconds are the best of two; the last line is ``raster_read_vs_whole: X`` (whole-decode time /
windowed time, geometric mean over the layouts). Memory is not measured here: ``segment_memory.py`` does that for
the whole command.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _image(size: int) -> np.ndarray:
    """Smooth gradients plus a little noise: compresses like an aerial photo, not like noise or a flat colour."""
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(0)
    planes = [(xx // 3 + yy // 5) % 256, (yy // 2) % 256, ((xx ^ yy) // 7) % 256]
    img = np.stack(planes, -1).astype(np.int16) + rng.integers(-6, 7, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def best(fn, repeats: int = 2) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(size: int) -> list[dict]:
    import tifffile
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from tslib.data.classtiff import ClassTiffWriter
    from tslib.data.georaster import GeoRef, RasterRows
    from tslib.data.pngstream import PngWriter

    image = _image(size)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in (("deflate tiles 256", dict(compression="zlib", tile=(256, 256))),
                         ("LZW strips 16", dict(compression="lzw", rowsperstrip=16)),
                         ("JPEG strips 16", dict(compression="jpeg", rowsperstrip=16))):
            path = Path(tmp) / "ortho.tif"
            tifffile.imwrite(path, image, photometric="rgb", **kw)

            def windowed(path=path):
                with RasterRows(path) as r:
                    for top in range(0, size, 384):
                        r[top:top + 512]

            rows.append({"what": f"read {name}", "windowed_s": best(windowed),
                         "whole_s": best(lambda path=path: tifffile.imread(path))})
        labels = (image[..., 0] // 52).astype(np.uint8)
        ref = GeoRef(CRS.from_epsg(2180), from_origin(0, 0, 0.25, 0.25))
        colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8)

        def write(writer):
            for top in range(0, size, 384):
                writer.write(labels[top:top + 384])
            writer.close()

        tif = best(lambda: write(ClassTiffWriter(Path(tmp) / "c.tif", size, size, ref, list("abcde"), colours)))
        png = best(lambda: write(PngWriter(Path(tmp) / "c.png", size, size, 1)))
        rows.append({"what": "write class map", "tif_s": tif, "png_s": png,
                     "tif_mib": (Path(tmp) / "c.tif").stat().st_size / 2**20,
                     "png_mib": (Path(tmp) / "c.png").stat().st_size / 2**20})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 2048 px image instead of --size")
    ap.add_argument("--size", type=int, default=6144)
    args = ap.parse_args(argv)
    size = 2048 if args.quick else args.size
    rows = run(size)
    print(f"{size} x {size} px RGB")
    ratios = []
    for r in rows:
        if "windowed_s" in r:
            ratios.append(r["whole_s"] / r["windowed_s"])
            print(f"{r['what']:>24s}: windowed (rasterio) {r['windowed_s']:6.2f} s, whole (tifffile) "
                  f"{r['whole_s']:6.2f} s, {ratios[-1]:.2f}x")
        else:
            print(f"{r['what']:>24s}: COG GeoTIFF {r['tif_s']:6.2f} s ({r['tif_mib']:.1f} MiB), "
                  f"PNG {r['png_s']:6.2f} s ({r['png_mib']:.1f} MiB), {r['png_s'] / r['tif_s']:.2f}x")
    print(f"raster_read_vs_whole: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
