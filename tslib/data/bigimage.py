"""Large images read band by band: the rows a sliding window needs, not the whole picture.

Orthophotos are TIFFs stored in strips or tiles (Landcover.ai's are 9000x9500 px, ~250 MB decoded). For those,
:class:`TiffRows` decodes only the strips or tile rows under the requested rows (tifffile; LZW and JPEG strips
need imagecodecs, both in requirements.txt) and forgets the ones above, so memory stays flat however large the
image. Other formats (JPEG, PNG) cannot be decoded in parts by PIL or OpenCV: :func:`open_rows` decodes them whole,
once (3 bytes per pixel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .imageio import ImageReadError


class TiffRows:
    """An 8-bit RGB(A) TIFF as a read-only array of shape [H, W, 3] whose row slices decode on demand.

    Reads are expected to move down the image (as sliding windows do): strips that end above the first row of a
    request are dropped from the cache.
    """

    ndim, dtype = 3, np.dtype(np.uint8)

    def __init__(self, path: str | Path) -> None:
        import tifffile

        self.path = Path(path)
        self._tif = tifffile.TiffFile(self.path)
        page = self._page = self._tif.pages[0]
        ok = (page.bitspersample == 8 and page.samplesperpixel in (3, 4) and page.planarconfig == 1
              and page.photometric == 2 and page.tiledepth == 1)  # contiguous 8-bit RGB(A), 2-D
        if not ok:
            self.close()
            raise ValueError(f"{self.path}: not a contiguous 8-bit RGB TIFF")
        self.height, self.width = page.imagelength, page.imagewidth
        self.shape = (self.height, self.width, 3)
        self._rows = page.tilelength if page.is_tiled else min(page.rowsperstrip, self.height)
        self._across = -(-self.width // page.tilewidth) if page.is_tiled else 1
        self._cache: dict[int, np.ndarray] = {}  # band index -> its decoded rows [rows, W, 3]
        self._band(0)  # decodes the first strip now: an unsupported compression fails here, not mid-image

    def close(self) -> None:
        self._tif.close()

    def __enter__(self) -> TiffRows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _band(self, b: int) -> np.ndarray:
        """Rows ``b * rows ...`` of the image, decoded from one strip or one row of tiles."""
        if b in self._cache:
            return self._cache[b]
        page, fh = self._page, self._tif.filehandle
        top = b * self._rows
        band = np.zeros((min(self._rows, self.height - top), self.width, 3), np.uint8)
        for i in range(b * self._across, (b + 1) * self._across):
            fh.seek(page.dataoffsets[i])
            data = fh.read(page.databytecounts[i])
            try:
                segment, index, _ = page.decode(data, i, jpegtables=page.jpegtables)
            except Exception as e:  # noqa: BLE001 - cut or damaged strips, or LZW without imagecodecs
                raise ImageReadError(f"{self.path}: cannot decode its strips ({e})") from e
            if segment is None:
                continue
            x = index[3]
            part = segment[0, :len(band), :self.width - x, :3]
            band[:len(part), x:x + part.shape[1]] = part
        self._cache[b] = band
        return band

    def __getitem__(self, key) -> np.ndarray:
        """``image[rows]`` or ``image[rows, cols]`` with contiguous slices, as a numpy array."""
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        start, stop, step = rows.indices(self.height)
        if step != 1:
            raise ValueError("TiffRows reads contiguous row slices only")
        if stop <= start:
            return np.zeros((0, self.width, 3), np.uint8)[:, cols]
        first, last = start // self._rows, (stop - 1) // self._rows
        for b in [b for b in self._cache if b < first]:  # above this request: never asked for again
            del self._cache[b]
        bands = [self._band(b) for b in range(first, last + 1)]
        block = bands[0] if len(bands) == 1 else np.concatenate(bands)
        return block[start - first * self._rows: stop - first * self._rows, cols]


def open_rows(path: str | Path, max_pixels: int = 1_000_000_000):
    """An [H, W, 3] uint8 array-like of the image: a :class:`TiffRows` (decoded band by band) for a striped or
    tiled 8-bit RGB TIFF, else the whole image decoded once (PIL; its bomb guard raised to ``max_pixels``)."""
    from PIL import Image

    from .imageio import load_rgb

    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            return TiffRows(path)
        except Exception:  # noqa: BLE001 - another layout, or strips this installation cannot decode: PIL, below
            pass
    old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels // 2  # PIL refuses at twice the limit
    try:  # load_rgb turns PIL's decompression-bomb refusal into an ImageReadError naming the file
        return np.asarray(load_rgb(path))
    finally:
        Image.MAX_IMAGE_PIXELS = old
