"""The procedural scenes: one painter per landscape class, built from fractal value noise, gradients and masks.

Each painter takes its own RNG, a size and a hardness ``h`` and returns an HxWx3 float32 image in 0..255. At
``h = 0`` ("easy") every class keeps its own look and is trivially separable; at ``h = 1`` ("realistic") the
classes share elements the way the real Intel and Landscape photos do: snow-clad peaks behind glaciers and in
mountain scenes, rock in glacier scenes, mountains, cliffs, icebergs and beaches around the sea, rocky hills
behind dunes and arid mountains, lakes and conifers below mountains, facades in street scenes and roads in front
of buildings (:mod:`tslib.data.scenes_urban`). :mod:`tslib.data.synth` adds the finishing touches (lighting,
clutter, flip, exposure, grain) and a little label noise (:data:`NEIGHBOURS`), and writes the datasets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .scenes_kit import (
    F32,
    RENDER_MAX,
    Rng,
    chance,
    color,
    crowns,
    grid,
    mix,
    noise1d,
    noise2d,
    px,
    ridge,
    row,
    sky,
    tone,
)
from .scenes_urban import buildings, street

__all__ = ["F32", "NEIGHBOURS", "PAINTERS", "RENDER_MAX", "Rng"]


def _rocks(rng: Rng, img: np.ndarray, tex: np.ndarray, levels: list[float], amp: tuple[float, float],
           snow: float, arid: bool = False, fade: float = 0.0) -> None:
    """Rocky ridges, far to near, one per entry of ``levels`` (image fractions); ``snow`` 0..1 from a dusting
    on the peaks to nearly white mountains (below 0: bare rock); ``arid``: sandstone colours; far ridges
    ``fade`` toward the sky colour above them."""
    s = img.shape[0]
    y, x = grid(s)
    for k, level in enumerate(levels):
        near = (k + 1) / len(levels)
        ry = ridge(rng, s, level, rng.uniform(*amp))
        rock = tone(rng, 85, 150, warm=1.0) * (1.0 - 0.25 * near)
        if arid:
            rock = rock * rng.uniform((1.05, 0.85, 0.6), (1.3, 1.0, 0.8)).astype(F32) + 15
        r0 = row(ry, s)
        yy, tx = y[r0:], tex[r0:]
        shade = tx + (x - 0.5) * rng.uniform(-0.6, 0.6) + 0.3 * (yy - ry)
        body = rock * (0.6 + 0.7 * shade)[..., None]
        if snow >= 0:
            depth = 0.02 + 0.5 * snow * rng.uniform(0.5, 1.0)
            snowline = ry.min() + depth + 0.1 * (noise1d(rng, s, 4, 4) - 0.5)
            cover = (yy < snowline) & (tx > rng.uniform(0.3, 0.5) - 0.3 * snow)
            mix(body, cover, (235 - 40 * (1 - tx))[..., None])
        if fade * (1 - near) > 0.01:
            body += F32(fade * (1 - near)) * (img[max(r0 - 1, 0)].mean(axis=0) - body)
        mix(img[r0:], yy > ry, body)


def _water(rng: Rng, img: np.ndarray, top: float, chop: float = 1.0) -> None:
    """Water from ``top`` to the bottom: deep to near colours, perspective waves, foam on the crests."""
    s = img.shape[0]
    y, _ = grid(s)
    r0 = row(top, s)
    d = np.clip((y[r0:] - top) / (1 - top), 0, 1)
    deep, near = color(rng, (10, 50, 110), (40, 100, 170)), color(rng, (20, 90, 140), (70, 150, 190))
    waves = np.sin(rng.uniform(4, 9) / (d + 0.06) + 5 * noise2d(rng, s, 2, 4, stretch=3.0)[r0:])
    water = (deep + (near - deep) * d[..., None]) * (1 + chop * rng.uniform(0.08, 0.18) * waves)[..., None]
    if chop > 0.5:
        mix(water, (waves > 0.93) & (noise2d(rng, s, 4, 2)[r0:] > 0.55), 235.0)
    mix(img[r0:], y[r0:] > top, water)


def _icebergs(rng: Rng, img: np.ndarray, top: float, n: int) -> None:
    """``n`` floating ice blocks below ``top``: flat-topped or peaked, lit white on one side, blue on the other."""
    s = img.shape[0]
    y, x = grid(s)
    ice, blue = color(rng, (215, 230, 240), (250, 252, 255)), color(rng, (110, 160, 200), (170, 210, 235))
    for base in np.sort(rng.uniform(min(top + 0.03, 0.95), 0.97, n)):
        cx, w = rng.uniform(0, 1), rng.uniform(0.04, 0.2) * (0.5 + base)
        hgt = w * rng.uniform(0.25, 0.8)
        r0, r1, c0, c1 = px(base - hgt, s), px(base, s) + 1, px(cx - w, s), px(cx + w, s) + 1
        if r0 >= r1 or c0 >= c1:
            continue
        xx = x[:, c0:c1]
        prof = np.clip(1 - np.abs(xx - cx) / w, 0, 1) ** rng.uniform(0.2, 0.8)
        block = y[r0:r1] > base - hgt * prof * (0.8 + 0.2 * np.sin(40 * xx))
        shade = np.where((xx < cx + rng.uniform(-0.3, 0.3) * w)[..., None], ice, blue)
        np.copyto(img[r0:r1, c0:c1], np.broadcast_to(shade, block.shape + (3,)), where=block[..., None])


def _conifers(rng: Rng, img: np.ndarray, n: int, tops: tuple[float, float], heights: tuple[float, float]) -> None:
    """``n`` conifers, back to front, each drawn inside its bounding box."""
    s = img.shape[0]
    y, x = grid(s)
    trunk = color(rng, (50, 35, 20), (100, 75, 50))
    top_, hs = rng.uniform(*tops, n), rng.uniform(*heights, n)
    cxs, hws = rng.uniform(-0.05, 1.05, n), rng.uniform(0.05, 0.12, n) * (hs / 0.4)
    greens = np.array([20, 60, 20], F32) + np.array([50, 70, 40], F32) * rng.random((n, 3), F32)
    jag = 0.85 + 0.15 * np.sin(60 * y)  # ragged crown edges
    for k in np.argsort(top_ + hs):
        top, hgt, cx, hw = top_[k], hs[k], cxs[k], hws[k]
        rows, cols = slice(px(top + 0.9 * hgt, s), px(top + 1.3 * hgt, s) + 1), slice(px(cx - 0.12 * hw, s),
                                                                                   px(cx + 0.12 * hw, s) + 1)
        img[rows, cols] = trunk
        r0, r1, c0, c1 = px(top, s), px(top + hgt, s) + 1, px(cx - hw, s), px(cx + hw, s) + 1
        if r0 >= s or c0 >= s or c1 <= 0:
            continue
        xx = x[:, c0:c1]
        crown = np.abs(xx - cx) < (y[r0:r1] - top) * (hw / hgt) * jag[r0:r1]
        lit = np.where((xx > cx)[..., None], greens[k] * 1.1, greens[k] * 0.8)
        np.copyto(img[r0:r1, c0:c1], lit, where=crown[..., None])


def _mountain(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    img = sky(rng, s, "mountain", 0.6, rng.uniform(0.0, 0.4), h)
    tex = noise2d(rng, s, base=3, octaves=5, stretch=3.0)
    layers = int(rng.integers(1, 4))
    arid, snow = chance(rng, 0.1, h), rng.uniform(0.0, 0.2)
    if arid:  # bare, sunburnt rock (the desert look-alike)
        snow = -1.0
    elif chance(rng, 0.45, h):  # snow-clad peaks (the glacier look-alike)
        snow = rng.uniform(0.5, 1.0)
    levels = [rng.uniform(0.3, 0.5) + 0.2 * (k + 1) / layers for k in range(layers)]
    _rocks(rng, img, tex, levels, (0.25, 0.45), snow, arid, fade=h * rng.uniform(0.2, 0.5))
    fore = rng.random()
    if snow > 0.5 and fore < 0.5:  # a snowfield in front
        fy = ridge(rng, s, rng.uniform(0.6, 0.9), 0.1, base=2, octaves=4)
        r0, white = row(fy, s), color(rng, (200, 215, 230), (245, 250, 255))
        mix(img[r0:], y[r0:] > fy, white * (0.8 + 0.25 * tex[r0:])[..., None])
    elif fore < 0.15 * h:  # a lake below the peaks (the sea look-alike)
        _water(rng, img, rng.uniform(0.65, 0.85), chop=rng.uniform(0.1, 0.6))
    elif fore < 0.4 * h:  # conifers on the lower slopes
        _conifers(rng, img, int(rng.integers(6, 18)), (0.55, 0.85), (0.1, 0.3))
    elif fore < 0.5 + 0.25 * h:  # meadow / scree in front
        fy = ridge(rng, s, rng.uniform(0.8, 0.98), 0.08, base=2, octaves=3)
        r0 = row(fy, s)
        grass = color(rng, (150, 120, 70), (200, 170, 120)) if arid else color(rng, (60, 80, 40), (120, 130, 70))
        mix(img[r0:], y[r0:] > fy, grass * (0.7 + 0.6 * tex[r0:])[..., None])
    return img


def _glacier(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    hz = rng.uniform(0.25, 0.5)
    peaks = chance(rng, 0.7, h)
    if peaks and rng.random() < 0.4:  # the peaks fill the picture, the ice only the bottom (mountain look-alike)
        hz = rng.uniform(0.5, 0.7)
    img = sky(rng, s, "glacier", hz - 0.25 * peaks, rng.uniform(0.0, 0.6), h)
    if peaks:  # snow-clad rock ridges behind the ice
        tex, n = noise2d(rng, s, base=3, octaves=4, stretch=3.0), int(rng.integers(1, 3))
        levels = [hz - rng.uniform(0.0, 0.1) * (n - k) for k in range(n)]
        _rocks(rng, img, tex, levels, (0.15, 0.4), rng.uniform(0.3, 1.0), fade=rng.uniform(0.1, 0.4))
    ice, blue = color(rng, (195, 225, 240), (235, 250, 255)), color(rng, (60, 130, 185), (140, 200, 230))
    if chance(rng, 0.4, h):  # old, grey ice
        ice = ice * rng.uniform(0.7, 0.9) + (ice.mean() - ice) * 0.5
    ry = ridge(rng, s, hz + 0.05, rng.uniform(0.1, 0.3), base=2, octaves=4)
    r0 = row(ry, s)
    yy, sub, shade = y[r0:], img[r0:], noise2d(rng, s, base=2, octaves=3)[r0:]
    mix(sub, yy > ry, ice + ((1 - shade) * 0.5)[..., None] * (blue - ice) + 10 * (x - 0.5)[..., None])
    depth = 1 / (np.clip((yy - hz) / (1 - hz), 0, 1) + F32(0.15))  # ice field with perspective crevasses
    ang = rng.uniform(-1.2, 1.2)
    u = depth * (np.cos(ang) + 2 * (x - 0.5) * np.sin(ang)) * rng.uniform(2, 5) + 4 * shade
    mix(sub, (np.abs(np.sin(u)) < rng.uniform(0.1, 0.25)) & (yy > ry + 0.04) & (shade > 0.45), blue * 0.75)
    if chance(rng, 0.5, h):  # moraine stripes and rock showing through the ice
        rock = tone(rng, 50, 120, warm=1.0)
        mix(sub, (yy > ry) & ((np.abs(np.sin(0.5 * u + 1.3)) < 0.07) | (shade < rng.uniform(0.2, 0.35))), rock)
    if rng.random() < 0.4 + 0.2 * h:  # meltwater lagoon, with floating ice in hard scenes
        top = rng.uniform(0.8, 0.95) - h * rng.uniform(0.0, 0.25)
        mix(img, y > top + 0.05 * noise1d(rng, s, 2, 3), blue * rng.uniform(0.5, 0.8))
        if chance(rng, 0.7, h):
            _icebergs(rng, img, top, int(rng.integers(1, 5)))
    return img


def _sea(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    hz = rng.uniform(0.3, 0.55)
    img = sky(rng, s, "sea", hz, rng.uniform(0.0, 0.5), h)
    back = rng.random()
    if back < 0.4 * h:  # mountains across the water, bare or snow-clad (the mountain / glacier look-alike)
        snow = rng.uniform(0.3, 1.0) if rng.random() < 0.4 else -1.0
        tex = noise2d(rng, s, base=3, octaves=4, stretch=3.0)
        _rocks(rng, img, tex, [hz + 0.02], (0.1, 0.35), snow, fade=rng.uniform(0.0, 0.4))
    elif back < 0.4:  # headland at the horizon
        side = x < rng.uniform(0.15, 0.4) if rng.random() < 0.5 else x > rng.uniform(0.6, 0.85)
        land = side & (y > ridge(rng, s, hz, rng.uniform(0.03, 0.12), 2, 4))
        mix(img, land, color(rng, (40, 60, 40), (90, 100, 80)))
    _water(rng, img, hz, chop=rng.uniform(0.3, 1.0) if h else 1.0)
    if chance(rng, 0.3, h):  # a cliff on one side, down into the water
        left = rng.random() < 0.5
        edge = rng.uniform(0.15, 0.45) + 0.1 * (noise2d(rng, s, 2, 4)[:, :1] - 0.5)  # (s, 1) cliff face
        cliff = (x < edge if left else x > 1 - edge) & (y > ridge(rng, s, rng.uniform(0.1, 0.4), 0.15, 2, 5))
        tex = noise2d(rng, s, base=3, octaves=4, stretch=0.4)
        mix(img, cliff, tone(rng, 70, 150, warm=1.0) * (0.6 + 0.7 * tex)[..., None])
    if chance(rng, 0.1, h):
        _icebergs(rng, img, hz, int(rng.integers(1, 4)))
    if rng.random() < 0.35 + 0.15 * h:  # beach in front (the Landscape "Coast" look)
        shore = ridge(rng, s, rng.uniform(0.85, 0.97) - h * rng.uniform(0.0, 0.2), 0.06, 2, 4)
        mix(img, y > shore, color(rng, (190, 170, 130), (230, 210, 170)))
    return img


def _desert(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    hz = rng.uniform(0.25, 0.5)
    img = sky(rng, s, "desert", hz, rng.uniform(0.0, 0.25), h)
    if chance(rng, 0.3, h):  # rocky hills or mesas behind the dunes (the mountain look-alike)
        hz = max(hz, rng.uniform(0.35, 0.55))
        tex = noise2d(rng, s, base=3, octaves=4, stretch=3.0)
        _rocks(rng, img, tex, [hz + 0.03], (0.08, 0.3), -1.0, arid=rng.random() < 0.7, fade=rng.uniform(0.0, 0.4))
    sand = color(rng, (195, 145, 85), (235, 190, 135))
    if chance(rng, 0.4, h):  # grey-brown gravel and dull sand
        sand = color(rng, (140, 120, 95), (200, 180, 150))
    grain = noise2d(rng, s, 6, 2)[..., None]
    layers = int(rng.integers(3, 6))
    flat = F32(rng.uniform(0.2, 1.0) if h else 1.0)  # hard scenes: gentler dunes
    for k in range(layers):  # dune rows, back to front: lit windward flank, sharp crest, shadowed slip face
        near = k / max(layers - 1, 1)
        crest = rng.uniform(0.3, 0.7)
        freq = rng.uniform(0.7, 2.5) / (0.5 + near)
        t = np.mod(x * freq + rng.uniform(0, 1) + 0.3 * noise1d(rng, s, 2, 3), 1)
        bump = np.where(t < crest, t / crest, (1 - t) / (1 - crest)) ** 1.5
        ry = hz + (1 - hz) * near * rng.uniform(0.6, 0.85) - flat * rng.uniform(0.05, 0.15) * (0.4 + near) * bump
        r0 = row(ry, s)
        yy = y[r0:]
        face = np.mod(t + rng.uniform(-1.5, 1.5) * (yy - ry), 1) < crest  # slanted lit / shadow boundary
        lit = rng.uniform(1.0, 1.12)
        dim = lit - flat * (lit - rng.uniform(0.7, 0.85))
        light = np.where(face, lit, dim) - 0.25 * np.clip(yy - ry, 0, 1)
        mix(img[r0:], yy > ry, sand * (1 - 0.08 * near) * (light[..., None] + 0.08 * grain[r0:]))
    if chance(rng, 0.35, h):  # dry scrub
        crowns(rng, img, int(rng.integers(3, 12)), hz + 0.1, 0.97, (0.01, 0.04),
               color(rng, (60, 60, 30), (120, 110, 60)))
    return img


def _forest(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    clearing = chance(rng, 0.2, h)  # open sky, and mountains over the trees
    img = sky(rng, s, "forest", rng.uniform(0.4, 0.6) if clearing else 0.3, rng.uniform(0, 0.5) * clearing, h)
    top = rng.uniform(0.3, 0.55) if clearing else rng.uniform(0.05, 0.25)
    if clearing and rng.random() < 0.4:
        tex = noise2d(rng, s, base=3, octaves=4, stretch=3.0)
        _rocks(rng, img, tex, [top + 0.05], (0.1, 0.3), rng.uniform(-0.5, 0.6), fade=rng.uniform(0.1, 0.5))
    dark = color(rng, (15, 40, 15), (50, 85, 45))
    fill = y > ridge(rng, s, top, 0.15, 3, 5)
    mix(img, fill, dark * (0.6 + 0.8 * noise2d(rng, s, 8, 3))[..., None])
    trunk = color(rng, (50, 35, 20), (100, 75, 50))
    for cx in rng.uniform(0, 1, int(rng.integers(3, 9))):  # vertical trunks in the undergrowth
        c0, c1 = int((cx - rng.uniform(0.01, 0.04)) * s), int(cx * s) + 1
        img[int(rng.uniform(top + 0.15, top + 0.45) * s) :, max(c0, 0) : c1] = trunk * rng.uniform(0.7, 1.1)
    if chance(rng, 0.2, h):  # a track through the trees (the street look-alike)
        vx, vy = rng.uniform(0.3, 0.7), rng.uniform(0.5, 0.7)
        track = (y > vy) & (np.abs(x - vx) < (y - vy) / (1 - vy) * rng.uniform(0.2, 0.5))
        mix(img, track, tone(rng, 80, 150, warm=1.0))
    broadleaf = chance(rng, 0.5, h)
    if broadleaf:  # round crowns, green or (autumn) yellow to rust
        autumn = rng.random() < 0.25
        leaf = color(rng, (150, 90, 20), (220, 170, 60)) if autumn else color(rng, (30, 70, 20), (90, 140, 60))
        crowns(rng, img, int(rng.integers(8, 20)), top - 0.05, 0.8, (0.06, 0.16), leaf, trunk)
    n = int(rng.integers(3, 12) if broadleaf else rng.integers(20, 45))
    _conifers(rng, img, n, (top - 0.15, top + 0.7 * (1 - top)), (0.25, 0.6))
    return img


PAINTERS: dict[str, Callable[..., np.ndarray]] = {
    "buildings": buildings, "desert": _desert, "forest": _forest, "glacier": _glacier,
    "mountain": _mountain, "sea": _sea, "street": street,
}  # fmt: skip

#: The classes each class is mistaken for in the real sets: a mislabelled image is painted as one of these.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "buildings": ("street",), "desert": ("mountain",), "forest": ("mountain",), "glacier": ("mountain", "sea"),
    "mountain": ("glacier", "desert"), "sea": ("glacier", "mountain"), "street": ("buildings",),
}  # fmt: skip
