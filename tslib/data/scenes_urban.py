"""The urban painters, buildings and street. In hard scenes (``h`` > 0) they share their parts the way the real
photos do: streets are lined by facades (or seen head-on across the road), buildings stand behind a road with
cars, are seen at an angle or so close that no sky shows, and both get street trees."""

from __future__ import annotations

import numpy as np

from .scenes_kit import F32, Rng, chance, color, crowns, grid, mix, px, sky, tone


def _car(rng: Rng, img: np.ndarray, cx: float, base: float, w: float) -> None:
    """A car seen from behind or the front: body, cabin with glass, wheels; ``w`` wide, standing on ``base``."""
    s = img.shape[0]
    body = color(rng, (30, 30, 35), (225, 225, 230)) if rng.random() < 0.7 else color(rng, (90, 20, 20), (230, 200, 60))
    img[px(base - 0.6 * w, s) : px(base - 0.35 * w, s), px(cx - 0.32 * w, s) : px(cx + 0.32 * w, s)] = body * 0.85
    rows = slice(px(base - 0.55 * w, s), px(base - 0.38 * w, s))
    cols = slice(px(cx - 0.27 * w, s), px(cx + 0.27 * w, s))
    img[rows, cols] = tone(rng, 20, 60)
    img[px(base - 0.36 * w, s) : px(base - 0.08 * w, s), px(cx - 0.5 * w, s) : px(cx + 0.5 * w, s)] = body
    for side in (-1, 1):
        c0 = cx + side * 0.35 * w
        img[px(base - 0.12 * w, s) : px(base, s), px(c0 - 0.1 * w, s) : px(c0 + 0.1 * w, s)] = 25.0


def _facades(rng: Rng, img: np.ndarray, ground: float, roofs: tuple[float, float], h: float) -> None:
    """A row of facades with window grids standing on ``ground``; hard scenes add brick and glass walls."""
    s = img.shape[0]
    y, x = grid(s)
    x0 = rng.uniform(-0.2, 0.0)
    r1 = px(ground, s)
    while x0 < 1:
        w, roof = rng.uniform(0.15, 0.45), rng.uniform(*roofs)
        pxx, pyy = rng.uniform(0.03, 0.08), rng.uniform(0.04, 0.09)
        fx, fy = rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.65)
        c0, c1, r0 = max(int(x0 * s), 0), min(int((x0 + w) * s), s), max(int(roof * s), 0)
        xx, yy, box = x[:, c0:c1], y[r0:r1], img[r0:r1, c0:c1]
        box[...] = tone(rng, 80, 200, warm=1.0)
        kind = rng.random()
        if kind < 0.25 * h:  # brick: warm red-brown with mortar courses
            box[...] = color(rng, (110, 50, 35), (180, 110, 80))
            mix(box, np.broadcast_to(np.mod(yy, 0.025) < 0.006, box.shape[:2]), tone(rng, 150, 200))
        elif kind < 0.45 * h:  # glass curtain wall: mostly window
            fx, fy = rng.uniform(0.8, 0.95), rng.uniform(0.8, 0.95)
        dark = rng.random() < 0.8  # dark glass, or windows reflecting the sky
        glass = tone(rng, 30, 110) * [0.8, 0.9, 1.1] if dark else tone(rng, 170, 230) * [0.9, 1, 1]
        wins = (np.mod(xx - x0, pxx) < fx * pxx) & (np.mod(yy - roof - 0.02, pyy) < fy * pyy) & (yy > roof + 0.03)
        mix(box, wins & (xx < x0 + w - 0.01), glass)
        x0 += w


def _walls(rng: Rng, img: np.ndarray, vx: float, vy: float, wside: float, height: float) -> np.ndarray:
    """Facades in perspective toward the vanishing point (vx, vy), ground line reaching the image bottom ``wside``
    from it; returns that ground line y(x), shape (1, s)."""
    s = img.shape[0]
    y, x = grid(s)
    dl = np.abs(x - vx) / np.where(x < vx, max(vx, 0.05), max(1 - vx, 0.05)) + F32(1e-3)  # 0 at the vanishing point
    ytop = vy - dl * height * (vy + 0.1)
    yground = vy + np.abs(x - vx) / wside * (1 - vy)
    seg = np.floor(rng.uniform(1.5, 3) / dl + 8 * (x > vx)).astype(int) % 16  # one facade per segment
    wall = np.empty((s, s, 3), F32)
    wall[...] = tone(rng, 80, 200, warm=1.0, n=16)[seg]
    rel = (y - ytop) / (yground - ytop + F32(1e-6))
    cols, floors = np.sin(rng.uniform(6, 12) / dl) > 0.2, np.mod(rel * rng.integers(4, 9), 1) < 0.55
    mix(wall, cols & floors & (rel < 0.85), tone(rng, 30, 100) * [0.85, 0.92, 1.05])
    mix(img, (y > ytop) & (y <= yground), wall)
    return yground


