"""Robust image reading: every readable image comes back as 8-bit RGB, every unreadable one as a clear error."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..errors import ImageReadError  # noqa: F401  (defined with the other error types; raised here)

#: File extensions treated as images (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def is_hidden(path: Path) -> bool:
    """Hidden files and folders (``.DS_Store``, ``._foo.jpg``, ``.ipynb_checkpoints``) are never data."""
    return any(part.startswith(".") for part in path.parts if part not in (".", ".."))


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode (L, P, RGBA, CMYK, I;16, ...) to RGB; transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode.startswith("I;16") or img.mode == "I":
        # 16/32-bit grayscale: rescale to 8 bits instead of clipping everything to white.
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        return Image.fromarray((arr / hi * 255).astype("uint8")).convert("RGB")
    return img.convert("RGB")


def decode_rgb(data: bytes, name: str = "<bytes>") -> Image.Image:
    """Decode image bytes fully (so truncation is caught now, not mid-training) and return RGB."""
    if not data:
        raise ImageReadError(f"{name}: empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return to_rgb(img)
    except UnidentifiedImageError as e:
        raise ImageReadError(f"{name}: not a readable image (unknown or unsupported format)") from e
    except Image.DecompressionBombError as e:  # a tiny file claiming billions of pixels: refused, never decoded
        raise ImageReadError(f"{name}: {e}") from e
    except (OSError, SyntaxError, ValueError) as e:  # PIL raises these for truncated/corrupt streams
        raise ImageReadError(f"{name}: corrupt or truncated image ({e})") from e


def load_rgb(path: str | Path) -> Image.Image:
    """Read an image file as RGB, raising :class:`ImageReadError` with the path if it cannot be decoded."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read file ({e})") from e
    return decode_rgb(data, str(path))
