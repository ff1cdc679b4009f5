"""The drawing kit the scene painters share: fractal value noise, colours, masks, skies, ridges, tree crowns, and
the finishing touches of realistic scenes (lighting, foreground clutter).

Everything draws into HxWx3 float32 images in 0..255 from a caller's RNG; nothing here keeps state.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Rng = np.random.Generator
F32 = np.float32
#: Scenes are drawn at most this big and enlarged with Pillow (keeps 224 px as cheap as 150 px).
RENDER_MAX = 160
_WARM = np.array([1.12, 0.98, 0.8])


@lru_cache(maxsize=256)
def _lerp_weights(n: int, g: int, smooth: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Left grid index and (smoothstep) weight of each of n pixels on a g-point grid spanning the image."""
    pos = np.linspace(0.0, g - 1, n)
    i0 = np.minimum(pos.astype(np.intp), g - 2)
    t = pos - i0
    return i0, (t * t * (3 - 2 * t) if smooth else t).astype(F32)


def _upsample(grid: np.ndarray, h: int, w: int, smooth: bool = True) -> np.ndarray:
    """Interpolate a small (gy, gx) grid to (h, w) (separable; no BLAS, so no thread overhead)."""
    iy, ty = _lerp_weights(h, grid.shape[0], smooth)
    ix, tx = _lerp_weights(w, grid.shape[1], smooth)
    rows = grid[:, ix] + (grid[:, ix + 1] - grid[:, ix]) * tx
    return rows[iy] + (rows[iy + 1] - rows[iy]) * ty[:, None]


def noise2d(rng: Rng, s: int, base: int = 3, octaves: int = 4, stretch: float = 1.0) -> np.ndarray:
    """Fractal value noise in [0, 1], shape (s, s); ``stretch`` > 1 gives more detail along x.

    The octaves are summed on the finest octave's grid and only that sum is enlarged to the image.
    """
    cells = [base * 2**o for o in range(octaves)]
    sizes = [(min(c, s - 1) + 1, min(int(c * stretch), s - 1) + 1) for c in cells]
    fy, fx = sizes[-1]
    out, amp, total = np.zeros((fy, fx), F32), 1.0, 0.0
    for gy, gx in sizes:
        out += F32(amp) * _upsample(rng.random((gy, gx), F32), fy, fx)
        total, amp = total + amp, amp * 0.5
    return _upsample(out / F32(total), s, s, smooth=False)


def noise1d(rng: Rng, s: int, base: int = 3, octaves: int = 6, gain: float = 0.55) -> np.ndarray:
    """Fractal 1-D value noise in about [0, 1], shape (1, s) (one value per image column)."""
    out, amp, total = np.zeros((1, s), F32), 1.0, 0.0
    for o in range(octaves):
        g = min(base * 2**o, s - 1) + 1
        out += F32(amp) * _upsample(rng.random((2, g), F32), 1, s)
        total, amp = total + amp, amp * gain
    return out / F32(total)


def color(rng: Rng, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> np.ndarray:
    """A random RGB colour inside the box lo..hi (for hued things: sky, water, foliage, sand)."""
    lo_ = np.array(lo, F32)
    return lo_ + (np.array(hi, F32) - lo_) * rng.random(3, F32)


def tone(rng: Rng, lo: float, hi: float, warm: float = 0.0, n: int | None = None) -> np.ndarray:
    """Grey of brightness lo..hi, shifted up to ``warm`` toward brown/beige (for rock, walls, asphalt)."""
    g = np.asarray(rng.uniform(lo, hi, n))[..., None]
    w = np.asarray(rng.uniform(0, warm, n))[..., None] if warm else 0.0
    return (g * (1 + w * (_WARM - 1))).astype(F32)


def mix(img: np.ndarray, mask: np.ndarray, col: np.ndarray | float) -> None:
    """Paint ``col`` (broadcastable to img) in place where ``mask`` is set (bool) or blend by it (float)."""
    if mask.dtype == bool:
        rows = np.flatnonzero(mask.any(axis=1)) if mask.shape[0] == img.shape[0] > 1 else None
        if rows is not None:  # only touch the rows the mask reaches
            if rows.size == 0:
                return
            r0, r1 = rows[0], rows[-1] + 1
            img, mask = img[r0:r1], mask[r0:r1]
            col = col[r0:r1] if np.ndim(col) == 3 and np.shape(col)[0] > 1 else col
        np.copyto(img, col, where=mask[..., None], casting="unsafe")
    else:
        img += mask[..., None] * (np.asarray(col, F32) - img)


def row(level: np.ndarray | float, s: int) -> int:
    """Pixel row of the topmost point of ``level``: work below a ridge only needs the rows from here down."""
    return int(np.clip(np.floor(np.min(level) * s), 0, s))


def px(v: float, s: int) -> int:
    """Pixel index of the image fraction ``v``, clipped to 0..s."""
    return int(min(max(v * s, 0), s))


def grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(s) + 0.5) / s).astype(F32)
    return c[:, None], c[None, :]