def _road_band(rng: Rng, img: np.ndarray, top: float, cars: bool) -> None:
    """A road seen from the side below ``top``: kerb, asphalt, a dashed centre line, maybe parked cars."""
    s = img.shape[0]
    y, x = grid(s)
    kerb = top + rng.uniform(0.02, 0.06)
    img[px(top, s) : px(kerb, s)] = tone(rng, 130, 185, warm=0.4)
    img[px(kerb, s) :] = tone(rng, 45, 95, warm=0.2)
    mid = (kerb + 1) / 2
    dashes = (np.mod(x[0] * 6, 1) < 0.5)[:, None]
    img[px(mid - 0.008, s) : px(mid + 0.008, s) + 1] = np.where(dashes, 230.0, img[px(mid, s)])
    if cars:
        for cx in rng.uniform(0, 1, int(rng.integers(1, 4))):
            _car(rng, img, cx, kerb + rng.uniform(0.05, 0.25) * (1 - kerb), rng.uniform(0.15, 0.3))


def buildings(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    img = sky(rng, s, "buildings", 0.4, rng.uniform(0.0, 0.3), h)
    road = chance(rng, 0.4, h)  # a road in front (the street look-alike)
    ground = rng.uniform(0.55, 0.8) if road else rng.uniform(0.85, 1.0)
    if chance(rng, 0.25, h):  # one long facade seen at an angle
        vx = rng.uniform(-0.6, -0.2) if rng.random() < 0.5 else rng.uniform(1.2, 1.6)
        yground = _walls(rng, img, vx, rng.uniform(0.3, 0.5), rng.uniform(0.9, 1.5), rng.uniform(0.8, 1.6))
        mix(img, y > np.maximum(yground, ground), tone(rng, 50, 110, warm=0.5))
    else:
        close = chance(rng, 0.25, h)  # close up: the roofs are above the frame
        _facades(rng, img, ground, (-0.4, -0.05) if close else (-0.1, 0.35), h)
        img[px(ground, s) :] = tone(rng, 50, 110, warm=0.5)
    if road:
        _road_band(rng, img, ground, rng.random() < 0.6)
    if chance(rng, 0.35, h):  # street trees in front
        leaf = color(rng, (30, 70, 20), (100, 150, 60))
        crowns(rng, img, int(rng.integers(1, 5)), ground - 0.3, ground - 0.1, (0.06, 0.15), leaf,
               tone(rng, 40, 80, 1.0))
    return img


def street(rng: Rng, s: int, h: float = 0.0) -> np.ndarray:
    y, x = grid(s)
    if chance(rng, 0.2, h):  # head-on across the road: facades behind it (the buildings look-alike)
        img = sky(rng, s, "street", 0.4, rng.uniform(0.0, 0.3), h)
        ground = rng.uniform(0.4, 0.6)
        _facades(rng, img, ground, (-0.1, 0.3), h)
        _road_band(rng, img, ground, rng.random() < 0.8)
        return img
    vy, vx = rng.uniform(0.35, 0.5), rng.uniform(0.35, 0.65)
    img = sky(rng, s, "street", vy, rng.uniform(0.0, 0.3), h)
    wroad = rng.uniform(0.35, 0.7)
    wside = wroad * rng.uniform(1.3, 1.7)
    height = rng.uniform(0.35, 0.6) if not h else rng.uniform(0.15, 1.2)  # hard: low houses to tall blocks
    yground = _walls(rng, img, vx, vy, wside, height)
    # 0 on the centre line of the road, wroad at its edge
    spread = np.abs(x - vx) / (np.maximum(y - vy, 0) / (1 - vy) + F32(1e-6))
    mix(img, (y > yground) & (spread >= wroad), tone(rng, 130, 185, warm=0.4))  # pavement
    road = (y > yground) & (spread < wroad)
    mix(img, road, tone(rng, 45, 95, warm=0.2))
    yellow = rng.random() < 0.5
    line = color(rng, (215, 180, 30), (250, 220, 90)) if yellow else np.array([235.0, 235, 235], F32)
    dashes = np.sin(rng.uniform(1, 3) / (np.maximum(y - vy, 0) + 0.02)) > 0
    mix(img, road & (spread < 0.015) & dashes, line)
    mix(img, road & (np.abs(spread - wroad * 0.92) < 0.012), 225.0)
    if chance(rng, 0.35, h):  # trees along the pavements
        leaf = color(rng, (30, 70, 20), (100, 150, 60))
        crowns(rng, img, int(rng.integers(2, 7)), vy - 0.1, vy + 0.2, (0.05, 0.14), leaf, tone(rng, 40, 80, 1.0))
    if chance(rng, 0.55, h):  # traffic, far to near
        for t in np.sort(rng.uniform(0.1, 0.8, int(rng.integers(1, 4)))):
            side = rng.uniform(-0.7, 0.7)
            _car(rng, img, vx + side * wroad * t, vy + t * (1 - vy), 0.6 * wroad * t)
    return img
