"""Orthophotos through rasterio (GDAL): any raster format GDAL reads, any tiling or compression, read window by
window at full resolution (overviews ignored), with the place on Earth (CRS, affine transform) kept for outputs.

:class:`RasterRows` is the array-like the sliding windows read: ``image[top:bottom]`` returns uint8 [h, W, 3]
rows, decoded from the blocks under them alone, so memory stays flat however large the image. GDAL's block cache
is capped (:data:`GDAL_CACHE_MB`) for the same reason. :func:`pixel_area` turns the transform into square metres
when the CRS is projected in a linear unit, and says why not otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .imageio import ImageReadError

#: GDAL block cache while reading and writing orthophotos (MB): blocks under one band of windows fit many times.
GDAL_CACHE_MB = 128


@dataclass(frozen=True)
class GeoRef:
    """Where a raster lies: its CRS (a rasterio ``CRS``) and affine transform (``affine.Affine``), or None."""

    crs: object | None
    transform: object | None

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None

    def describe(self) -> dict:
        """JSON-ready: the CRS as ``EPSG:n`` (or WKT), the six transform coefficients, the pixel size."""
        if not self.georeferenced:
            return {"crs": None, "transform": None}
        epsg = self.crs.to_epsg()
        t = self.transform
        return {"crs": f"EPSG:{epsg}" if epsg else self.crs.to_wkt(), "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
                "pixel_size": [abs(t.a), abs(t.e)]}


def pixel_area(ref: GeoRef) -> tuple[float | None, str | None]:
    """(square metres per pixel, None), or (None, why areas cannot be given) for a raster without CRS or one in
    degrees (a geographic CRS: a pixel's area depends on the latitude, and no single factor is honest)."""
    if not ref.georeferenced:
        return None, "no CRS or transform: areas not computed (pixel counts and shares only)"
    if not ref.crs.is_projected:
        return None, f"{GeoRef(ref.crs, ref.transform).describe()['crs']} is geographic (degrees): areas not computed"
    unit, factor = ref.crs.linear_units_factor  # metres per CRS unit (1 for metre, 0.3048 for foot, ...)
    t = ref.transform
    return abs(t.a * t.e - t.b * t.d) * factor * factor, None


def parse_bands(text: str) -> tuple[int, ...]:
    """``"1,2,3"`` -> (1, 2, 3): GDAL's 1-based band numbers for red, green, blue (or one band, shown as grey)."""
    try:
        bands = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise ValueError(f"--bands takes 1-based band numbers such as 1,2,3; got {text!r}") from None
    if len(bands) not in (1, 3) or min(bands) < 1:
        raise ValueError(f"--bands takes three band numbers (red, green, blue) or one, each >= 1; got {text!r}")
    return bands


def _choose_bands(path: Path, ds, bands: Sequence[int] | None) -> tuple[int, ...]:
    from rasterio.enums import ColorInterp

    if bands is not None:
        if max(bands) > ds.count:
            raise ValueError(f"{path} has {ds.count} bands; --bands {','.join(map(str, bands))} asks for more")
        return tuple(bands) * (3 if len(bands) == 1 else 1)
    if ds.count == 3 or (ds.count == 4 and ds.colorinterp[3] == ColorInterp.alpha):
        return (1, 2, 3)  # RGB, or RGB + alpha: the alpha is dropped
    if ds.count == 1:
        return (1, 1, 1)  # greyscale
    raise ValueError(f"{path} has {ds.count} bands ({', '.join(c.name for c in ds.colorinterp)}); say which are "
                     "red, green and blue with --bands, e.g. --bands 1,2,3")


class _NotDirect(TypeError):
    """A raster whose pixels are not 8-bit RGB or grey as stored (16-bit, float, a palette)."""


def open_dataset(path: Path):
    """rasterio.open for reading, without the warning every PNG and JPEG gives (no georeference is normal for them)."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def dataset_georef(ds) -> GeoRef:
    """The CRS and transform of an open rasterio dataset (an identity transform means none)."""
    return GeoRef(ds.crs or None, None if ds.transform.is_identity else ds.transform)


def raster_georef(path: str | Path) -> GeoRef:
    """The :class:`GeoRef` in a file's header (nothing decoded); an empty one for files GDAL cannot open."""
    from rasterio.errors import RasterioIOError

    try:
        with open_dataset(Path(path)) as ds:
            return dataset_georef(ds)
    except RasterioIOError:
        return GeoRef(None, None)


class RasterRows:
    """An 8-bit raster as a read-only [H, W, 3] uint8 array whose row slices are windowed reads.

    ``bands`` (1-based) picks red, green and blue; by default 3 bands, RGBA (alpha dropped) or 1 band (grey) are
    read, anything else is a ``ValueError`` naming ``--bands``. Rasters of other data types (16-bit, float) and
    paletted ones are not taken here: :func:`open_raster` decodes them whole through PIL instead.
    """

    ndim, dtype = 3, np.dtype(np.uint8)

    def __init__(self, path: str | Path, bands: Sequence[int] | None = None) -> None:
        import rasterio
        from rasterio.enums import ColorInterp

        self.path = Path(path)
        # A JPEG-compressed TIFF with cut data is an error, not grey rows (libjpeg only warns by default).
        self._env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 2**20, GDAL_ERROR_ON_LIBJPEG_WARNING=True)
        self._env.__enter__()
        try:
            self._ds = open_dataset(self.path)
        except rasterio.errors.RasterioIOError as e:
            self._env.__exit__(None, None, None)
            raise ImageReadError(f"{self.path}: not a readable raster ({e})") from e
        try:
            self.bands = _choose_bands(self.path, self._ds, bands)
            if self._ds.dtypes[0] != "uint8" or self._ds.colorinterp[0] == ColorInterp.palette:
                raise _NotDirect(f"{self.path}: {self._ds.dtypes[0]} {self._ds.colorinterp[0].name} pixels")
            self.height, self.width = self._ds.height, self._ds.width
            self.shape = (self.height, self.width, 3)
            self.georef = dataset_georef(self._ds)
            self[0:1]  # decodes the first block now: a damaged or unsupported file fails here, not mid-image
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if getattr(self, "_ds", None) is not None:
            self._ds.close()
            self._ds = None
            self._env.__exit__(None, None, None)

    def __enter__(self) -> RasterRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, key) -> np.ndarray:
        """``image[rows]`` or ``image[rows, cols]`` with contiguous slices, as a numpy array."""
        from rasterio.errors import RasterioIOError
        from rasterio.windows import Window

        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        r0, r1, rstep = rows.indices(self.height)
        c0, c1, cstep = cols.indices(self.width)
        if rstep != 1 or cstep != 1:
            raise ValueError("RasterRows reads contiguous slices only")
        if r1 <= r0 or c1 <= c0:
            return np.zeros((max(0, r1 - r0), max(0, c1 - c0), 3), np.uint8)
        unique = sorted(set(self.bands))
        try:
            data = self._ds.read(unique, window=Window(c0, r0, c1 - c0, r1 - r0))
        except RasterioIOError as e:  # cut or damaged blocks
            raise ImageReadError(f"{self.path}: cannot decode rows {r0}-{r1} ({e})") from e
        planes = [data[unique.index(b)] for b in self.bands]
        return np.ascontiguousarray(np.stack(planes, -1))


