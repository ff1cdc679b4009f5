"""Procedural aerial maps with exact masks, written in the Landcover.ai layout: the offline stand-in for it.

Each orthophoto is drawn from its own RNG (``[seed, index]``). By default ("realistic",
:mod:`tslib.data.aerial_paint`) it looks like a 25 cm orthophoto: textured parcels, tree crowns and roofs with
shadows, roads under trees, turbid water, per-map season and light, labels that wander at class borders.
``difficulty="easy"`` (or ``$TSLIB_PROCEDURAL=easy``) keeps the flat-coloured blobs tests learn quickly: green
and brown fields, woodland, water, roads as curved strokes and red rectangles along them. ``images/*.tif``,
``masks/*.tif`` (class index in every band, like the real masks; the images are GeoTIFFs in EPSG:2180 at
0.25 m, as the real ones) and ``train.txt``/``val.txt``/``test.txt`` (the
512 px tiles split 70/15/15 by a seeded hash) are written, so ``prepare-landcover`` and training run unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import check_out_dir
from .landcover import TILE
from .manifest import hash_split

BACKGROUND, BUILDING, WOODLAND, WATER, ROAD = range(5)
#: Ground size of a pixel of the procedural maps, in metres (Landcover.ai has 0.25 and 0.5 m orthophotos).
PIXEL_M = 0.25
#: A file of this name marks a folder of procedural aerial maps (figures label them as such).
AERIAL_MARKER = "TSLIB_PROCEDURAL_AERIAL.txt"


def _blobs(rng: np.random.Generator, h: int, w: int, cells: int, threshold: float) -> np.ndarray:
    """Smooth random blobs: coarse noise upsampled bicubically, thresholded."""
    import cv2

    coarse = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) > threshold


def aerial_scene(height: int, width: int, seed: int = 0, index: int = 0,
                 difficulty: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [H, W, 3], class-index uint8 [H, W]) of one procedural orthophoto; ``difficulty`` "realistic"
    or "easy" (default: ``$TSLIB_PROCEDURAL``, else realistic)."""
    from .synth import resolve_difficulty

    rng = np.random.default_rng([seed, index])
    if resolve_difficulty(difficulty) == "realistic":
        from .aerial_paint import realistic_scene

        return realistic_scene(height, width, rng)
    return _easy_scene(height, width, rng)


def _easy_scene(height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flat colours per class with a little noise: every class its own look."""
    import cv2

    mask = np.zeros((height, width), np.uint8)
    fields = _blobs(rng, height, width, 6, 0.5)
    img = np.where(fields[..., None], np.array([150, 160, 90], np.float32), np.array([175, 150, 110], np.float32))
    mask[_blobs(rng, height, width, 5, 0.68)] = WOODLAND
    mask[_blobs(rng, height, width, 4, 0.8)] = WATER
    road_mask = np.zeros_like(mask)
    for _ in range(rng.integers(2, 5)):  # curved roads: smooth random walks across the map
        x, y = rng.uniform(0, width), 0.0
        pts = []
        heading = rng.uniform(0.3, 2.8)
        while 0 <= y <= height and -width * 0.2 <= x <= width * 1.2 and len(pts) < 400:
            pts.append((int(x), int(y)))
            heading += rng.normal(0, 0.08)
            x, y = x + 25 * np.cos(heading), y + 25 * abs(np.sin(heading)) + 5
        cv2.polylines(road_mask, [np.array(pts, np.int32)], False, 1, thickness=int(rng.integers(8, 16)))
    mask[road_mask > 0] = ROAD
    for _ in range(int(rng.integers(30, 80) * height * width / 2048**2) + 1):  # buildings beside the roads
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        bh, bw = rng.integers(12, 40, size=2)
        box = mask[cy:cy + bh, cx:cx + bw]
        if box.size and (box != WATER).all() and (box != ROAD).all():
            box[...] = BUILDING
    colours = {WOODLAND: (40, 80, 40), WATER: (40, 70, 120), ROAD: (120, 120, 115), BUILDING: (170, 70, 60)}
    for cls, colour in colours.items():
        img[mask == cls] = colour
    img += rng.normal(0, 8, (height, width, 1)).astype(np.float32)  # texture
    return np.clip(img, 0, 255).astype(np.uint8), mask


def write_orthophoto(path: Path, image: np.ndarray, origin: tuple[float, float]) -> None:
    """An RGB GeoTIFF as Landcover.ai's are: the Polish CS92 grid (EPSG:2180), north up, :data:`PIXEL_M` metres a
    pixel, ``origin`` its top-left corner, LZW strips; so ``segment`` gives georeferenced maps and areas."""
    import rasterio
    from rasterio.transform import from_origin

    h, w = image.shape[:2]
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs="EPSG:2180",
                       transform=from_origin(*origin, PIXEL_M, PIXEL_M), compress="lzw", photometric="RGB") as ds:
        ds.write(np.moveaxis(image, -1, 0))


def write_aerial(out: str | Path, n_images: int = 4, height: int = 2048, width: int = 2048, seed: int = 0,
                 difficulty: str | None = None) -> Path:
    """Write ``n_images`` procedural orthophotos, their masks and the three tile lists under ``out``;
    ``difficulty``: see :func:`aerial_scene`."""
    import cv2

    from .synth import resolve_difficulty

    difficulty = resolve_difficulty(difficulty)

    if n_images < 1 or min(height, width) < TILE:
        raise ValueError(f"need n_images >= 1 and sides >= {TILE} px, got {n_images}, {height}x{width}")
    out = check_out_dir(out)
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for i in range(n_images):
        name = f"AERIAL-{seed}-{i:03d}"
        img, mask = aerial_scene(height, width, seed, i, difficulty)
        write_orthophoto(out / "images" / f"{name}.tif", img, origin=(450_000.0 + i * width * PIXEL_M, 300_000.0))
        cv2.imwrite(str(out / "masks" / f"{name}.tif"), np.repeat(mask[..., None], 3, -1))
        cols = width // TILE
        for r in range(height // TILE):
            for c in range(cols):
                k = r * -(-width // TILE) + c  # grid positions count the dropped edge column too
                tile = f"{name}_{k}"
                lists[hash_split(tile, seed)].append(tile)
    for split, names in lists.items():
        (out / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    (out / AERIAL_MARKER).write_text(f"PROCEDURAL aerial maps (tslib, {difficulty}), not real orthophotos\n")
    return out