def chance(rng: Rng, p: float, h: float) -> bool:
    """True with probability ``p * h``: the shared, confusing elements of a scene scale with its hardness ``h``."""
    return bool(rng.random() < p * h)


#: Sky colour boxes per scene: (top lo, top hi, horizon lo, horizon hi); "any" is every scene's (hard scenes).
SKIES = {
    "mountain": ((50, 100, 170), (110, 160, 235), (160, 185, 210), (215, 225, 245)),
    "glacier": ((110, 160, 210), (190, 215, 245), (200, 220, 235), (235, 245, 255)),
    "sea": ((40, 100, 180), (120, 170, 235), (170, 200, 225), (225, 235, 250)),
    "desert": ((140, 175, 215), (200, 220, 245), (215, 215, 215), (245, 240, 235)),
    "forest": ((120, 160, 200), (200, 215, 235), (190, 200, 210), (235, 240, 240)),
    "buildings": ((70, 120, 180), (170, 200, 235), (180, 195, 215), (230, 235, 245)),
    "street": ((80, 130, 190), (180, 205, 235), (190, 200, 215), (235, 240, 245)),
    "any": ((45, 95, 165), (200, 215, 245), (160, 180, 205), (245, 245, 250)),
}


def sky(rng: Rng, s: int, scene: str, horizon: float, clouds: float, h: float = 0.0) -> np.ndarray:
    """Gradient from a random zenith colour to a paler horizon colour, soft clouds above ``horizon``; hard
    scenes (``h``) mostly draw from the one palette all scenes share, and are more often cloudy."""
    if chance(rng, 0.8, h):
        scene, clouds = "any", max(clouds, rng.uniform(0, 0.7))
    top_lo, top_hi, bottom_lo, bottom_hi = SKIES[scene]
    top, bottom = color(rng, top_lo, top_hi), color(rng, bottom_lo, bottom_hi)
    y, _ = grid(s)
    t = np.clip(y / F32(max(horizon, 1e-3)), 0, 1)[..., None]
    img = np.empty((s, s, 3), F32)
    img[...] = top * (1 - t) + bottom * t
    if clouds > 0:
        r1 = min(int(np.ceil(horizon * s)), s)  # clouds only above the horizon
        cloud = noise2d(rng, s, base=3, octaves=4, stretch=0.5)[:r1]
        cloud = np.clip((cloud - F32(1 - clouds)) * 3, 0, 0.85)
        mix(img[:r1], cloud, rng.uniform(215, 250))
    return img


def ridge(rng: Rng, s: int, level: float, amp: float, base: int = 2, octaves: int = 7) -> np.ndarray:
    """Jagged ridge line y(x), shape (1, s): ``level`` minus ``amp`` times ridged (folded) noise."""
    n = 1 - np.abs(2 * noise1d(rng, s, base=base, octaves=octaves, gain=0.6) - 1)
    return F32(level) - F32(amp) * (n - n.min()) / (np.ptp(n) + F32(1e-6))


