"""Procedural aerial maps: deterministic, every class present, colours follow the mask, and they tile as
Landcover.ai does."""

from __future__ import annotations

import numpy as np
import pytest

from tslib.data.aerial import aerial_scene, write_aerial
from tslib.data.landcover import prepare_landcover


def test_scenes_are_deterministic_and_labelled():
    img, mask = aerial_scene(1024, 1024, seed=3, index=1)
    again, mask2 = aerial_scene(1024, 1024, seed=3, index=1)
    assert np.array_equal(img, again) and np.array_equal(mask, mask2)
    assert not np.array_equal(aerial_scene(1024, 1024, seed=3, index=2)[1], mask)
    assert set(np.unique(mask).tolist()) == {0, 1, 2, 3, 4}
    mean = {c: img[mask == c].mean(0) for c in range(5)}
    assert mean[3][2] > mean[3][0] + 30  # water is blue
    assert mean[2][1] > mean[2][0] and mean[2].sum() < mean[0].sum()  # woodland is dark green
    assert mean[1][0] > mean[1][2] + 50  # roofs are red


def test_written_maps_tile_with_prepare_landcover(tmp_path):
    root = write_aerial(tmp_path / "aerial", n_images=2, height=1100, width=1300, seed=1)
    import rasterio

    with rasterio.open(root / "images" / "AERIAL-1-001.tif") as ds:  # placed as Landcover.ai's are, side by side
        assert ds.crs.to_epsg() == 2180 and ds.res == (0.25, 0.25) and ds.bounds.left == 450_000 + 1300 * 0.25
        assert np.array_equal(np.moveaxis(ds.read(), 0, -1), aerial_scene(1100, 1300, seed=1, index=1)[0])
    report = prepare_landcover(root, progress=False)
    assert report["written"] == 2 * 2 * 2 and not report["unreadable"]  # 2x2 full tiles per 1100x1300 map
    listed = sum(v["listed"] for v in report["splits"].values())
    assert listed == 8 and sum(v["tiles"] for v in report["splits"].values()) == 8
    assert report["splits"]["train"]["listed"] >= 4
    with pytest.raises(ValueError, match="sides >= 512"):
        write_aerial(tmp_path / "x", height=100)
