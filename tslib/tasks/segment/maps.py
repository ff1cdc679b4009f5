"""Whole image files in, map files out: one orthophoto (or any image) segmented by sliding windows into a class
map, a colour map and an overlay, with per-class pixel counts, shares and areas.

The input is read window by window (:func:`tslib.data.georaster.open_raster`). A georeferenced input (a CRS and an
affine transform, e.g. a Landcover.ai GeoTIFF) gives ``<stem>_classes.tif``, a paletted GeoTIFF with the input's
CRS and transform that GIS tools lay exactly on the input; other inputs give PNGs (``fmt`` chooses). Every file
is written band by band under a ``.part`` name and renamed when complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from ...data.classtiff import ClassTiffWriter
from ...data.georaster import GeoRef, open_raster, pixel_area
from ...data.pngstream import PngWriter
from ...errors import check_out_dir
from ...utils import atomic_write_text
from .sliding import iter_class_bands

#: Output formats of the class map: a paletted GeoTIFF, or PNGs (class indices and the palette's colours).
FORMATS = ("tif", "png")


def colourize(classes: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """[H, W] class indices -> [H, W, 3] palette colours (values past the palette are black)."""
    table = np.zeros((256, 3), np.uint8)
    table[: len(colours)] = np.asarray(colours, np.uint8)
    return table[classes]


def class_areas(counts: np.ndarray, classes: Sequence[str], georef: GeoRef) -> dict:
    """Per class and in total: pixels, share and (projected CRS only) area in m² and ha; ``area_note`` says why
    areas are missing when they are."""
    m2, note = pixel_area(georef)
    total = int(counts[:len(classes)].sum())

    def entry(pixels: int) -> dict:
        e = {"pixels": pixels, "share": pixels / total if total else 0.0}
        if m2 is not None:
            e.update(area_m2=pixels * m2, area_ha=pixels * m2 / 1e4)
        return e

    out = {"classes": {c: entry(int(counts[i])) for i, c in enumerate(classes)}, "total": entry(total)}
    out["pixel_area_m2"], out["area_note"] = m2, note
    return out


def segment_file(model: nn.Module, image_path: str | Path, out_dir: str | Path, classes: Sequence[str],
                 colours: np.ndarray, alpha: float = 0.45, fmt: str | None = None,
                 bands: Sequence[int] | None = None, **kwargs) -> dict:
    """Segment one image file into ``out_dir``. ``fmt``: ``"tif"`` (``<stem>_classes.tif``, georeferenced when
    the input is) or ``"png"`` (``<stem>_classes.png`` + ``<stem>_colour.png``); default ``tif`` for a
    georeferenced input, else ``png``. Both also write ``<stem>_overlay.png`` (the palette over the image).
    ``bands``: 1-based red, green, blue bands of a multi-band raster. Other options go to
    :func:`~tslib.tasks.segment.sliding.iter_bands`. Returns sizes, files, class shares and areas, georeference."""
    image_path, out_dir = Path(image_path), Path(out_dir)
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not image_path.is_file():
        raise FileNotFoundError(f"{image_path}: no such image")
    image, georef = open_raster(image_path, bands)  # read band by band where GDAL can, else decoded whole
    try:
        return _segment_into(model, image, georef, image_path, out_dir, classes, colours, alpha,
                             fmt or ("tif" if georef.georeferenced else "png"), **kwargs)
    finally:
        if hasattr(image, "close"):
            image.close()


def _segment_into(model: nn.Module, image, georef: GeoRef, image_path: Path, out_dir: Path,
                  classes: Sequence[str], colours: np.ndarray, alpha: float, fmt: str, **kwargs) -> dict:
    import cv2

    check_out_dir(out_dir).mkdir(parents=True, exist_ok=True)
    height, width = image.shape[:2]
    stem = image_path.stem
    keys = ("classes", "overlay") if fmt == "tif" else ("classes", "colour", "overlay")
    paths = {k: out_dir / f"{stem}_{k}.{fmt if k == 'classes' else 'png'}" for k in keys}
    writers: dict = {}
    counts = np.zeros(256, np.int64)
    try:  # from the first file opened: an interruption anywhere leaves no .part file behind
        for key in keys:
            if key == "classes" and fmt == "tif":
                writers[key] = ClassTiffWriter(paths[key], width, height, georef, classes, colours)
            else:
                writers[key] = PngWriter(paths[key], width, height, 1 if key == "classes" else 3)
        for top, labels in iter_class_bands(model, image, **kwargs):
            colour = colourize(labels, colours)
            rows = np.ascontiguousarray(image[top:top + len(labels)])
            writers["classes"].write(labels)
            if "colour" in writers:
                writers["colour"].write(colour)
            # uint8 in, uint8 out (rounded, saturated): no float copies of the band
            writers["overlay"].write(cv2.addWeighted(rows, 1 - alpha, colour, alpha, 0.0))
            counts += np.bincount(labels.ravel(), minlength=256)
        for w in writers.values():
            w.close()  # each renames its finished file into place
    except BaseException:
        for w in writers.values():
            w.abort()
        for path in paths.values():  # a writer cut off inside its constructor has no object to abort
            for part in (f"{path}.part", f"{path}.tiled.part"):
                Path(part).unlink(missing_ok=True)
        raise
    areas = class_areas(counts, classes, georef)
    return {"image": str(image_path), "width": width, "height": height, "format": fmt,
            "files": {k: str(p) for k, p in paths.items()},
            "class_share": {c: v["share"] for c, v in areas["classes"].items()}, **areas,
            "georef": georef.describe(), "colours": np.asarray(colours).tolist()}


def format_areas(result: dict) -> str:
    """``woodland 412.7 ha (38.1%)  water ...``: areas where the CRS gives them, shares always."""
    parts = []
    for c, v in result["classes"].items():
        parts.append(f"{c} {v['area_ha']:.1f} ha ({v['share']:.1%})" if "area_ha" in v else f"{c} {v['share']:.1%}")
    return "  ".join(parts)


def write_summary(results: list[dict], out_dir: str | Path) -> Path:
    """``segment.json`` in ``out_dir``: one entry per image (size, files, georeference, per-class pixels, shares
    and areas, the totals)."""
    path = Path(out_dir) / "segment.json"
    atomic_write_text(path, json.dumps(results, indent=2))
    return path
