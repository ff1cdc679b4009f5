"""Whole segmented images as ``segment`` wrote them: the image, its class map and the overlay side by side, shrunk
for display, with a scale bar where the image has a place on Earth, and the per-class areas as a table."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .common import title as _title
from .segment import colour_mask, legend


def thumbnail(path: str | Path, max_side: int, nearest: bool = False) -> np.ndarray:
    """[h, w, C] uint8 of an image (GeoTIFFs through rasterio, decimated on read) at most ``max_side`` a side;
    ``nearest`` for class maps (no invented classes)."""
    import rasterio
    from rasterio.enums import Resampling

    from ..data.georaster import open_dataset

    with open_dataset(Path(path)) as ds:
        scale = min(1.0, max_side / max(ds.width, ds.height))
        shape = (min(ds.count, 3), max(1, round(ds.height * scale)), max(1, round(ds.width * scale)))
        with rasterio.Env(GDAL_PAM_ENABLED=False):  # no .aux.xml beside the user's files
            data = ds.read(list(range(1, shape[0] + 1)), out_shape=shape,
                           resampling=Resampling.nearest if nearest else Resampling.bilinear)
    return np.moveaxis(data, 0, -1)


def scale_bar(ax, metres_per_pixel: float, width_px: int) -> None:
    """A bar of a round length (1, 2 or 5 x 10^k m) about a fifth of the panel wide, bottom left."""
    target = width_px * metres_per_pixel / 5
    length = min((m * 10**k for k in range(-1, 6) for m in (1, 2, 5)), key=lambda v: abs(v - target))
    px = length / metres_per_pixel
    x0, y0 = width_px * 0.04, ax.get_ylim()[0] * 0.94
    ax.plot([x0, x0 + px], [y0, y0], color="white", lw=5, solid_capstyle="butt")
    ax.plot([x0, x0 + px], [y0, y0], color="black", lw=2, solid_capstyle="butt")
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(x0 + px / 2, y0 * 0.97, label, ha="center", va="bottom", fontsize=9, color="black",
            bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})


def area_table(result: dict) -> pd.DataFrame:
    """Per class (and total): pixels, share %, and hectares where the CRS gives areas."""
    rows = {**result["classes"], "total": result["total"]}
    frame = pd.DataFrame({c: {"pixels": v["pixels"], "share %": 100 * v["share"],
                              **({"area ha": v["area_ha"]} if "area_ha" in v else {})} for c, v in rows.items()}).T
    return frame.astype({"pixels": int}).round(2)


def plot_map(result: dict, tag: str | None = None, max_side: int = 1200):
    """A whole image segmented by ``tslib segment``/``segment_file``: image, class colours and overlay, shrunk to
    ``max_side`` pixels, the class shares (and hectares) in the legend, a scale bar when georeferenced."""
    from ..data.masks import default_palette

    files = result["files"]
    image, overlay = thumbnail(result["image"], max_side), thumbnail(files["overlay"], max_side)
    classes = thumbnail(files["classes"], max_side, nearest=True)[..., 0]
    per_class = result.get("classes") or {c: {"share": v} for c, v in result["class_share"].items()}  # older files
    colours = np.asarray(result.get("colours") or default_palette(len(per_class)), np.uint8)
    panels = [("image", image), ("classes", colour_mask(classes, colours)), ("overlay", overlay)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), layout="constrained")
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img if img.shape[-1] == 3 else img[..., 0], cmap=None if img.shape[-1] == 3 else "gray")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    m2 = result.get("pixel_area_m2")
    if m2:
        scale_bar(axes[0], np.sqrt(m2) * result["width"] / classes.shape[1], classes.shape[1])
    labels = [f"{c} {v['area_ha']:.1f} ha ({v['share']:.1%})" if "area_ha" in v else f"{c} {v['share']:.1%}"
              for c, v in per_class.items()]
    legend(axes[1], labels, colours, loc="upper left", bbox_to_anchor=(0, -0.02), ncol=3, fontsize=8)
    crs = (result.get("georef") or {}).get("crs")
    where = f", {crs}" if crs else ""
    _title(fig, f"{Path(result['image']).name}: {result['width']}x{result['height']} px segmented{where}", tag)
    return fig
