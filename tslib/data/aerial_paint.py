"""Realistic procedural orthophotos (the default of :func:`tslib.data.aerial.aerial_scene`).

What makes real 25-50 cm orthophotos hard, drawn on purpose: fields in parcels with crop rows and bare soil whose
colours overlap roofs and roads; woodland as individual crowns with sun-side highlights and cast shadows; roofs of
several materials and shapes (gabled, L-shaped) with shadows; asphalt and dirt roads of varying width, crowns
overhanging them; water that is turbid, reflects the sky and is darker at its shores; a season, sun direction and
exposure drawn per map; and masks whose class borders wander by a pixel or two, as hand-drawn labels do.
"""

from __future__ import annotations

import numpy as np

BACKGROUND, BUILDING, WOODLAND, WATER, ROAD = range(5)

# Per season: field colours (crop, ripe/dry crop, ploughed soil, bare grey soil, meadow) and crown colours.
_SEASONS = {
    "spring": {"fields": [(105, 140, 70), (150, 150, 95), (120, 100, 80), (150, 140, 125), (95, 125, 70)],
               "crowns": [(60, 95, 55), (45, 75, 50), (80, 110, 60)]},
    "summer": {"fields": [(95, 120, 60), (190, 170, 110), (140, 115, 90), (165, 155, 140), (120, 135, 75)],
               "crowns": [(45, 75, 40), (35, 60, 40), (65, 90, 45)]},
    "autumn": {"fields": [(125, 125, 80), (175, 150, 100), (110, 90, 75), (150, 135, 120), (130, 125, 80)],
               "crowns": [(95, 90, 50), (50, 70, 45), (115, 95, 55)]},
}
# Roof materials: red tile, dark slate, light concrete, brown tile, weathered metal; several share field colours.
_ROOFS = [(165, 75, 60), (80, 80, 85), (175, 172, 165), (125, 95, 75), (140, 145, 140)]
_ASPHALT, _DIRT = (95, 95, 95), (150, 135, 115)
_WATERS = [(45, 65, 85), (70, 85, 70), (55, 70, 95), (85, 90, 75)]  # clear, turbid green, deep, silty


def noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: coarse uniform noise on a ``cells``-wide grid upsampled bicubically."""
    import cv2

    coarse = rng.random((max(2, cells * h // max(h, w)), max(2, cells * w // max(h, w)))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def _parcels(rng: np.random.Generator, h: int, w: int, palette: list) -> np.ndarray:
    """Fields as Voronoi parcels, each one crop colour with rows at its own angle and spacing."""

    n = max(4, int(h * w / 350**2))
    seeds = rng.uniform((0, 0), (h, w), (n, 2)).astype(np.float32)
    ids = np.empty((h, w), np.intp)
    xx = np.arange(w, dtype=np.float32)
    for y0 in range(0, h, 128):  # the nearest seed, 128 rows at a time to keep the distance array small
        yy = np.arange(y0, min(y0 + 128, h), dtype=np.float32)
        d = (yy[:, None, None] - seeds[:, 0]) ** 2 + (xx[None, :, None] - seeds[:, 1]) ** 2
        ids[y0:y0 + len(yy)] = d.argmin(-1)
    colours = np.array(palette, np.float32)[rng.integers(0, len(palette), n)]
    colours += rng.normal(0, 10, (n, 1)) + rng.normal(0, 4, (n, 3))  # no two parcels quite alike
    angle, period = rng.uniform(0, np.pi, n), rng.uniform(5, 18, n)
    amp = rng.uniform(0, 14, n) * (rng.random(n) < 0.7)  # some parcels without rows (meadow, bare soil)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (x * np.cos(angle)[ids] + y * np.sin(angle)[ids]) * (2 * np.pi / period[ids])
    img = colours[ids] + (amp[ids] * np.sin(phase))[..., None]
    return img * (0.85 + 0.3 * noise(rng, h, w, 40))[..., None]  # soil moisture, patchy growth


def _road_lines(rng: np.random.Generator, h: int, w: int) -> list[tuple[np.ndarray, int, bool]]:
    """Roads as smooth random walks across the map: (points, width in px, asphalt?)."""
    roads = []
    for _ in range(int(rng.integers(2, 5) * max(1.0, h * w / 2048**2))):
        x, y, heading = rng.uniform(0, w), 0.0, rng.uniform(0.3, 2.8)
        if rng.random() < 0.5:  # some roads enter from the side
            x, y, heading = 0.0, rng.uniform(0, h), rng.uniform(-1.2, 1.2)
        pts = []
        while -0.2 * h <= y <= 1.2 * h and -0.2 * w <= x <= 1.2 * w and len(pts) < 400:
            pts.append((int(x), int(y)))
            heading += rng.normal(0, 0.07)
            x, y = x + 25 * np.cos(heading), y + 25 * np.sin(heading)
        asphalt = rng.random() < 0.6
        width = int(rng.integers(12, 24) if asphalt else rng.integers(6, 12))
        roads.append((np.array(pts, np.int32), width, asphalt))
    return roads


def _crowns(rng, img, centres, sun, palette, radius=(5, 13)) -> None:
    """Tree crowns at ``centres`` ([N, 2] y, x): cast shadows first, then crowns, then highlights towards the sun."""
    import cv2

    centres = np.asarray(centres, np.float32).reshape(-1, 2)
    radii = rng.integers(*radius, len(centres))
    colours = np.array(palette, np.float32)[rng.integers(0, len(palette), len(centres))]
    colours += rng.normal(0, 6, colours.shape)
    shade = np.zeros(img.shape[:2], np.uint8)
    for (cy, cx), r in zip(centres, radii):
        cv2.circle(shade, (int(cx + sun[1] * r * 1.2), int(cy + sun[0] * r * 1.2)), int(r), 1, -1)
    img[shade > 0] *= 0.55
    for (cy, cx), r, colour in zip(centres, radii, colours):
        cv2.circle(img, (int(cx), int(cy)), int(r), colour.tolist(), -1)
        hl = (int(cx - sun[1] * r * 0.35), int(cy - sun[0] * r * 0.35))
        cv2.circle(img, hl, max(1, int(r) // 2), (colour * 1.12).tolist(), -1)


def _buildings(rng, img, mask, roads, sun, h, w) -> None:
    """Houses beside the roads, facing them: rectangles and L-shapes, gabled or flat, each with its shadow.
    Each is drawn in its own small window of the map (a full-map array per house would dominate the time)."""
    import cv2

    for _ in range(int(rng.integers(40, 110) * h * w / 2048**2) + 1):
        pts, width, _ = roads[rng.integers(0, len(roads))]
        i = int(rng.integers(0, max(1, len(pts) - 1)))
        p, q = pts[i].astype(np.float32), pts[min(i + 1, len(pts) - 1)].astype(np.float32)
        along = (q - p) / (np.linalg.norm(q - p) + 1e-6)
        normal = np.array([-along[1], along[0]]) * rng.choice([-1, 1])
        bw, bl = rng.uniform(16, 40), rng.uniform(20, 60)
        centre = p + along * rng.uniform(0, 25) + normal * (width / 2 + bw / 2 + rng.uniform(6, 30))
        angle = float(np.degrees(np.arctan2(along[1], along[0]))) + rng.normal(0, 4)
        parts = [(centre, (bl, bw))]
        if rng.random() < 0.3:  # an L-shaped wing
            parts.append((centre + normal * bw * 0.6 + along * bl * 0.3, (bw, bw * 1.2)))
        height, roof = rng.uniform(4, 14), np.array(_ROOFS[rng.integers(0, len(_ROOFS))], np.float32)
        roof += rng.normal(0, 10, 3)
        gabled, side = rng.random() < 0.6, 0.75 if normal @ np.array([sun[1], sun[0]]) > 0 else 1.15
        x0, y0 = int(centre[0] - 80), int(centre[1] - 80)  # a 160 px window holds the house and its shadow
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + 160, w), min(y0 + 160, h)
        if xa >= xb or ya >= yb:
            continue
        foot = np.zeros((160, 160), np.uint8)
        polys = [cv2.boxPoints(((float(c[0] - x0), float(c[1] - y0)), s, angle)).astype(np.int32) for c, s in parts]
        for poly in polys:  # one call each: fillPoly fills overlapping polygons even-odd
            cv2.fillPoly(foot, [poly], 1)
        foot = foot[ya - y0:yb - y0, xa - x0:xb - x0]
        win, labels = img[ya:yb, xa:xb], mask[ya:yb, xa:xb]
        if not foot.any() or np.isin(labels[foot > 0], (ROAD, WATER, BUILDING)).any():
            continue
        shadow = np.roll(foot, (int(sun[0] * height), int(sun[1] * height)), (0, 1)) & (foot == 0)
        win[shadow > 0] *= 0.5
        win[foot > 0] = roof
        if gabled:  # the roof half facing away from the sun is darker
            ridge = np.zeros((160, 160), np.uint8)
            c, (l_, w_) = parts[0]
            half = c + normal * w_ / 4
            cv2.fillPoly(ridge, [cv2.boxPoints(((float(half[0] - x0), float(half[1] - y0)), (l_, w_ / 2), angle))
                                 .astype(np.int32)], 1)
            win[(ridge[ya - y0:yb - y0, xa - x0:xb - x0] > 0) & (foot > 0)] *= side
        labels[foot > 0] = BUILDING


def realistic_scene(height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 [H, W, 3], class-index uint8 [H, W]) drawn from ``rng``; see the module docstring."""
    import cv2

    h, w = height, width
    season = _SEASONS[("spring", "summer", "autumn")[rng.integers(0, 3)]]
    az = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.sin(az), np.cos(az)])  # (dy, dx) in which shadows fall
    mask = np.zeros((h, w), np.uint8)
    img = _parcels(rng, h, w, season["fields"]).astype(np.float32)

    wood = noise(rng, h, w, 5) + 0.12 * noise(rng, h, w, 60) > 0.72
    water = (noise(rng, h, w, 4) > 0.77).astype(np.uint8)
    if rng.random() < 0.4:  # a river: a wide winding stroke
        pts, _, _ = _road_lines(rng, h, w)[0]
        cv2.polylines(water, [pts], False, 1, thickness=int(rng.integers(30, 90)))
    water = water > 0
    roads = _road_lines(rng, h, w)
    road = np.zeros((h, w), np.uint8)
    for pts, rw, asphalt in roads:
        colour = np.array(_ASPHALT if asphalt else _DIRT, np.float32) + rng.normal(0, 10) + rng.normal(0, 3, 3)
        cv2.polylines(img, [pts], False, (colour * 1.15).tolist(), thickness=rw + 4)  # lighter shoulders
        cv2.polylines(img, [pts], False, colour.tolist(), thickness=rw)
        cv2.polylines(road, [pts], False, 1, thickness=rw)
        if asphalt and rw >= 18:  # dashed centre line
            for a, b in zip(pts[::2], pts[1::2]):
                cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in (a + (b - a) // 2)), (200,) * 3, 1)
    mask[wood] = WOODLAND
    mask[water] = WATER
    mask[road > 0] = ROAD

    # Woodland: dark understorey under dense crowns, crowns spilling over its edges and over roads.
    img[mask == WOODLAND] = img[mask == WOODLAND] * 0.3 + np.array(season["crowns"][1], np.float32) * 0.4
    ys, xs = np.nonzero(mask == WOODLAND)
    if len(ys):
        pick = rng.integers(0, len(ys), int(len(ys) / 90))
        _crowns(rng, img, np.stack([ys[pick], xs[pick]], 1), sun, season["crowns"])
    edge = cv2.morphologyEx(road, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(edge)
    if len(ys):  # roadside trees (labelled as what lies under them) and trees scattered over the fields
        pick = rng.integers(0, len(ys), int(len(ys) / 60))
        _crowns(rng, img, np.stack([ys[pick], xs[pick]], 1), sun, season["crowns"], radius=(4, 10))
    _crowns(rng, img, rng.uniform((0, 0), (h, w), (int(h * w / 40000), 2)), sun, season["crowns"], (4, 9))

    # Water: turbid, the sky reflected in patches, darker and greener at the shore.
    wpx = mask == WATER
    if wpx.any():
        base = np.array(_WATERS[rng.integers(0, len(_WATERS))], np.float32)
        turbid = noise(rng, h, w, 12)[wpx, None]
        shore = cv2.distanceTransform(wpx.astype(np.uint8), cv2.DIST_L2, 3)[wpx, None]
        sky = np.clip((noise(rng, h, w, 20)[wpx, None] - 0.55) / 0.35, 0, 1) * rng.uniform(20, 60)
        sky = sky + 6 * noise(rng, h, w, 400)[wpx, None]  # ripples
        img[wpx] = base * (0.8 + 0.4 * turbid) + sky - 25 * np.exp(-shore / 6) * np.array([1, 0.3, 1])

    _buildings(rng, img, mask, roads, sun, h, w)

    # The whole map: exposure and colour cast of its flight, haze, sensor noise, a slight blur.
    img = img * rng.uniform(0.8, 1.15) * (1 + rng.uniform(-0.04, 0.04) * np.array([1, 0.3, -1]))  # warm/cool
    img = img * (0.9 + 0.2 * noise(rng, h, w, 3))[..., None] + rng.uniform(0, 25)
    img = cv2.GaussianBlur(img + rng.normal(0, 4, img.shape).astype(np.float32), (0, 0), 0.7)

    # Hand-drawn borders: displace the labels (not the image) by a smooth field of up to ~2 px.
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = ((noise(rng, h, w, 80) - 0.5) * 5 for _ in range(2))
    mask = cv2.remap(mask, x + dx, y + dy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return np.clip(img, 0, 255).astype(np.uint8), mask