def crowns(rng: Rng, img: np.ndarray, n: int, top: float, bottom: float, size: tuple[float, float],
           leaf: np.ndarray, trunk: np.ndarray | None = None, xs: tuple[float, float] = (-0.05, 1.05)) -> None:
    """``n`` round, ragged tree crowns (broadleaf trees, bushes) with their centres between ``top`` and
    ``bottom``, radius in ``size``, foliage around ``leaf``; back to front, each inside its own box."""
    s = img.shape[0]
    y, x = grid(s)
    rag = noise2d(rng, s, base=8, octaves=2)
    cys = np.sort(rng.uniform(top, bottom, n))
    for cy in cys:
        cx, r = rng.uniform(*xs), rng.uniform(*size) * (0.6 + 0.6 * (cy - top) / max(bottom - top, 1e-3))
        if trunk is not None:
            img[px(cy, s) : px(cy + 2.2 * r, s), px(cx - 0.12 * r, s) : px(cx + 0.12 * r, s) + 1] = trunk
        r0, r1, c0, c1 = px(cy - r, s), px(cy + r, s) + 1, px(cx - r, s), px(cx + r, s) + 1
        if r0 >= r1 or c0 >= c1:
            continue
        dy, dx = (y[r0:r1] - cy) / r, (x[:, c0:c1] - cx) / r
        blob = dy * dy + dx * dx < 0.55 + 0.6 * rag[r0:r1, c0:c1]
        lit = (1.0 + 0.25 * (dx - dy))[..., None] * (leaf * rng.uniform(0.7, 1.2, 3).astype(F32))
        np.copyto(img[r0:r1, c0:c1], lit, where=blob[..., None], casting="unsafe")


def light(rng: Rng, img: np.ndarray, h: float) -> None:
    """Time of day and weather, in place: plain daylight, or (hard scenes) overcast, dusk, haze or shade."""
    if not chance(rng, 0.55, h):
        return
    y, _ = grid(img.shape[0])
    kind = rng.integers(4)
    if kind == 0:  # overcast: washed out, flat and grey
        img += F32(rng.uniform(0.4, 0.75)) * (img.mean(axis=2, keepdims=True) - img)
        img *= F32(rng.uniform(0.75, 0.95))
        img += F32(rng.uniform(5, 25))
    elif kind == 1:  # dusk: warm, dark, low contrast, glowing toward the horizon
        img *= (rng.uniform(0.45, 0.75) * np.array([1.15, 0.85, 0.65]) * rng.uniform(0.9, 1.1, 3)).astype(F32)
        img += (np.array([60, 30, 10], F32) * rng.uniform(0.3, 1.0)) * (1 - np.abs(y - 0.45))[..., None]
    elif kind == 2:  # haze / fog: everything fades toward one pale colour, the distance (top) more
        fog = color(rng, (170, 175, 180), (235, 235, 240))
        mix(img, F32(rng.uniform(0.25, 0.55)) * (1.3 - y) / 1.3, fog)  # (s, 1): one weight per row
    else:  # a tinted, dim camera: cold or warm white balance, low exposure
        img *= (rng.uniform(0.55, 0.85) * rng.uniform(0.8, 1.2, 3)).astype(F32)


def clutter(rng: Rng, img: np.ndarray, h: float) -> None:
    """Foreground occluders, in place: a lamp post or utility pole, an overhanging branch, a roadside tree."""
    s = img.shape[0]
    dark = tone(rng, 15, 60, warm=0.6)
    if chance(rng, 0.2, h):  # pole with a cross arm or a lamp
        c0 = px(rng.uniform(0.02, 0.95), s)
        w = max(1, px(rng.uniform(0.01, 0.03), s))
        top = px(rng.uniform(-0.1, 0.3), s)
        img[top:, c0 : c0 + w] = dark
        arm = px(rng.uniform(0.05, 0.2), s)
        side = slice(c0 - arm, c0) if c0 > s // 2 else slice(c0, c0 + arm)
        img[top : top + max(1, w // 2 + 1), max(side.start, 0) : side.stop] = dark
    if chance(rng, 0.2, h):  # foliage from above or a tree at the side
        leaf = color(rng, (15, 35, 10), (70, 90, 50))
        if rng.random() < 0.5:
            crowns(rng, img, int(rng.integers(2, 5)), -0.1, 0.08, (0.1, 0.22), leaf)
        else:
            cx = rng.uniform(0, 0.15) if rng.random() < 0.5 else rng.uniform(0.85, 1)
            img[px(0.3, s) :, px(cx - 0.02, s) : px(cx + 0.02, s) + 1] = dark
            top = rng.uniform(-0.1, 0.3)
            crowns(rng, img, int(rng.integers(2, 4)), top, top + 0.15, (0.1, 0.18), leaf, xs=(cx - 0.1, cx + 0.1))
