"""Procedural aerial maps: deterministic, every class present, colours follow the mask, and they tile as
Landcover.ai does."""

from __future__ import annotations

import numpy as np
import pytest

from tslib.data.aerial import aerial_scene, write_aerial
from tslib.data.landcover import prepare_landcover


def _nearest_mean_recall(img: np.ndarray, mask: np.ndarray) -> float:
    """Balanced accuracy (mean per-class recall) of the simplest classifier: each pixel to the class whose mean
    colour is nearest."""
    classes = np.unique(mask)
    means = np.stack([img[mask == c].mean(0) for c in classes])
    pix, labels = img[::4, ::4].reshape(-1, 3).astype(np.float32), mask[::4, ::4].ravel()
    pred = classes[((pix[:, None] - means) ** 2).sum(-1).argmin(1)]
    return float(np.mean([(pred[labels == c] == c).mean() for c in classes]))


def _texture(img: np.ndarray, where: np.ndarray) -> float:
    """Spread of 7x7 local means away from the borders of ``where``: structure larger than a pixel (per-pixel noise
    averages out)."""
    import cv2

    inside = cv2.erode(where.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    return float(cv2.blur(img.astype(np.float32), (7, 7))[inside].std(0).mean())


@pytest.mark.parametrize("difficulty", ["easy", "realistic"])
def test_scenes_are_deterministic_and_labelled(difficulty):
    img, mask = aerial_scene(1024, 1024, seed=3, index=1, difficulty=difficulty)
    again, mask2 = aerial_scene(1024, 1024, seed=3, index=1, difficulty=difficulty)
    assert np.array_equal(img, again) and np.array_equal(mask, mask2)
    assert img.shape == (1024, 1024, 3) and img.dtype == mask.dtype == np.uint8
    assert not np.array_equal(aerial_scene(1024, 1024, seed=3, index=2, difficulty=difficulty)[1], mask)
    seen = set()
    for i in range(4):
        seen |= set(np.unique(aerial_scene(768, 768, seed=3, index=i, difficulty=difficulty)[1]).tolist())
    assert seen == {0, 1, 2, 3, 4}


def test_easy_maps_give_each_class_its_own_colour():
    img, mask = aerial_scene(1024, 1024, seed=3, index=1, difficulty="easy")
    mean = {c: img[mask == c].mean(0) for c in range(5)}
    assert mean[3][2] > mean[3][0] + 30  # water is blue
    assert mean[2][1] > mean[2][0] and mean[2].sum() < mean[0].sum()  # woodland is dark green
    assert mean[1][0] > mean[1][2] + 50  # roofs are red
    assert _nearest_mean_recall(img, mask) > 0.97


def test_realistic_maps_are_confusable_textured_and_vary_between_maps():
    maps = [aerial_scene(1024, 1024, seed=0, index=i, difficulty="realistic") for i in range(3)]
    easy_img, easy_mask = aerial_scene(1024, 1024, seed=0, index=0, difficulty="easy")
    easy = easy_img, easy_mask == 2
    for img, mask in maps:  # colour alone no longer separates the classes
        assert _nearest_mean_recall(img, mask) < 0.75
        assert _texture(img, mask == 2) > 4 * _texture(*easy)  # crowns, gaps and shadows, not a flat colour
    field_means = np.stack([img[mask == 0].mean(0) for img, mask in maps])
    assert np.ptp(field_means, 0).max() > 8  # season and light differ between flights
    assert not np.array_equal(easy_mask, maps[0][1])


def test_unknown_difficulty_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="not one of"):
        aerial_scene(512, 512, difficulty="hard")
    monkeypatch.setenv("TSLIB_PROCEDURAL", "easy")
    assert np.array_equal(aerial_scene(512, 512)[1], aerial_scene(512, 512, difficulty="easy")[1])


def test_written_maps_tile_with_prepare_landcover(tmp_path):
    root = write_aerial(tmp_path / "aerial", n_images=2, height=1100, width=1300, seed=1)
    import rasterio

    with rasterio.open(root / "images" / "AERIAL-1-001.tif") as ds:  # placed as Landcover.ai's are, side by side
        assert ds.crs.to_epsg() == 2180 and ds.res == (0.25, 0.25) and ds.bounds.left == 450_000 + 1300 * 0.25
        assert np.array_equal(np.moveaxis(ds.read(), 0, -1), aerial_scene(1100, 1300, seed=1, index=1)[0])
    assert "realistic" in (root / "TSLIB_PROCEDURAL_AERIAL.txt").read_text()
    report = prepare_landcover(root, progress=False)
    assert report["written"] == 2 * 2 * 2 and not report["unreadable"]  # 2x2 full tiles per 1100x1300 map
    listed = sum(v["listed"] for v in report["splits"].values())
    assert listed == 8 and sum(v["tiles"] for v in report["splits"].values()) == 8
    assert report["splits"]["train"]["listed"] >= 4
    with pytest.raises(ValueError, match="sides >= 512"):
        write_aerial(tmp_path / "x", height=100)
