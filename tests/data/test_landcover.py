"""Landcover.ai: tiling a full-size orthophoto as the official procedure does, and the resume-safe download."""

from __future__ import annotations

import hashlib
import zipfile

import cv2
import numpy as np
import pytest

from tslib.cli import main
from tslib.data.download import DownloadError
from tslib.data.landcover import download_landcover, prepare_landcover, tile_orthophoto

H, W = 9000, 9500  # the size of a 25 cm Landcover.ai orthophoto


def _orthophoto(root, name: str, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A structured (compressible) image and a 5-class mask, written as tifs in the Landcover.ai layout."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx // 7) % 256, (yy // 5) % 256, ((xx + yy) // 11) % 256], -1).astype(np.uint8)
    mask = ((xx // 300 + yy // 400) % 5).astype(np.uint8)
    mask3 = np.repeat(mask[..., None], 3, -1)  # the real masks are 3-channel tifs with the class in every band
    for sub, arr in (("images", img), ("masks", mask3)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / sub / f"{name}.tif"), arr)
    return img, mask3


def test_full_size_orthophoto_tiles_like_the_official_script(tmp_path, capsys):
    root = tmp_path / "landcover"
    img, mask = _orthophoto(root, "M-33-20-D-c-4-2", H, W)
    (root / "train.txt").write_text("M-33-20-D-c-4-2_0\nM-33-20-D-c-4-2_1\nM-33-20-D-c-4-2_18\n")
    (root / "val.txt").write_text("M-33-20-D-c-4-2_20\n")
    (root / "test.txt").write_text("M-33-20-D-c-4-2_341\nM-33-20-D-c-4-2_321\n")
    # a truncated second orthophoto is reported and skipped, not half-tiled
    _orthophoto(root, "N-34-97-D-c-2-4", 600, 600)
    data = (root / "images" / "N-34-97-D-c-2-4.tif").read_bytes()
    (root / "images" / "N-34-97-D-c-2-4.tif").write_bytes(data[:200])
    assert main(["prepare-landcover", "--data", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tiles written 306" in out and "N-34-97-D-c-2-4" in out and "unreadable" in out
    tiles = sorted((root / "output").glob("*.jpg"))
    assert len(tiles) == 17 * 18 == 306 and len(list((root / "output").glob("*_m.png"))) == 306
    # k counts every grid position row by row (19 per row here), dropped edge positions included
    ks = sorted(int(p.stem.rsplit("_", 1)[1]) for p in tiles)
    assert ks == [r * 19 + c for r in range(17) for c in range(18)]
    for k in (0, 20, 321):
        r, c = divmod(k, 19)
        m = cv2.imread(str(root / "output" / f"M-33-20-D-c-4-2_{k}_m.png"))
        assert np.array_equal(m, mask[r * 512:(r + 1) * 512, c * 512:(c + 1) * 512])  # masks exact, aligned
        t = cv2.imread(str(root / "output" / f"M-33-20-D-c-4-2_{k}.jpg")).astype(int)
        assert np.abs(t - img[r * 512:(r + 1) * 512, c * 512:(c + 1) * 512]).mean() < 4  # jpeg, same crop
    report = prepare_landcover(tmp_path, progress=False)  # a re-run skips finished tiles
    assert report["written"] == 0 and report["skipped_existing"] == 306
    # _18 (end of row 0) and _341 (last row) are dropped edge positions: listed, but no tile
    assert report["splits"] == {"train": {"listed": 3, "tiles": 2}, "val": {"listed": 1, "tiles": 1},
                                "test": {"listed": 2, "tiles": 1}}


def test_mismatched_mask_and_missing_lists(tmp_path, capsys):
    root = tmp_path / "lc"
    _orthophoto(root, "a", 600, 700)
    big = np.zeros((600, 800, 3), np.uint8)
    cv2.imwrite(str(root / "masks" / "a.tif"), big)
    with pytest.raises(ValueError, match="mask is 800x600, image is 700x600"):
        tile_orthophoto(root / "images" / "a.tif", root / "masks" / "a.tif", tmp_path)
    assert main(["prepare-landcover", "--data", str(root)]) == 2
    assert "train.txt" in capsys.readouterr().err
    assert main(["prepare-landcover", "--data", str(tmp_path / "nothing")]) == 2
    assert "download --datasets landcover" in capsys.readouterr().err


def test_download_checks_md5_and_extracts_atomically(tmp_path):
    src = tmp_path / "src"
    _orthophoto(src / "lc", "x", 520, 520)
    (src / "lc" / "train.txt").write_text("x_0\n")
    archive = tmp_path / "landcover.ai.v1.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in (src / "lc").rglob("*"):
            z.write(f, f.relative_to(src / "lc"))
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(DownloadError, match="md5"):
        download_landcover(tmp_path / "d1", url=archive.as_uri(), md5="0" * 32)
    assert not (tmp_path / "d1" / "landcover").exists() and (tmp_path / "d1" / "landcover.ai.v1.zip.bad").is_file()
    target = download_landcover(tmp_path / "d2", url=archive.as_uri(), md5=md5)
    assert (target / "images" / "x.tif").is_file() and (target / "train.txt").read_text() == "x_0\n"
    assert not list((tmp_path / "d2").glob(".landcover*")) and not list((tmp_path / "d2").glob("*.part"))
    assert download_landcover(tmp_path / "d2", url="http://unreachable.invalid/x.zip", md5=md5) == target


def test_setup_landcover_finds_the_download_or_draws_procedural_maps(tmp_path, monkeypatch):
    from tslib.data.aerial import AERIAL_MARKER, write_aerial
    from tslib.data.workspace import AERIAL_TAG, setup_landcover

    lc = setup_landcover(tmp_path / "empty", tmp_path / "work", smoke=True)
    assert lc.procedural and lc.tag == AERIAL_TAG and lc.root.is_relative_to(tmp_path / "work")
    assert lc.report["splits"]["train"]["tiles"] > 0
    real = write_aerial(tmp_path / "data" / "landcover", n_images=2, height=1024, width=1024, seed=3)
    (real / AERIAL_MARKER).unlink()  # as the real download: no procedural marker
    lc = setup_landcover(tmp_path / "data", tmp_path / "work2")
    assert lc.root == real and not lc.procedural and lc.tag == "Landcover.ai v1"
    assert sum(s["tiles"] for s in lc.report["splits"].values()) == 8
    again = setup_landcover(tmp_path / "data", tmp_path / "work2")  # a re-run decodes nothing, writes nothing
    assert again.report["written"] == 0 and again.report["skipped_existing"] == 8
    image, share = lc.orthophoto("test")
    assert image.parent == real / "images" and 0 <= share <= 1


def test_only_unreadable_orthophotos_is_an_error(tmp_path, capsys):
    root = tmp_path / "landcover"
    _orthophoto(root, "a", 600, 600)
    data = (root / "images" / "a.tif").read_bytes()
    (root / "images" / "a.tif").write_bytes(data[:200])
    for name in ("train", "val", "test"):
        (root / f"{name}.txt").write_text("a_0\n")
    assert main(["prepare-landcover", "--data", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no orthophoto" in err and "a.tif" in err and len(err.splitlines()) == 1
    assert not list((root / "output").glob("*.jpg"))
