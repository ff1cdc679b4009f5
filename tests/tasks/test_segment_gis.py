"""Outputs GIS tools open in place: a georeferenced input gives a paletted, tiled, deflate COG GeoTIFF with the
input's CRS, transform and size, areas in m² and ha that sum to the image's area, and class polygons that read back
with their classes; inputs without a usable CRS say so; every bad input is one line and nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import write_geotiff
from PIL import Image

from tslib.cli import main
from tslib.data.aerial import aerial_scene
from tslib.data.classtiff import ClassTiffWriter
from tslib.data.georaster import GeoRef

H, W = 700, 900


@pytest.fixture(scope="module")
def ortho(tmp_path_factory):
    """A 700 x 900 px procedural orthophoto at 0.25 m in the Polish CS92 (EPSG:2180), as Landcover.ai's are."""
    path = tmp_path_factory.mktemp("ortho") / "ortho.tif"
    return write_geotiff(path, aerial_scene(H, W, seed=5, index=0)[0], "EPSG:2180", pixel=0.25)


def _segment(run, *args) -> int:
    return main(["segment", "--run", str(run), *map(str, args), "--window", "256"])


def test_a_georeferenced_orthophoto_gives_a_geotiff_areas_and_polygons(seg_run, ortho, tmp_path, capsys):
    _, run = seg_run
    capsys.readouterr()
    assert _segment(run, ortho, "--out", tmp_path / "maps", "--vector", tmp_path / "maps.gpkg", "--min-area",
                    "1") == 0
    out = capsys.readouterr().out
    assert " ha (" in out and "polygons in EPSG:2180" in out
    tif = tmp_path / "maps" / "ortho_classes.tif"
    with rasterio.open(ortho) as src, rasterio.open(tif) as ds:
        assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
        assert ds.count == 1 and ds.dtypes[0] == "uint8" and ds.block_shapes[0] == (512, 512)
        assert ds.compression.name == "deflate" and ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        classes = ds.tags()["CLASSES"].split(",")
        assert classes == ["background", "building", "woodland", "water", "road"]
        summary = json.loads((tmp_path / "maps" / "segment.json").read_text())[0]
        palette = summary["colours"]
        assert all(ds.colormap(1)[i][:3] == tuple(palette[i]) for i in range(5))
        labels = ds.read(1)
    assert not (tmp_path / "maps" / "ortho_colour.png").exists()  # the GeoTIFF's palette is the colour map
    assert Image.open(tmp_path / "maps" / "ortho_overlay.png").size == (W, H)
    # The same pixels as the PNG output of the same run.
    assert _segment(run, ortho, "--out", tmp_path / "png", "--format", "png") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "png" / "ortho_classes.png")), labels)
    # Areas: per class from the pixel counts, summing to the image's area (0.0625 m² a pixel).
    assert summary["georef"]["crs"] == "EPSG:2180" and summary["pixel_area_m2"] == pytest.approx(0.0625)
    assert summary["total"]["area_m2"] == pytest.approx(H * W * 0.0625)
    assert sum(v["area_ha"] for v in summary["classes"].values()) == pytest.approx(H * W * 0.0625 / 1e4)
    for i, v in enumerate(summary["classes"].values()):
        assert v["pixels"] == int((labels == i).sum()) and v["share"] == pytest.approx(v["pixels"] / (H * W))
    # Polygons: in the input's CRS, every class named, their areas covering the image exactly.
    info = pyogrio.read_info(tmp_path / "maps.gpkg")
    assert info["crs"] == "EPSG:2180" and info["geometry_type"] == "Polygon"
    _, _, geometry, fields = pyogrio.raw.read(tmp_path / "maps.gpkg")
    names = list(info["fields"])
    cls, area = fields[names.index("class")], fields[names.index("area_m2")]
    assert set(cls) <= set(classes) and len(cls) == info["features"] > 0
    assert area.sum() == pytest.approx(H * W * 0.0625)
    import shapely

    shapes = shapely.from_wkb(geometry)
    left, bottom, right, top = rasterio.open(ortho).bounds
    assert shapely.union_all(shapes).area == pytest.approx((right - left) * (top - bottom))


def test_min_area_merges_specks_and_simplify_thins_vertices():
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from tslib.tasks.segment.vector import polygons

    yy, xx = np.mgrid[0:200, 0:300]
    labels = (xx > yy + 50).astype(np.uint8)  # a diagonal border: a staircase of pixel edges
    labels[100:140, 20:60] = 2
    labels[::37, ::41] = 3  # one-pixel specks
    ref = GeoRef(CRS.from_epsg(2180), from_origin(0, 100, 0.5, 0.5))  # 0.25 m² a pixel
    names = ["a", "b", "c", "d"]
    exact, sieved, simple = (polygons(labels, ref, names, min_area=m, simplify=t) for m, t in
                             ((0, 0), (2.0, 0), (2.0, 1.0)))
    assert sum(f["class"] == "d" for f in exact) == len(range(0, 200, 37)) * len(range(0, 300, 41))
    assert not [f for f in sieved if f["class"] == "d"] and min(f["area_m2"] for f in sieved) >= 2.0
    for feats in (exact, sieved):  # every pixel in exactly one polygon
        assert sum(f["area_px"] for f in feats) == labels.size
        assert sum(f["area_m2"] for f in feats) == pytest.approx(labels.size * 0.25)
    def vertices(feats):
        return sum(len(f["geometry"].exterior.coords) for f in feats)

    assert vertices(simple) < vertices(sieved) / 2 and len(simple) == len(sieved)
    pixel = polygons(labels, GeoRef(None, None), names, min_area=2)  # no CRS: pixels, pixel coordinates
    assert min(f["area_px"] for f in pixel) >= 2 and all(f["area_m2"] is None for f in pixel)
    assert max(max(f["geometry"].bounds) for f in pixel) == 300
    with pytest.raises(ValueError, match=">= 0"):
        polygons(labels, ref, names, min_area=-1)


