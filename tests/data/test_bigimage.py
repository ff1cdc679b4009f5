"""Large TIFFs read band by band (TiffRows): the same pixels as a whole decode, only a few strips in memory."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from tslib.data.bigimage import TiffRows, open_rows
from tslib.data.imageio import ImageReadError


def _image(h: int, w: int, channels: int = 3) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [(xx * 3 + yy) % 256, (yy * 5) % 256, (xx ^ yy) % 256, np.full_like(xx, 200)][:channels]
    return np.stack(planes, -1).astype(np.uint8)


@pytest.mark.parametrize("layout", [dict(compression=None, rowsperstrip=16), dict(compression="zlib", rowsperstrip=7),
                                    dict(compression="lzw", rowsperstrip=32), dict(compression="zlib", tile=(32, 48)),
                                    dict(compression=None, rowsperstrip=16, channels=4)])
def test_rows_equal_the_whole_image(tmp_path, layout):
    layout = dict(layout)
    channels = layout.pop("channels", 3)
    image = _image(101, 130, channels)
    path = tmp_path / "ortho.tif"
    tifffile.imwrite(path, image, photometric="rgb", extrasamples=[2] * (channels == 4) or None, **layout)
    with TiffRows(path) as rows:
        assert rows.shape == (101, 130, 3) and rows.dtype == np.uint8 and rows.ndim == 3
        whole = image[..., :3]
        for start, stop in ((0, 10), (5, 40), (33, 34), (60, 101), (90, 200), (100, 101)):  # downwards, across strips
            assert np.array_equal(rows[start:stop], whole[start:stop]), (start, stop)
        assert np.array_equal(rows[95:101, 7:50], whole[95:101, 7:50])
        assert len(rows._cache) <= 2  # strips above the last request were dropped
        assert rows[50:50].shape == (0, 130, 3)
        with pytest.raises(ValueError, match="contiguous"):
            rows[0:10:2]


def test_open_rows_falls_back_to_a_whole_decode(tmp_path):
    image = _image(40, 30)
    cv2.imwrite(str(tmp_path / "a.png"), image[..., ::-1])
    assert isinstance(open_rows(tmp_path / "a.png"), np.ndarray)
    assert np.array_equal(open_rows(tmp_path / "a.png"), image)
    gray = tmp_path / "gray.tif"
    tifffile.imwrite(gray, image[..., 0])  # not RGB: read whole by PIL, converted
    assert np.array_equal(open_rows(gray), np.repeat(image[..., :1], 3, -1))


def test_truncated_strips_are_a_clear_error(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, _image(200, 64), photometric="rgb", compression="zlib", rowsperstrip=16)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError):
        rows = open_rows(path)
        rows[0:200]


def test_segment_file_reads_tiffs_band_by_band_with_the_same_result(tmp_path):
    """A striped TIFF and a PNG of the same pixels give identical class maps."""
    import torch

    from tslib.data.landcover import CLASSES, PALETTE
    from tslib.models import create_model
    from tslib.tasks.segment.sliding import segment_file

    torch.manual_seed(0)
    model = create_model("unet", task="segment", num_classes=5, depth=2, width=4)
    image = _image(150, 170)
    tifffile.imwrite(tmp_path / "m.tif", image, photometric="rgb", compression="zlib", rowsperstrip=8)
    cv2.imwrite(str(tmp_path / "m.png"), image[..., ::-1])
    kw = dict(classes=CLASSES, colours=np.asarray(PALETTE, np.uint8), window=64, overlap=0.25)
    a = segment_file(model, tmp_path / "m.tif", tmp_path / "tif", **kw)
    b = segment_file(model, tmp_path / "m.png", tmp_path / "png", **kw)
    maps = [cv2.imread(r["files"]["classes"], cv2.IMREAD_UNCHANGED) for r in (a, b)]
    assert maps[0].shape == (150, 170) and np.array_equal(maps[0], maps[1])
    assert a["class_share"] == b["class_share"]
