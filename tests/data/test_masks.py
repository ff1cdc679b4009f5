"""Masks: palettes parse, colour masks decode exactly, unknown colours and out-of-range values are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tslib.data.masks import check_indices, decode_mask, load_mask, parse_palette

PALETTE = {"background": "#E2DFD2", "building": [196, 40, 27], "woodland": "#226E32"}


def test_palette_parsing(tmp_path):
    names, colours = parse_palette(PALETTE)
    assert names == ["background", "building", "woodland"]
    assert colours.tolist() == [[226, 223, 210], [196, 40, 27], [34, 110, 50]]
    (tmp_path / "p.json").write_text(json.dumps(PALETTE))
    assert parse_palette(tmp_path / "p.json")[0] == names
    for bad, needle in (({"a": "#12345"}, "expected"), ({"a": [1, 2, 300]}, "expected"), ({}, "JSON object"),
                        ({"a": "#000000", "b": [0, 0, 0]}, "same colour")):
        with pytest.raises(ValueError, match=needle):
            parse_palette(bad)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json"):
        parse_palette(tmp_path / "broken.json")


def test_colour_masks_decode_exactly_and_unknown_colours_are_named(tmp_path):
    _, colours = parse_palette(PALETTE)
    index = np.random.default_rng(0).integers(0, 3, (20, 30))
    rgb = colours[index]
    assert np.array_equal(decode_mask(rgb, colours), index)
    rgb[3, 4] = (1, 2, 3)
    with pytest.raises(ValueError, match=r"m.png: colours not in the palette: #010203 \(1 in all\)"):
        decode_mask(rgb, colours, "m.png")
    rgb[3, 4] = (255, 255, 255)
    decoded = decode_mask(rgb, colours, ignore_index=255, ignore_colour=(255, 255, 255))
    assert decoded[3, 4] == 255 and (decoded != 255).sum() == index.size - 1
    Image.fromarray(colours[index]).save(tmp_path / "c.png")
    assert np.array_equal(load_mask(tmp_path / "c.png", 3, colours), index)


def test_index_masks_and_range_checks(tmp_path):
    index = np.arange(12, dtype=np.uint8).reshape(3, 4) % 5
    Image.fromarray(index).save(tmp_path / "i.png")
    assert np.array_equal(load_mask(tmp_path / "i.png", 5), index)
    Image.fromarray(np.repeat(index[..., None], 3, -1)).save(tmp_path / "i3.png")  # Landcover.ai-style bands
    assert np.array_equal(load_mask(tmp_path / "i3.png", 5), index)
    with pytest.raises(ValueError, match=r"i.png: values \[3, 4\] are not classes \(0..2\)"):
        load_mask(tmp_path / "i.png", 3)
    check_indices(np.array([0, 1, 255]), 2, ignore_index=255)  # the ignore value is allowed
    with pytest.raises(ValueError, match="colour mask; pass its palette"):
        Image.fromarray(np.dstack([index, index + 1, index]).astype(np.uint8)).save(tmp_path / "rgb.png")
        load_mask(tmp_path / "rgb.png", 5)
    (tmp_path / "t.png").write_bytes((tmp_path / "i.png").read_bytes()[:20])
    with pytest.raises(OSError, match="t.png: unreadable mask"):
        load_mask(tmp_path / "t.png", 5)
