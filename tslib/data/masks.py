"""Segmentation masks: class-index PNGs or colour-coded RGB decoded through a palette, checked, never guessed.

A palette is a JSON object ``{"class name": "#RRGGBB" or [r, g, b], ...}``; its order is the class index. A mask
colour that is not in the palette, or an index that is not a class (and not the ignore value), is an error that
names the file and the offending values: a silently wrong label would poison training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .imageio import ImageReadError


def parse_palette(spec: dict | str | Path) -> tuple[list[str], np.ndarray]:
    """``(class names, colours [C, 3] uint8)`` from a palette dict or JSON file."""
    if not isinstance(spec, dict):
        path = Path(spec)
        try:
            spec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"palette {path}: cannot read it as JSON ({e})") from e
    if not isinstance(spec, dict) or not spec:
        raise ValueError('a palette is a JSON object {"class": "#RRGGBB" or [r, g, b], ...}')
    colours = []
    for name, value in spec.items():
        if isinstance(value, str) and len(value.lstrip("#")) == 6:
            try:
                colours.append([int(value.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)])
                continue
            except ValueError:
                pass
        elif isinstance(value, Sequence) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255
                                                                    for v in value):
            colours.append(list(value))
            continue
        raise ValueError(f"palette colour of {name!r} is {value!r}; expected '#RRGGBB' or [r, g, b] in 0..255")
    arr = np.asarray(colours, dtype=np.uint8)
    if len({tuple(c) for c in arr.tolist()}) < len(arr):
        raise ValueError("palette has the same colour for two classes")
    return list(spec), arr


def parse_class_names(text: str) -> tuple[list[str], np.ndarray | None]:
    """``"building,land,road"`` or ``"building:#d62728,land:#98df8a,..."`` -> (names in index order, colours
    [C, 3] uint8 or None). Colours are all given or none; names are unique and not empty."""
    items = [t.strip() for t in text.split(",")]
    names = [t.split(":", 1)[0].strip() for t in items]
    if not all(names) or len(set(names)) < len(names):
        raise ValueError(f"--classes needs distinct, non-empty names in index order, e.g. building,land,road; "
                         f"got {text!r}")
    coloured = [":" in t for t in items]
    if any(coloured) and not all(coloured):
        raise ValueError(f"--classes: give a colour for every class (name:#RRGGBB) or for none; got {text!r}")
    if not any(coloured):
        return names, None
    return parse_palette({n: t.split(":", 1)[1].strip() for n, t in zip(names, items)})


def decode_mask(rgb: np.ndarray, palette: np.ndarray, name: str = "mask", ignore_index: int | None = None,
                ignore_colour: Sequence[int] | None = None) -> np.ndarray:
    """[H, W, 3] colour mask -> [H, W] class indices; ``ignore_colour`` pixels become ``ignore_index``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{name}: a colour mask needs 3 channels, got shape {rgb.shape}")
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    table = {(int(r) << 16) | (int(g) << 8) | int(b): i for i, (r, g, b) in enumerate(palette)}
    if ignore_colour is not None:
        if ignore_index is None:
            raise ValueError("ignore_colour needs an ignore_index")
        r, g, b = ignore_colour
        table[(r << 16) | (g << 8) | b] = ignore_index
    values, inverse = np.unique(key, return_inverse=True)
    unknown = [v for v in values.tolist() if v not in table]
    if unknown:
        shown = ", ".join(f"#{v:06X}" for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise ValueError(f"{name}: colours not in the palette: {shown} ({len(unknown)} in all)")
    lut = np.asarray([table[v] for v in values.tolist()], dtype=np.int64)
    return lut[inverse].reshape(key.shape)


def check_indices(mask: np.ndarray, num_classes: int, name: str = "mask", ignore_index: int | None = None) -> None:
    """Raise naming ``name`` when a mask holds values that are neither a class nor the ignore value."""
    values = np.unique(mask)
    bad = [int(v) for v in values if not (0 <= v < num_classes) and v != ignore_index]
    if bad:
        allowed = f"0..{num_classes - 1}" + (f" or {ignore_index}" if ignore_index is not None else "")
        raise ValueError(f"{name}: values {bad[:8]} are not classes ({allowed})")


def load_mask(path: str | Path, num_classes: int, palette: np.ndarray | None = None,
              ignore_index: int | None = None) -> np.ndarray:
    """A mask file as [H, W] int64 class indices: decoded through ``palette`` if given, else read as indices."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img.convert("RGB") if palette is not None else img)
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{path}: unreadable mask ({e})") from e
    if palette is not None:
        return decode_mask(arr, palette, str(path), ignore_index)
    if arr.ndim == 3:  # index masks stored as RGB/RGBA (Landcover.ai's tifs): every band holds the class
        if not (arr[..., :3] == arr[..., :1]).all():
            raise ValueError(f"{path}: a colour mask; pass its palette (--palette FILE)")
        arr = arr[..., 0]
    mask = arr.astype(np.int64)
    check_indices(mask, num_classes, str(path), ignore_index)
    return mask


#: Colours for classes of index masks that come without a palette (matplotlib's tab20, as RGB).
_TAB20 = ("1f77b4 aec7e8 ff7f0e ffbb78 2ca02c 98df8a d62728 ff9896 9467bd c5b0d5 8c564b c49c94 e377c2 f7b6d2 "
          "7f7f7f c7c7c7 bcbd22 dbdb8d 17becf 9edae5").split()


def default_palette(num_classes: int) -> np.ndarray:
    """[C, 3] uint8 distinct colours for ``num_classes`` classes (tab20, repeated past 20)."""
    return np.asarray([[int(h[i:i + 2], 16) for i in (0, 2, 4)] for h in (_TAB20 * (num_classes // 20 + 1))
                       [:num_classes]], np.uint8)
