"""Images that are not landscape photos, made offline: what the classifier's "uncertain" is developed against.

Four procedural kinds (``noise``, ``documents``, ``textures``, ``aerial`` maps) and, where scikit-image is installed,
its bundled real photographs (a cat, an astronaut, coffee, coins, a page of text, microscope and telescope images).
None of them are the real-world non-landscape photos a user will send (indoor scenes, people, screenshots), so a
score measured on them is a lower bound on what such photos need: docs/results.md says which numbers came from which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

KINDS: tuple[str, ...] = ("noise", "documents", "textures", "aerial")
#: scikit-image's bundled photographs that are not landscapes (no download needed)
SKIMAGE_PHOTOS: tuple[str, ...] = (
    "astronaut", "camera", "chelsea", "coffee", "page", "text", "clock", "coins", "horse", "hubble_deep_field",
    "immunohistochemistry", "moon", "retina", "colorwheel", "logo", "checkerboard", "microaneurysms", "cell",
    "brick", "rocket",
)


def _noise(rng: np.random.Generator, s: int) -> np.ndarray:
    if rng.random() < 0.5:  # white noise
        return rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    coarse = rng.random((8, 8, 3))  # smooth colour noise
    img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((s, s), Image.BICUBIC)
    return np.asarray(img)


def _document(rng: np.random.Generator, s: int) -> np.ndarray:
    img = Image.new("RGB", (s, s), tuple(int(v) for v in rng.integers(225, 256, 3)))
    draw = ImageDraw.Draw(img)
    y = int(s * 0.08)
    while y < s * 0.9:  # lines of "words": dark rectangles of random widths, like text at a glance
        x = int(s * 0.08)
        while x < s * 0.85:
            w = int(rng.integers(s // 40 + 2, s // 8 + 3))
            draw.rectangle([x, y, min(x + w, int(s * 0.92)), y + max(2, s // 60)], fill=(30, 30, 30))
            x += w + max(2, s // 50)
        y += max(6, s // 18)
    if rng.random() < 0.5:
        draw.text((s * 0.1, s * 0.02), "INVOICE 2026-" + str(int(rng.integers(100, 999))), fill=(0, 0, 0))
    return np.asarray(img)


def _texture(rng: np.random.Generator, s: int) -> np.ndarray:
    yy, xx = np.mgrid[0:s, 0:s]
    period = int(rng.integers(6, s // 4))
    pattern = rng.integers(0, 3)
    if pattern == 0:
        mask = ((xx // period + yy // period) % 2).astype(bool)  # checkerboard
    elif pattern == 1:
        angle = rng.uniform(0, np.pi)
        mask = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0)  # stripes
    else:
        mask = ((xx % period < period // 3) | (yy % period < period // 3))  # grid / tiles
    a, b = rng.integers(0, 256, (2, 3))
    return np.where(mask[..., None], a, b).astype(np.uint8)


def _aerial(rng: np.random.Generator, s: int, seed: int, index: int) -> np.ndarray:
    from .aerial import aerial_scene

    return aerial_scene(s, s, seed=seed, index=index)[0]


def not_landscape_image(kind: str, size: int = 128, seed: int = 0, index: int = 0) -> np.ndarray:
    """One ``size`` x ``size`` RGB uint8 image of ``kind`` (see :data:`KINDS`), reproducible from (seed, index)."""
    rng = np.random.default_rng([seed, index, KINDS.index(kind) if kind in KINDS else -1])
    if kind == "noise":
        return _noise(rng, size)
    if kind == "documents":
        return _document(rng, size)
    if kind == "textures":
        return _texture(rng, size)
    if kind == "aerial":
        return _aerial(rng, size, seed, index)
    raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")


def write_not_landscapes(out: str | Path, per_kind: int = 20, size: int = 128, seed: int = 0,
                         kinds: tuple[str, ...] = KINDS) -> dict[str, Path]:
    """``out/<kind>/<kind>_NNN.png`` for each procedural kind; returns the folder of each kind."""
    if per_kind < 1:
        raise ValueError(f"per_kind must be >= 1, got {per_kind}")
    folders = {}
    for kind in kinds:
        folder = Path(out) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_kind):
            Image.fromarray(not_landscape_image(kind, size, seed, i)).save(folder / f"{kind}_{i:03d}.png")
        folders[kind] = folder
    return folders


def write_skimage_photos(out: str | Path) -> Path:
    """scikit-image's bundled non-landscape photographs as RGB PNGs in ``out`` (needs scikit-image, a dev
    requirement; nothing is downloaded)."""
    try:
        from skimage import data
    except ImportError as err:
        raise RuntimeError("write_skimage_photos needs scikit-image (pip install scikit-image)") from err
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in SKIMAGE_PHOTOS:
        img = np.asarray(getattr(data, name)())
        img = img.astype(np.float64) if img.dtype == bool else img  # the checkerboard-like masks
        if img.dtype != np.uint8:
            img = (255 * (img.astype(float) - img.min()) / max(float(np.ptp(img)), 1e-8)).astype(np.uint8)
        pil = Image.fromarray(img)
        pil.convert("RGB").save(out / f"{name}.png")
    return out
