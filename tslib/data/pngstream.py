"""Writing a PNG row band by row band, so an image of any height is encoded without holding it in memory.

PNG is a zlib stream of filtered rows inside chunks; with filter 0 ("none") each row is one zero byte followed by
its pixels, and bands of rows can be compressed as they arrive. The file is written to ``<path>.part`` and renamed
when every row is in, so an interrupted write never leaves a PNG that looks complete.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 3: 2}  # greyscale, RGB


class PngWriter:
    """``with PngWriter(path, width, height, channels) as png: png.write(rows)`` for uint8 bands of rows."""

    def __init__(self, path: str | Path, width: int, height: int, channels: int = 1, level: int = 6) -> None:
        if channels not in _COLOUR_TYPE:
            raise ValueError(f"channels must be 1 (greyscale) or 3 (RGB), got {channels}")
        if width < 1 or height < 1:
            raise ValueError(f"a PNG needs at least one pixel, got {width}x{height}")
        self.path, self.part = Path(path), Path(f"{path}.part")
        self.width, self.height, self.channels, self.rows = width, height, channels, 0
        self._zip = zlib.compressobj(level)
        self._file = open(self.part, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._file.write(_SIGNATURE)
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[channels], 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self._file.write(struct.pack(">I", len(data)) + kind + data)
        self._file.write(struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    def write(self, rows: np.ndarray) -> None:
        """Append a band: uint8 ``[h, width]`` (greyscale) or ``[h, width, 3]`` (RGB)."""
        rows = np.asarray(rows)
        shape = (self.width,) if self.channels == 1 else (self.width, 3)
        if rows.dtype != np.uint8 or rows.shape[1:] != shape:
            raise ValueError(f"rows must be uint8 [h, {', '.join(map(str, shape))}], got {rows.dtype} {rows.shape}")
        if self.rows + len(rows) > self.height:
            raise ValueError(f"{self.path}: more than {self.height} rows written")
        filtered = np.zeros((len(rows), 1 + self.width * self.channels), np.uint8)  # column 0: filter type 0
        filtered[:, 1:] = rows.reshape(len(rows), -1)
        data = self._zip.compress(filtered.tobytes())
        if data:
            self._chunk(b"IDAT", data)
        self.rows += len(rows)

    def close(self) -> Path:
        """Finish the file (all ``height`` rows must be in) and move it into place."""
        if self.rows != self.height:
            self.abort()
            raise ValueError(f"{self.path}: {self.rows} of {self.height} rows written")
        self._chunk(b"IDAT", self._zip.flush())
        self._chunk(b"IEND", b"")
        self._file.close()
        os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        self._file.close()
        self.part.unlink(missing_ok=True)

    def __enter__(self) -> PngWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
