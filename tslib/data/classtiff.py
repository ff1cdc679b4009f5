"""Class maps as GeoTIFFs that GIS tools open in place: single-band uint8, the input's CRS and affine transform,
tiled 512 x 512, deflate-compressed, a colour table of the class palette and the class names in the metadata.

Rows arrive band by band from the sliding windows; :class:`ClassTiffWriter` gathers them into whole 512-row block
rows before writing, so GDAL never re-encodes a half-filled tile and memory is one block row (512 x W bytes). The
file is finished in the Cloud-Optimized GeoTIFF layout (GDAL's COG driver: tiles in order, nearest-neighbour
overviews, so QGIS pans a 10k-pixel map smoothly) and renamed into place only when complete: an interruption leaves
no file that looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .georaster import GDAL_CACHE_MB, GeoRef

BLOCK = 512


def class_tags(classes: Sequence[str]) -> dict[str, str]:
    """Metadata naming every class value: ``CLASS_0=background ...`` and ``CLASSES`` (comma-separated)."""
    return {"CLASSES": ",".join(classes), **{f"CLASS_{i}": name for i, name in enumerate(classes)}}


class ClassTiffWriter:
    """``ClassTiffWriter(path, width, height, georef, classes, colours)``; ``write(rows)`` uint8 [h, W] bands in
    order; ``close()`` finishes and moves the file into place; ``abort()`` drops everything written."""

    def __init__(self, path: str | Path, width: int, height: int, georef: GeoRef, classes: Sequence[str],
                 colours: np.ndarray) -> None:
        import rasterio

        self.path, self.part = Path(path), Path(f"{path}.part")
        self.stage = Path(f"{path}.tiled.part")  # tiled GeoTIFF written block row by block row, then COG-copied
        self.width, self.height, self.rows = width, height, 0
        self.classes, self.colours = list(classes), np.asarray(colours, np.uint8)
        self._buffer = np.zeros((min(BLOCK, height), width), np.uint8)
        self._filled = 0
        self._env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20)
        self._env.__enter__()
        profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "uint8",
                   "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate",
                   "photometric": "palette"}
        if georef.georeferenced:
            profile.update(crs=georef.crs, transform=georef.transform)
        self._ds = rasterio.open(self.stage, "w", **profile)

    def write(self, rows: np.ndarray) -> None:
        """Append a band of class rows (uint8 [h, width])."""
        rows = np.asarray(rows)
        if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != self.width:
            raise ValueError(f"rows must be uint8 [h, {self.width}], got {rows.dtype} {rows.shape}")
        if self.rows + len(rows) > self.height:
            raise ValueError(f"{self.path}: more than {self.height} rows written")
        while len(rows):
            take = min(len(rows), len(self._buffer) - self._filled)
            self._buffer[self._filled:self._filled + take] = rows[:take]
            self._filled, rows, self.rows = self._filled + take, rows[take:], self.rows + take
            if self._filled == len(self._buffer) or self.rows == self.height:
                self._flush()

    def _flush(self) -> None:
        from rasterio.windows import Window

        top = self.rows - self._filled
        self._ds.write(self._buffer[:self._filled][None], window=Window(0, top, self.width, self._filled))
        self._filled = 0

    def close(self) -> Path:
        """Colour table and class names, the COG layout, then the file moves into place."""
        import rasterio.shutil

        if self.rows != self.height:
            self.abort()
            raise ValueError(f"{self.path}: {self.rows} of {self.height} rows written")
        table = {i: (*map(int, c), 255) for i, c in enumerate(self.colours[:len(self.classes)])}
        self._ds.write_colormap(1, table)
        self._ds.update_tags(**class_tags(self.classes))
        self._ds.set_band_description(1, "class")
        self._ds.close()
        rasterio.shutil.copy(self.stage, self.part, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=BLOCK,
                             OVERVIEW_RESAMPLING="NEAREST")
        self.stage.unlink()
        self._release()
        os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial files."""
        if not self._ds.closed:
            self._ds.close()
        for p in (self.stage, self.part):
            p.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None
