"""Orthophotos through rasterio: windowed reads equal a whole decode in every TIFF layout, bands are chosen or
asked for, damaged files are one clear error, and the georeference gives areas only where they are honest."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import rasterio
import tifffile
from conftest import write_geotiff

from tslib.data.georaster import GeoRef, RasterRows, open_raster, parse_bands, pixel_area
from tslib.data.imageio import ImageReadError


def _image(h: int, w: int, channels: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [(xx * 3 + yy) % 256, (yy * 5) % 256, (xx ^ yy) % 256, np.full_like(xx, 200), (xx + 7) % 256]
    return np.stack(planes[:channels], -1).astype(np.uint8)


@pytest.mark.parametrize("layout", [dict(compression=None, rowsperstrip=16), dict(compression="zlib", rowsperstrip=7),
                                    dict(compression="lzw", rowsperstrip=32), dict(compression="zlib", tile=(32, 48)),
                                    dict(compression=None, rowsperstrip=16, channels=4),
                                    dict(compression="jpeg", rowsperstrip=16)])
def test_rows_equal_the_whole_image(tmp_path, layout):
    layout = dict(layout)
    channels = layout.pop("channels", 3)
    image = _image(101, 130, channels)
    path = tmp_path / "ortho.tif"
    tifffile.imwrite(path, image, photometric="rgb", extrasamples=[2] * (channels == 4) or None, **layout)
    whole = tifffile.imread(path)[..., :3].astype(int)
    lossy = layout["compression"] == "jpeg"  # two JPEG decoders differ by rounding (GDAL's libjpeg, imagecodecs)

    def same(a, b) -> bool:
        diff = np.abs(a.astype(int) - b)
        return diff.mean() < 2 if lossy else diff.max() == 0

    with RasterRows(path) as rows:
        assert rows.shape == (101, 130, 3) and rows.dtype == np.uint8 and rows.ndim == 3
        for start, stop in ((0, 10), (5, 40), (33, 34), (60, 101), (90, 200), (100, 101)):  # downwards, across strips
            assert same(rows[start:stop], whole[start:stop]), (start, stop)
        assert same(rows[95:101, 7:50], whole[95:101, 7:50])
        assert rows[50:50].shape == (0, 130, 3)
        with pytest.raises(ValueError, match="contiguous"):
            rows[0:10:2]
        assert not rows.georef.georeferenced


def test_photos_and_other_depths_are_decoded_whole(tmp_path):
    image = _image(40, 30)
    cv2.imwrite(str(tmp_path / "a.png"), image[..., ::-1])
    rows, ref = open_raster(tmp_path / "a.png")
    assert isinstance(rows, np.ndarray) and np.array_equal(rows, image) and not ref.georeferenced
    gray = tmp_path / "gray.tif"
    tifffile.imwrite(gray, image[..., 0])  # one band: shown as grey
    assert np.array_equal(open_raster(gray)[0][0:40], np.repeat(image[..., :1], 3, -1))
    deep = tmp_path / "deep.tif"
    tifffile.imwrite(deep, image.astype(np.uint16) * 257, photometric="rgb")  # 16-bit: PIL rescales it
    rows, _ = open_raster(deep)
    assert isinstance(rows, np.ndarray) and rows.shape == (40, 30, 3)
    with pytest.raises(ValueError, match="--bands is for multi-band rasters"):
        open_raster(tmp_path / "a.png", bands=(1, 2, 3))


def test_truncated_and_damaged_rasters_are_a_clear_error(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, _image(200, 64), photometric="rgb", compression="zlib", rowsperstrip=16)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.tif"):
        rows, _ = open_raster(path)
        rows[0:200]
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"II*\x00" + b"\x17" * 300)
    with pytest.raises(ImageReadError, match="junk.tif"):
        open_raster(junk)


def test_bands_are_chosen_or_asked_for(tmp_path):
    image = _image(50, 60, 5)
    path = write_geotiff(tmp_path / "multi.tif", image[..., :4], photometric="MINISBLACK")  # R, G, B, NIR
    with pytest.raises(ValueError, match="4 bands.*--bands"):
        open_raster(path)
    with pytest.raises(ValueError, match="5 bands.*--bands"):
        open_raster(write_geotiff(tmp_path / "five.tif", image, photometric="MINISBLACK"))
    rows, _ = open_raster(path, bands=parse_bands("3,2,1"))
    assert np.array_equal(rows[0:50], image[..., [2, 1, 0]])
    with pytest.raises(ValueError, match="asks for more"):
        open_raster(path, bands=(1, 2, 5))
    for bad in ("1,2", "a,b,c", "0,1,2"):
        with pytest.raises(ValueError, match="--bands"):
            parse_bands(bad)
    rgba = write_geotiff(tmp_path / "rgba.tif", image[..., :4], photometric="RGB", alpha="YES")
    with rasterio.open(rgba) as ds:
        assert ds.colorinterp[3].name == "alpha"
    assert np.array_equal(open_raster(rgba)[0][0:50], image[..., :3])  # alpha dropped


def test_areas_only_where_the_crs_gives_them(tmp_path):
    image = _image(40, 50)
    rows, ref = open_raster(write_geotiff(tmp_path / "m.tif", image, "EPSG:2180", pixel=0.5))
    assert ref.georeferenced and ref.describe()["crs"] == "EPSG:2180" and ref.describe()["pixel_size"] == [0.5, 0.5]
    assert pixel_area(ref) == (pytest.approx(0.25), None)
    feet = open_raster(write_geotiff(tmp_path / "ft.tif", image, "EPSG:2263", pixel=2.0))[1]  # NY, US survey feet
    assert pixel_area(feet)[0] == pytest.approx((2 * 0.3048006096) ** 2, rel=1e-6)
    degrees = open_raster(write_geotiff(tmp_path / "deg.tif", image, "EPSG:4326", pixel=1e-5))[1]
    area, note = pixel_area(degrees)
    assert area is None and "geographic" in note and "EPSG:4326" in note
    none = open_raster(write_geotiff(tmp_path / "plain.tif", image, None))[1]
    assert not none.georeferenced and pixel_area(none)[0] is None and "no CRS" in pixel_area(none)[1]
    assert pixel_area(GeoRef(None, None))[0] is None


def test_segment_file_reads_rasters_window_by_window_with_the_same_result(tmp_path):
    """A striped TIFF and a PNG of the same pixels give identical class maps."""
    import torch

    from tslib.data.landcover import CLASSES, PALETTE
    from tslib.models import create_model
    from tslib.tasks.segment.maps import segment_file

    torch.manual_seed(0)
    model = create_model("unet", task="segment", num_classes=5, depth=2, width=4)
    image = _image(150, 170)
    tifffile.imwrite(tmp_path / "m.tif", image, photometric="rgb", compression="zlib", rowsperstrip=8)
    cv2.imwrite(str(tmp_path / "m.png"), image[..., ::-1])
    kw = dict(classes=CLASSES, colours=np.asarray(PALETTE, np.uint8), window=64, overlap=0.25, fmt="png")
    a = segment_file(model, tmp_path / "m.tif", tmp_path / "tif", **kw)
    b = segment_file(model, tmp_path / "m.png", tmp_path / "png", **kw)
    maps = [cv2.imread(r["files"]["classes"], cv2.IMREAD_UNCHANGED) for r in (a, b)]
    assert maps[0].shape == (150, 170) and np.array_equal(maps[0], maps[1])
    assert a["class_share"] == b["class_share"]