#: Photo formats decoded whole by PIL: GDAL reads a truncated PNG without an error (garbage rows), and photos carry
#: no georeference anyway (world files aside).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def open_raster(path: str | Path, bands: Sequence[int] | None = None, max_pixels: int = 1_000_000_000):
    """(array-like [H, W, 3] uint8, :class:`GeoRef`) of an image file: a :class:`RasterRows` (windowed reads)
    for 8-bit rasters in GDAL's formats (GeoTIFF, JPEG 2000, VRT, ...), else the image decoded whole once by PIL
    (photo formats; other bit depths), without a place on Earth. A band count that needs ``--bands`` is a
    ``ValueError``; a damaged raster an :class:`ImageReadError`."""
    from PIL import Image

    from .imageio import load_rgb

    path = Path(path)
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        try:
            rows = RasterRows(path, bands)
            return rows, rows.georef
        except _NotDirect:  # 16-bit, float or paletted: PIL's conversions (16-bit rescaled, as in training)
            if bands is not None:
                raise ValueError(f"{path}: --bands reads 8-bit rasters only") from None
    elif bands is not None:
        raise ValueError(f"{path}: --bands is for multi-band rasters (GeoTIFF, ...), not {path.suffix} photos")
    old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels // 2  # PIL refuses at twice the limit
    try:  # load_rgb turns PIL's decompression-bomb refusal into an ImageReadError naming the file
        return np.asarray(load_rgb(path)), GeoRef(None, None)
    finally:
        Image.MAX_IMAGE_PIXELS = old
