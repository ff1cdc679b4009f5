"""Class polygons of a segmented map, for GIS: one feature per connected region of one class, with its class
name, index and area, in the input's CRS, written as GeoJSON or GeoPackage.

Regions smaller than ``min_area`` are first merged into their largest neighbour (GDAL's sieve, as QGIS's "Sieve"
does), so no hole is left where a speck was; ``simplify`` then thins each polygon's vertices (shapely,
topology-preserving per polygon: neighbours may no longer share every vertex). Polygonising needs the whole
class map in memory, 1 byte a pixel (~90 MB for a 9500 x 9500 orthophoto).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ...data.georaster import GeoRef, dataset_georef, open_dataset, pixel_area

#: Vector file extension -> GDAL/OGR driver.
DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}


def check_vector_path(path: str | Path) -> Path:
    """``path`` as a new vector file: a known extension, not an existing file (it would be overwritten; GIS
    projects point at these files), and a folder it can be made in."""
    from ...errors import check_out_file

    path = Path(path).expanduser()
    if path.suffix.lower() not in DRIVERS:
        raise ValueError(f"--vector {path}: unknown format {path.suffix or '(no extension)'!r}; use .geojson or "
                         ".gpkg")
    return check_out_file(path, "--vector", new=True)  # its folder is created with the file, as --out's is


def read_class_map(path: str | Path) -> tuple[np.ndarray, GeoRef]:
    """(class indices uint8 [H, W], georeference) of a ``*_classes.tif`` or ``*_classes.png`` written by segment."""
    with open_dataset(Path(path)) as ds:
        return ds.read(1), dataset_georef(ds)


def polygons(classes_map: np.ndarray, georef: GeoRef, classes: Sequence[str], min_area: float = 0.0,
             simplify: float = 0.0) -> list[dict]:
    """Features ``{"geometry": shapely Polygon, "class", "class_index", "area_px", "area_m2"}`` of every region.

    ``min_area`` is in m² when the CRS gives areas, else in pixels; ``simplify`` is a tolerance in CRS units (pixels
    without a CRS). Coordinates are the CRS's (pixel columns and rows without one)."""
    import shapely
    from affine import Affine
    from rasterio import features

    if min_area < 0 or simplify < 0:
        raise ValueError(f"min-area and simplify must be >= 0, got {min_area} and {simplify}")
    m2, _ = pixel_area(georef)
    if min_area > 0:
        size = math.ceil(min_area / m2) if m2 else math.ceil(min_area)
        if size > 1:
            classes_map = features.sieve(classes_map, size, connectivity=8)
    transform = georef.transform if georef.transform is not None else Affine.identity()
    out = []
    for geom, value in features.shapes(classes_map, connectivity=8, transform=transform):
        poly = shapely.geometry.shape(geom)
        px = poly.area / abs(transform.a * transform.e - transform.b * transform.d)
        if simplify > 0:
            poly = poly.simplify(simplify, preserve_topology=True)
        index = int(value)
        out.append({"geometry": poly, "class_index": index,
                    "class": classes[index] if index < len(classes) else str(index),
                    "area_px": round(px), "area_m2": px * m2 if m2 else None})
    return out


def write_polygons(path: str | Path, feats: Iterable[dict], crs) -> Path:
    """Write features (as :func:`polygons` gives, each with the ``image`` it came from) to ``path`` atomically:
    a temp file beside it is renamed when complete. ``crs``: a rasterio CRS, or None (pixel coordinates)."""
    import shapely
    from pyogrio.raw import write

    path = Path(path)
    feats = list(feats)
    driver = DRIVERS[path.suffix.lower()]
    names = ["class", "class_index", "area_px", "area_m2", "area_ha", "image"]
    columns = [np.array([f["class"] for f in feats], dtype=object),
               np.array([f["class_index"] for f in feats], dtype=np.int32),
               np.array([f["area_px"] for f in feats], dtype=np.int64),
               np.array([np.nan if f["area_m2"] is None else f["area_m2"] for f in feats], dtype=np.float64),
               np.array([np.nan if f["area_m2"] is None else f["area_m2"] / 1e4 for f in feats], np.float64),
               np.array([f.get("image", "") for f in feats], dtype=object)]
    geometry = shapely.to_wkb(np.array([f["geometry"] for f in feats], dtype=object))
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. --vector maps/parcels.gpkg beside --out maps
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        write(str(tmp), geometry, columns, names, driver=driver, geometry_type="Polygon",
              crs=crs.to_wkt() if crs is not None else None, layer="classes")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
