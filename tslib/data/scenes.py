"""The procedural scenes: one painter per landscape class, built from fractal value noise, gradients and masks.

Each painter takes its own RNG and a size and returns an HxWx3 float32 image in 0..255; :mod:`tslib.data.synth`
adds the shared finishing touches (flip, exposure, grain) and writes the datasets.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _noise2d(rng: Rng, s: int, base: int = 3, octaves: int = 4, stretch: float = 1.0) -> np.ndarray:
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


def _noise1d(rng: Rng, s: int, base: int = 3, octaves: int = 6, gain: float = 0.55) -> np.ndarray:
    """Fractal 1-D value noise in about [0, 1], shape (1, s) (one value per image column)."""
    out, amp, total = np.zeros((1, s), F32), 1.0, 0.0
    for o in range(octaves):
        g = min(base * 2**o, s - 1) + 1
        out += F32(amp) * _upsample(rng.random((2, g), F32), 1, s)
        total, amp = total + amp, amp * gain
    return out / F32(total)


def _color(rng: Rng, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> np.ndarray:
    """A random RGB colour inside the box lo..hi (for hued things: sky, water, foliage, sand)."""
    lo_ = np.array(lo, F32)
    return lo_ + (np.array(hi, F32) - lo_) * rng.random(3, F32)


def _tone(rng: Rng, lo: float, hi: float, warm: float = 0.0, n: int | None = None) -> np.ndarray:
    """Grey of brightness lo..hi, shifted up to ``warm`` toward brown/beige (for rock, walls, asphalt)."""
    g = np.asarray(rng.uniform(lo, hi, n))[..., None]
    w = np.asarray(rng.uniform(0, warm, n))[..., None] if warm else 0.0
    return (g * (1 + w * (_WARM - 1))).astype(F32)


def _mix(img: np.ndarray, mask: np.ndarray, color: np.ndarray | float) -> None:
    """Paint ``color`` (broadcastable to img) in place where ``mask`` is set (bool) or blend by it (float)."""
    if mask.dtype == bool:
        rows = np.flatnonzero(mask.any(axis=1)) if mask.shape[0] == img.shape[0] > 1 else None
        if rows is not None:  # only touch the rows the mask reaches
            if rows.size == 0:
                return
            r0, r1 = rows[0], rows[-1] + 1
            img, mask = img[r0:r1], mask[r0:r1]
            color = color[r0:r1] if np.ndim(color) == 3 and np.shape(color)[0] > 1 else color
        np.copyto(img, color, where=mask[..., None], casting="unsafe")
    else:
        img += mask[..., None] * (np.asarray(color, F32) - img)


def _row(level: np.ndarray | float, s: int) -> int:
    """Pixel row of the topmost point of ``level``: work below a ridge only needs the rows from here down."""
    return int(np.clip(np.floor(np.min(level) * s), 0, s))


def _px(v: float, s: int) -> int:
    """Pixel index of the image fraction ``v``, clipped to 0..s."""
    return int(min(max(v * s, 0), s))


def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    c = ((np.arange(s) + 0.5) / s).astype(F32)
    return c[:, None], c[None, :]


#: Sky colour boxes per scene: (top lo, top hi, horizon lo, horizon hi).
_SKIES = {
    "mountain": ((50, 100, 170), (110, 160, 235), (160, 185, 210), (215, 225, 245)),
    "glacier": ((110, 160, 210), (190, 215, 245), (200, 220, 235), (235, 245, 255)),
    "sea": ((40, 100, 180), (120, 170, 235), (170, 200, 225), (225, 235, 250)),
    "desert": ((140, 175, 215), (200, 220, 245), (215, 215, 215), (245, 240, 235)),
    "forest": ((120, 160, 200), (200, 215, 235), (190, 200, 210), (235, 240, 240)),
    "buildings": ((70, 120, 180), (170, 200, 235), (180, 195, 215), (230, 235, 245)),
    "street": ((80, 130, 190), (180, 205, 235), (190, 200, 215), (235, 240, 245)),
}


def _sky(rng: Rng, s: int, scene: str, horizon: float, clouds: float) -> np.ndarray:
    """Gradient from a random zenith colour to a paler horizon colour, soft clouds above ``horizon``."""
    top_lo, top_hi, bottom_lo, bottom_hi = _SKIES[scene]
    top, bottom = _color(rng, top_lo, top_hi), _color(rng, bottom_lo, bottom_hi)
    y, _ = _grid(s)
    t = np.clip(y / F32(max(horizon, 1e-3)), 0, 1)[..., None]
    img = np.empty((s, s, 3), F32)
    img[...] = top * (1 - t) + bottom * t
    if clouds > 0:
        r1 = min(int(np.ceil(horizon * s)), s)  # clouds only above the horizon
        cloud = _noise2d(rng, s, base=3, octaves=4, stretch=0.5)[:r1]
        cloud = np.clip((cloud - F32(1 - clouds)) * 3, 0, 0.85)
        _mix(img[:r1], cloud, rng.uniform(215, 250))
    return img


def _ridge(rng: Rng, s: int, level: float, amp: float, base: int = 2, octaves: int = 7) -> np.ndarray:
    """Jagged ridge line y(x), shape (1, s): ``level`` minus ``amp`` times ridged (folded) noise."""
    n = 1 - np.abs(2 * _noise1d(rng, s, base=base, octaves=octaves, gain=0.6) - 1)
    return F32(level) - F32(amp) * (n - n.min()) / (np.ptp(n) + F32(1e-6))


def _mountain(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    img = _sky(rng, s, "mountain", 0.6, rng.uniform(0.0, 0.4))
    tex = _noise2d(rng, s, base=3, octaves=5, stretch=3.0)
    layers = int(rng.integers(1, 4))
    for k in range(layers):
        near = (k + 1) / layers
        ry = _ridge(rng, s, rng.uniform(0.3, 0.5) + 0.2 * near, rng.uniform(0.25, 0.45))
        rock = _tone(rng, 85, 150, warm=1.0) * (1.0 - 0.25 * near)
        r0 = _row(ry, s)
        yy, tx = y[r0:], tex[r0:]
        shade = tx + (x - 0.5) * rng.uniform(-0.6, 0.6) + 0.3 * (yy - ry)
        snowline = ry.min() + rng.uniform(0.02, 0.12) + 0.1 * (_noise1d(rng, s, 4, 4) - 0.5)
        body = rock * (0.6 + 0.7 * shade)[..., None]
        _mix(body, (yy < snowline) & (tx > rng.uniform(0.3, 0.5)), (235 - 40 * (1 - tx))[..., None])
        _mix(img[r0:], yy > ry, body)
    if rng.random() < 0.5:  # meadow / scree in front
        fy = _ridge(rng, s, rng.uniform(0.85, 0.98), 0.08, base=2, octaves=3)
        r0, grass = _row(fy, s), _color(rng, (60, 80, 40), (120, 130, 70))
        _mix(img[r0:], y[r0:] > fy, grass * (0.7 + 0.6 * tex[r0:])[..., None])
    return img


def _glacier(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    hz = rng.uniform(0.25, 0.5)
    img = _sky(rng, s, "glacier", hz, rng.uniform(0.0, 0.6))
    ice, blue = _color(rng, (195, 225, 240), (235, 250, 255)), _color(rng, (60, 130, 185), (140, 200, 230))
    ry = _ridge(rng, s, hz + 0.05, rng.uniform(0.1, 0.3), base=2, octaves=4)
    r0 = _row(ry, s)
    yy, sub, shade = y[r0:], img[r0:], _noise2d(rng, s, base=2, octaves=3)[r0:]
    _mix(sub, yy > ry, ice + ((1 - shade) * 0.5)[..., None] * (blue - ice) + 10 * (x - 0.5)[..., None])
    depth = 1 / (np.clip((yy - hz) / (1 - hz), 0, 1) + F32(0.15))  # ice field with perspective crevasses
    ang = rng.uniform(-1.2, 1.2)
    u = depth * (np.cos(ang) + 2 * (x - 0.5) * np.sin(ang)) * rng.uniform(2, 5) + 4 * shade
    _mix(sub, (np.abs(np.sin(u)) < rng.uniform(0.1, 0.25)) & (yy > ry + 0.04) & (shade > 0.45), blue * 0.75)
    if rng.random() < 0.4:  # meltwater lagoon
        _mix(img, y > rng.uniform(0.8, 0.95) + 0.05 * _noise1d(rng, s, 2, 3), blue * rng.uniform(0.5, 0.8))
    return img


def _sea(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    hz = rng.uniform(0.3, 0.55)
    img = _sky(rng, s, "sea", hz, rng.uniform(0.0, 0.5))
    if rng.random() < 0.4:  # headland at the horizon
        side = x < rng.uniform(0.15, 0.4) if rng.random() < 0.5 else x > rng.uniform(0.6, 0.85)
        land = side & (y > _ridge(rng, s, hz, rng.uniform(0.03, 0.12), 2, 4))
        _mix(img, land, _color(rng, (40, 60, 40), (90, 100, 80)))
    r0 = _row(hz, s)
    d = np.clip((y[r0:] - hz) / (1 - hz), 0, 1)
    deep, near = _color(rng, (10, 50, 110), (40, 100, 170)), _color(rng, (20, 90, 140), (70, 150, 190))
    waves = np.sin(rng.uniform(4, 9) / (d + 0.06) + 5 * _noise2d(rng, s, 2, 4, stretch=3.0)[r0:])
    water = (deep + (near - deep) * d[..., None]) * (1 + rng.uniform(0.08, 0.18) * waves)[..., None]
    _mix(water, (waves > 0.93) & (_noise2d(rng, s, 4, 2)[r0:] > 0.55), 235.0)
    _mix(img[r0:], y[r0:] > hz, water)
    if rng.random() < 0.35:  # beach in front (the Landscape "Coast" look)
        shore = _ridge(rng, s, rng.uniform(0.85, 0.97), 0.06, 2, 4)
        _mix(img, y > shore, _color(rng, (190, 170, 130), (230, 210, 170)))
    return img


def _desert(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    hz = rng.uniform(0.25, 0.5)
    img = _sky(rng, s, "desert", hz, rng.uniform(0.0, 0.25))
    sand = _color(rng, (195, 145, 85), (235, 190, 135))
    grain = _noise2d(rng, s, 6, 2)[..., None]
    layers = int(rng.integers(3, 6))
    for k in range(layers):  # dune rows, back to front: lit windward flank, sharp crest, shadowed slip face
        near = k / max(layers - 1, 1)
        crest = rng.uniform(0.3, 0.7)
        freq = rng.uniform(0.7, 2.5) / (0.5 + near)
        t = np.mod(x * freq + rng.uniform(0, 1) + 0.3 * _noise1d(rng, s, 2, 3), 1)
        bump = np.where(t < crest, t / crest, (1 - t) / (1 - crest)) ** 1.5
        ry = hz + (1 - hz) * near * rng.uniform(0.6, 0.85) - rng.uniform(0.05, 0.15) * (0.4 + near) * bump
        r0 = _row(ry, s)
        yy = y[r0:]
        face = np.mod(t + rng.uniform(-1.5, 1.5) * (yy - ry), 1) < crest  # slanted lit / shadow boundary
        light = np.where(face, rng.uniform(1.0, 1.12), rng.uniform(0.7, 0.85)) - 0.25 * np.clip(yy - ry, 0, 1)
        _mix(img[r0:], yy > ry, sand * (1 - 0.08 * near) * (light[..., None] + 0.08 * grain[r0:]))
    return img


def _forest(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    img = _sky(rng, s, "forest", 0.3, 0.0)
    dark = _color(rng, (15, 40, 15), (50, 85, 45))
    fill = y > _ridge(rng, s, rng.uniform(0.05, 0.25), 0.15, 3, 5)
    _mix(img, fill, dark * (0.6 + 0.8 * _noise2d(rng, s, 8, 3))[..., None])
    trunk = _color(rng, (50, 35, 20), (100, 75, 50))
    for cx in rng.uniform(0, 1, int(rng.integers(3, 9))):  # vertical trunks in the undergrowth
        c0, c1 = int((cx - rng.uniform(0.01, 0.04)) * s), int(cx * s) + 1
        img[int(rng.uniform(0.2, 0.5) * s) :, max(c0, 0) : c1] = trunk * rng.uniform(0.7, 1.1)
    n = int(rng.integers(20, 45))
    tops, heights = rng.uniform(-0.1, 0.75, n), rng.uniform(0.25, 0.6, n)
    cxs, hws = rng.uniform(-0.05, 1.05, n), rng.uniform(0.05, 0.12, n)
    greens = np.array([20, 60, 20], F32) + np.array([50, 70, 40], F32) * rng.random((n, 3), F32)
    jag = 0.85 + 0.15 * np.sin(60 * y)  # ragged crown edges
    for k in np.argsort(tops + heights):  # conifers, back to front, each drawn inside its bounding box
        top, h, cx, hw = tops[k], heights[k], cxs[k], hws[k]
        tc0, tc1 = _px(cx - 0.12 * hw, s), _px(cx + 0.12 * hw, s) + 1
        img[_px(top + 0.9 * h, s) : _px(top + 1.3 * h, s) + 1, tc0:tc1] = trunk
        r0, r1, c0, c1 = _px(top, s), _px(top + h, s) + 1, _px(cx - hw, s), _px(cx + hw, s) + 1
        if r0 >= s or c0 >= s or c1 <= 0:
            continue
        xx = x[:, c0:c1]
        crown = np.abs(xx - cx) < (y[r0:r1] - top) * (hw / h) * jag[r0:r1]
        lit = np.where((xx > cx)[..., None], greens[k] * 1.1, greens[k] * 0.8)
        np.copyto(img[r0:r1, c0:c1], lit, where=crown[..., None])
    return img


def _buildings(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    img = _sky(rng, s, "buildings", 0.4, rng.uniform(0.0, 0.3))
    x0 = rng.uniform(-0.2, 0.0)
    while x0 < 1:  # a row of facades with window grids
        w, roof = rng.uniform(0.15, 0.45), rng.uniform(-0.1, 0.35)
        px, py = rng.uniform(0.03, 0.08), rng.uniform(0.04, 0.09)
        fx, fy = rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.65)
        c0, c1, r0 = max(int(x0 * s), 0), min(int((x0 + w) * s), s), max(int(roof * s), 0)
        xx, yy, box = x[:, c0:c1], y[r0:], img[r0:, c0:c1]
        box[...] = _tone(rng, 80, 200, warm=1.0)
        dark = rng.random() < 0.8  # dark glass, or windows reflecting the sky
        glass = _tone(rng, 30, 110) * [0.8, 0.9, 1.1] if dark else _tone(rng, 170, 230) * [0.9, 1, 1]
        wins = (np.mod(xx - x0, px) < fx * px) & (np.mod(yy - roof - 0.02, py) < fy * py) & (yy > roof + 0.03)
        _mix(box, wins & (xx < x0 + w - 0.01), glass)
        x0 += w
    img[int(rng.uniform(0.85, 1.0) * s) :] = _tone(rng, 50, 110, warm=0.5)
    return img


def _street(rng: Rng, s: int) -> np.ndarray:
    y, x = _grid(s)
    vy, vx = rng.uniform(0.35, 0.5), rng.uniform(0.35, 0.65)
    img = _sky(rng, s, "street", vy, rng.uniform(0.0, 0.3))
    wroad = rng.uniform(0.35, 0.7)
    wside = wroad * rng.uniform(1.3, 1.7)
    dl = np.abs(x - vx) / np.where(x < vx, vx, 1 - vx) + F32(1e-3)  # 0 at the vanishing point, 1 at the edge
    ytop = vy - dl * rng.uniform(0.35, 0.6) * (vy + 0.1)
    yground = vy + np.abs(x - vx) / wside * (1 - vy)
    seg = np.floor(rng.uniform(1.5, 3) / dl + 8 * (x > vx)).astype(int) % 16  # one facade per segment
    wall = np.empty((s, s, 3), F32)
    wall[...] = _tone(rng, 80, 200, warm=1.0, n=16)[seg]
    rel = (y - ytop) / (yground - ytop + F32(1e-6))
    cols, floors = np.sin(rng.uniform(6, 12) / dl) > 0.2, np.mod(rel * rng.integers(4, 9), 1) < 0.55
    wins = cols & floors & (rel < 0.85)
    _mix(wall, wins, _tone(rng, 30, 100) * [0.85, 0.92, 1.05])
    _mix(img, (y > ytop) & (y <= yground), wall)
    # 0 on the centre line of the road, wroad at its edge
    spread = np.abs(x - vx) / (np.maximum(y - vy, 0) / (1 - vy) + F32(1e-6))
    _mix(img, (y > yground) & (spread >= wroad), _tone(rng, 130, 185, warm=0.4))  # pavement
    road = (y > yground) & (spread < wroad)
    _mix(img, road, _tone(rng, 45, 95, warm=0.2))
    yellow = rng.random() < 0.5
    line = _color(rng, (215, 180, 30), (250, 220, 90)) if yellow else np.array([235.0, 235, 235], F32)
    dashes = np.sin(rng.uniform(1, 3) / (np.maximum(y - vy, 0) + 0.02)) > 0
    _mix(img, road & (spread < 0.015) & dashes, line)
    _mix(img, road & (np.abs(spread - wroad * 0.92) < 0.012), 225.0)
    return img


PAINTERS: dict[str, Callable[[Rng, int], np.ndarray]] = {
    "buildings": _buildings, "desert": _desert, "forest": _forest, "glacier": _glacier,
    "mountain": _mountain, "sea": _sea, "street": _street,
}  # fmt: skip
