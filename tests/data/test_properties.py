"""Property-based tests (hypothesis): the split for any class counts, tiling for any image size."""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tslib.data.landcover import tile_orthophoto
from tslib.data.manifest import DEFAULT_FRACTIONS, SPLITS, Entry, assign_splits

counts_strategy = st.dictionaries(st.sampled_from(["buildings", "desert", "forest", "glacier", "mountain", "sea"]),
                                  st.integers(0, 60), min_size=1)


def _entries(counts: dict[str, int]) -> list[Entry]:
    return [Entry(f"{label}/{i}.jpg", label, "", "intel", hashlib.sha1(f"{label}{i}".encode()).hexdigest(), 8, 8, "")
            for label, n in counts.items() for i in range(n)]


@settings(max_examples=60, deadline=None)
@given(counts=counts_strategy, seed=st.integers(0, 2**31), shuffle=st.randoms(use_true_random=False))
def test_split_is_stratified_disjoint_and_deterministic(counts, seed, shuffle):
    entries = assign_splits(_entries(counts), seed=seed)
    by_path = {e.path: e.split for e in entries}
    assert len(by_path) == len(entries) and set(by_path.values()) <= set(SPLITS)  # one split per image
    total = sum(DEFAULT_FRACTIONS)
    for label, n in counts.items():
        got = Counter(e.split for e in entries if e.label == label)
        assert sum(got.values()) == n
        for split, fraction in zip(SPLITS, DEFAULT_FRACTIONS):  # stratified: each class within 1 of its share
            assert abs(got[split] - n * fraction / total) < 1 + 1e-9, (label, n, dict(got))
    again = _entries(counts)
    shuffle.shuffle(again)  # any listing order, a fresh process: the same assignment
    assert {e.path: e.split for e in assign_splits(again, seed=seed)} == by_path


@settings(max_examples=25, deadline=None)
@given(height=st.integers(1, 70), width=st.integers(1, 70), size=st.integers(8, 24), seed=st.integers(0, 1000))
def test_tiling_covers_exactly_the_full_tile_grid(height, width, size, seed):
    """Tiles are the full ``size`` squares of the grid, numbered row by row over every grid position (remainders
    counted, not written), each holding exactly its pixels; nothing else is written."""
    rng = np.random.default_rng(seed)
    image = np.repeat(rng.integers(0, 256, (height, width, 1), dtype=np.uint8), 3, -1)  # grey: JPEG keeps its luma
    mask = np.repeat(rng.integers(0, 5, (height, width, 1), dtype=np.uint8), 3, -1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        assert cv2.imwrite(str(root / "m.tif"), image) and cv2.imwrite(str(root / "m_mask.tif"), mask)
        (out := root / "tiles").mkdir()
        if min(height, width) < size:
            try:
                written, _ = tile_orthophoto(root / "m.tif", root / "m_mask.tif", out, size)
            except ValueError:
                written = 0
            assert written == 0 and not list(out.iterdir())
            return
        written, skipped = tile_orthophoto(root / "m.tif", root / "m_mask.tif", out, size)
        cols = -(-width // size)
        expected = {r * cols + c: (r, c) for r in range(height // size) for c in range(width // size)}
        assert (written, skipped) == (len(expected), 0)
        names = sorted(p.name for p in out.iterdir())
        assert names == sorted([f"m_{k}.jpg" for k in expected] + [f"m_{k}_m.png" for k in expected])
        for k, (r, c) in random.Random(seed).sample(sorted(expected.items()), min(3, len(expected))):
            window = (slice(r * size, (r + 1) * size), slice(c * size, (c + 1) * size))
            assert np.array_equal(cv2.imread(str(out / f"m_{k}_m.png")), mask[window])  # lossless: exact
            jpg = cv2.imread(str(out / f"m_{k}.jpg")).astype(int)
            assert jpg.shape == (size, size, 3) and np.abs(jpg - image[window]).mean() < 25  # another window: ~85