def test_inputs_without_a_usable_crs_say_so(seg_run, tmp_path, capsys):
    _, run = seg_run
    image = aerial_scene(300, 400, seed=1)[0]
    degrees = write_geotiff(tmp_path / "deg.tif", image, "EPSG:4326", pixel=3e-6)
    plain = write_geotiff(tmp_path / "plain.tif", image, None)
    capsys.readouterr()
    assert _segment(run, degrees, plain, "--out", tmp_path / "maps") == 0
    out = capsys.readouterr().out
    assert "geographic (degrees): areas not computed" in out and "no CRS" in out
    summary = json.loads((tmp_path / "maps" / "segment.json").read_text())
    assert summary[0]["format"] == "tif" and "area_ha" not in summary[0]["classes"]["background"]
    with rasterio.open(tmp_path / "maps" / "deg_classes.tif") as ds:
        assert ds.crs.to_epsg() == 4326  # still lies in place, only areas are not given
    assert summary[1]["format"] == "png" and (tmp_path / "maps" / "plain_classes.png").is_file()
    # Polygons of an image without CRS are in pixel coordinates, said so; the natural call, the vector file inside
    # the --out folder that does not exist yet, makes both.
    assert _segment(run, plain, "--out", tmp_path / "px", "--vector", tmp_path / "px" / "parcels.geojson") == 0
    assert "pixel coordinates" in capsys.readouterr().out and (tmp_path / "px" / "parcels.geojson").is_file()


def test_bad_gis_input_is_one_line_and_nothing_written(seg_run, ortho, tmp_path, capsys):
    _, run = seg_run
    (tmp_path / "taken.gpkg").write_text("mine")
    nir = write_geotiff(tmp_path / "rgbn.tif", np.zeros((64, 64, 4), np.uint8), photometric="MINISBLACK")
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(ortho.read_bytes()[:3000])
    other_crs = write_geotiff(tmp_path / "utm.tif", np.zeros((64, 64, 3), np.uint8), "EPSG:32634")
    cases = [
        ([ortho, "--out", tmp_path / "o1", "--vector", tmp_path / "taken.gpkg"], "exists"),
        ([ortho, "--out", tmp_path / "o2", "--vector", tmp_path / "p.shp"], ".geojson or .gpkg"),
        ([ortho, "--out", tmp_path / "o3", "--vector", tmp_path / "p.gpkg", "--min-area", "-1"], "min-area"),
        ([nir, "--out", tmp_path / "o4"], "--bands"),
        ([nir, "--out", tmp_path / "o5", "--bands", "1,2"], "--bands"),
        ([nir, "--out", tmp_path / "o6", "--bands", "1,2,9"], "asks for more"),
        ([corrupt, "--out", tmp_path / "o7"], "corrupt.tif"),
        ([ortho, other_crs, "--out", tmp_path / "o8", "--vector", tmp_path / "q.gpkg"], "different CRSs"),
        ([ortho, "--out", tmp_path / "o9", "--format", "jpg"], "--format"),
    ]
    for argv, needle in cases:
        assert _segment(run, *argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, (argv, err)
    assert (tmp_path / "taken.gpkg").read_text() == "mine"
    for i in range(1, 10):
        assert not (tmp_path / f"o{i}").exists() or not list((tmp_path / f"o{i}").iterdir()), i
    assert sorted(p.name for p in tmp_path.glob("*.gpkg")) == ["taken.gpkg"]
    # --bands picks the three bands of a multi-band raster.
    assert _segment(run, nir, "--out", tmp_path / "ok", "--bands", "1,2,3") == 0


def test_class_tiff_writer_is_all_or_nothing(tmp_path):
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    ref = GeoRef(CRS.from_epsg(2180), from_origin(0, 1000, 0.5, 0.5))
    colours = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    labels = (np.arange(1100)[:, None] // 100 + np.arange(700)[None] // 100) % 2
    w = ClassTiffWriter(tmp_path / "a.tif", 700, 1100, ref, ["x", "y"], colours)
    for top in range(0, 1100, 384):  # bands that do not line up with the 512-row blocks
        w.write(labels[top:top + 384].astype(np.uint8))
    w.close()
    with rasterio.open(tmp_path / "a.tif") as ds:
        assert np.array_equal(ds.read(1), labels) and ds.overviews(1)  # overviews: QGIS pans it smoothly
    w = ClassTiffWriter(tmp_path / "b.tif", 700, 1100, ref, ["x", "y"], colours)
    w.write(labels[:600].astype(np.uint8))
    with pytest.raises(ValueError, match="600 of 1100 rows"):
        w.close()
    w = ClassTiffWriter(tmp_path / "c.tif", 700, 1100, ref, ["x", "y"], colours)
    w.write(labels[:100].astype(np.uint8))
    w.abort()
    d = ClassTiffWriter(tmp_path / "d.tif", 700, 10, ref, ["x", "y"], colours)
    with pytest.raises(ValueError, match="uint8"):
        d.write(np.zeros((2, 5)))
    d.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif"]
