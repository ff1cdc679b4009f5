"""Whole-image segmentation: sliding windows assemble exactly what one forward pass gives, blending leaves no
seams, memory is one band of windows, PNGs are written band by band, and the `segment` command handles bad input
with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tslib.cli import main
from tslib.data.pngstream import PngWriter
from tslib.models import create_model
from tslib.tasks.segment import SegmentationDataset
from tslib.tasks.segment.sliding import (
    gaussian_weight,
    iter_bands,
    segment_array,
    window_starts,
)


class PerPixel(nn.Module):
    """A 1x1-convolution segmenter: its output at a pixel depends on that pixel alone, so any tiling must give
    exactly the full-image answer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 1)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        return self.conv(x)


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _normalise(image):
    from tslib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    return (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def test_window_starts_cover_the_length():
    assert window_starts(100, 100, 75) == [0] and window_starts(50, 64, 48) == [0]
    assert window_starts(1000, 512, 384) == [0, 384, 488]
    for length in (17, 255, 256, 257, 1000, 4097):
        starts = window_starts(length, 64, 48)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s:s + min(64, length)] = True
        assert covered.all() and starts == sorted(set(starts)) and starts[-1] + min(64, length) == length


@pytest.mark.parametrize("size,window,overlap", [((100, 130), 32, 0.25), ((64, 64), 64, 0.5), ((33, 200), 48, 0.0),
                                                 ((20, 15), 64, 0.25)])
def test_sliding_equals_one_forward_pass_for_a_per_pixel_model(size, window, overlap):
    model, image = PerPixel(), _image(*size)
    full = model(_normalise(image))[0]
    model.calls.clear()
    bands = list(iter_bands(model, image, window=window, overlap=overlap, batch_size=3))
    tops = [t for t, _ in bands]
    assert tops == sorted(tops) and tops[0] == 0 and sum(b.shape[1] for _, b in bands) == size[0]
    assert all(b.shape[1] <= window for _, b in bands)  # memory: never more than a window's rows at once
    logits = torch.cat([b for _, b in bands], 1)
    torch.testing.assert_close(logits, full, atol=1e-5, rtol=1e-5)  # blending weights normalise exactly
    assert np.array_equal(segment_array(model, image, window=window, overlap=overlap), full.argmax(0).numpy())
    assert all(c[-2] <= window + 16 and c[-1] <= window + 16 for c in model.calls)  # + the mirrored margin


def test_window_covering_the_image_equals_the_unet_and_tta_is_flip_symmetric():
    model = create_model("unet", task="segment", num_classes=3, depth=2, width=4).eval()
    image = _image(40, 56)
    with torch.no_grad():
        full = model(_normalise(image))[0]
    (top, band), = list(iter_bands(model, image, window=64, margin=0))
    torch.testing.assert_close(band, full, atol=1e-5, rtol=1e-5)
    (top, mirrored), = list(iter_bands(model, image, window=64))  # the default mirrors 8 px around the window
    assert mirrored.shape == full.shape and not torch.allclose(mirrored[:, :2], full[:, :2])
    flipped = list(iter_bands(model, image[:, ::-1].copy(), window=64, tta=True))[0][1]
    assert torch.allclose(list(iter_bands(model, image, window=64, tta=True))[0][1], flipped.flip(-1), atol=1e-5)


def test_no_seams_on_a_uniform_image(monkeypatch):
    """On a constant image the only structure is window borders (convolution zero-padding, with the mirrored margin
    off): with Gaussian blending the largest jump between neighbouring columns is several times smaller than with
    plain averaging."""
    from tslib.tasks.segment import sliding

    torch.manual_seed(0)
    model = create_model("unet", task="segment", num_classes=3, depth=2, width=4).eval()
    image = np.full((96, 300, 3), 120, np.uint8)

    def worst_step():
        logits = torch.cat([b for _, b in iter_bands(model, image, window=64, overlap=0.5, margin=0)], 1)
        return (logits[:, 20:76, 1:] - logits[:, 20:76, :-1]).abs().amax(dim=(0, 1))[24:-24].max()

    blended = worst_step()
    monkeypatch.setattr(sliding, "gaussian_weight", lambda h, w: torch.ones(h, w))
    assert blended < 0.3 * worst_step()
    w = gaussian_weight(64, 64)
    assert w.max() == 1 and w.min() > 0 and w[32, 32] > w[16, 32] > w[16, 16] > w[0, 0]


def test_png_writer_round_trip_and_interrupt(tmp_path):
    grey, rgb = _image(37, 53)[..., 0], _image(37, 53, 1)
    for arr, ch in ((grey, 1), (rgb, 3)):
        path = tmp_path / f"x{ch}.png"
        with PngWriter(path, 53, 37, ch) as png:
            for top in range(0, 37, 10):
                png.write(arr[top:top + 10])
        assert np.array_equal(np.asarray(Image.open(path)), arr)
    with pytest.raises(ValueError, match="8 of 37 rows"):
        with PngWriter(tmp_path / "short.png", 53, 37, 1) as png:
            png.write(grey[:8])
    assert not list(tmp_path.glob("short.png*"))  # no half-written PNG left behind
    with pytest.raises(ValueError, match=r"uint8 \[h, 53, 3\]"):
        PngWriter(tmp_path / "bad.png", 53, 37, 3).write(grey)


def test_large_images_are_cut_into_tiles_each_pixel_once(tmp_path):
    (tmp_path / "i").mkdir(), (tmp_path / "m").mkdir()
    for k in range(8):
        Image.fromarray(_image(150, 230, k)).save(tmp_path / "i" / f"big{k}.png")
        Image.fromarray((np.arange(150 * 230).reshape(150, 230) % 3).astype(np.uint8)).save(tmp_path / "m" /
                                                                                             f"big{k}.png")
    total = 0
    for split in ("train", "val", "test"):
        try:
            ds = SegmentationDataset(split, images=tmp_path / "i", masks=tmp_path / "m", tile=64)
        except ValueError:
            continue
        ds.classes = ["a", "b", "c"]
        assert len(ds) == 3 * 4 * len(ds.pairs)  # ceil(150/64) x ceil(230/64) tiles per image
        masks = [ds[i]["mask"] for i in range(len(ds))]
        assert {tuple(m.shape) for m in masks} == {(64, 64)}
        total += sum(int((m != 255).sum()) for m in masks)
    assert total == 8 * 150 * 230  # padding is ignored, and no pixel is counted twice


def test_segment_command_writes_maps(seg_run, tmp_path, capsys):
    root, run = seg_run
    image = sorted((root / "images").glob("*.tif"))[0]
    capsys.readouterr()
    assert main(["segment", "--run", str(run), str(image), "--out", str(tmp_path / "maps"), "--window", "256",
                 "--tta", "--format", "png"]) == 0  # the procedural orthophotos are GeoTIFFs: PNGs on request
    out = capsys.readouterr().out
    assert "background" in out and "segment.json" in out
    summary = json.loads((tmp_path / "maps" / "segment.json").read_text())
    assert summary[0]["width"] == 1280 and summary[0]["height"] == 1024
    assert sum(summary[0]["class_share"].values()) == pytest.approx(1.0)
    classes = np.asarray(Image.open(tmp_path / "maps" / f"{image.stem}_classes.png"))
    colour = np.asarray(Image.open(tmp_path / "maps" / f"{image.stem}_colour.png"))
    assert classes.shape == (1024, 1280) and classes.max() < 5 and colour.shape == (1024, 1280, 3)
    from tslib.tasks.segment import load_segmenter

    model, info = load_segmenter(run)
    assert np.array_equal(colour, np.asarray(info["colours"], np.uint8)[classes])


def test_segment_command_bad_input(seg_run, tmp_path, capsys):
    root, run = seg_run
    image = sorted((root / "images").glob("*.tif"))[0]
    truncated = tmp_path / "cut.jpg"
    Image.fromarray(_image(300, 300)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    (tmp_path / "file").write_text("x")
    cls_run = tmp_path / "cls"
    cls_run.mkdir()
    (cls_run / "run.json").write_text(json.dumps({"task": "classify", "config": {}}))
    cases = [
        (["segment", "--run", str(run), str(tmp_path / "nope.tif"), "--out", str(tmp_path / "o")], "no such image"),
        (["segment", "--run", str(run), str(image), "--out", str(tmp_path / "file")], "is a file"),
        (["segment", "--run", str(run), str(truncated), "--out", str(tmp_path / "o2")], "cut.jpg"),
        (["segment", "--run", str(tmp_path / "norun"), str(image), "--out", str(tmp_path / "o3")], "norun"),
        (["segment", "--run", str(cls_run), str(image), "--out", str(tmp_path / "o7")], "not a segmentation run"),
        (["segment", "--run", str(run), str(image), "--out", str(tmp_path / "o4"), "--overlap", "1"], "overlap"),
        (["segment", "--run", str(run), str(image), "--out", str(tmp_path / "o5"), "--window", "8"], "window"),
        (["segment", "--run", str(run), str(image), "--out", str(tmp_path / "o6"), "--batch-size", "0"], "batch"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, (argv, err)
    assert not list((tmp_path / "o2").glob("*.png*"))  # nothing half-written for the unreadable image


def test_segment_skips_a_bad_image_among_good_ones(seg_run, tmp_path, capsys):
    """A corrupt file among several: the others are segmented and summarised, the error names the bad one, and
    nothing of it is written. Grayscale, RGBA and 16-bit inputs are converted, not refused."""
    import tifffile

    root, run = seg_run
    rgb = _image(200, 260)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)])).save(tmp_path / "rgba.png")
    tifffile.imwrite(tmp_path / "deep.tif", rgb.astype(np.uint16) * 257, photometric="rgb")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    images = [tmp_path / n for n in ("grey.png", "bad.png", "rgba.png", "deep.tif")]
    capsys.readouterr()
    rc = main(["segment", "--run", str(run), *map(str, images), "--out", str(tmp_path / "maps"), "--window", "128"])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "1 of 4 images" in err and "bad.png" in err, err
    assert "the others were segmented" in err and "skipped" in captured.out
    summary = json.loads((tmp_path / "maps" / "segment.json").read_text())
    assert [Path(r["image"]).name for r in summary] == ["grey.png", "rgba.png", "deep.tif"]
    assert all((r["width"], r["height"]) == (260, 200) for r in summary)
    assert not list((tmp_path / "maps").glob("bad_*")) and not list((tmp_path / "maps").glob(".*"))


def test_segment_interrupted_leaves_no_partial_maps(seg_run, tmp_path):
    """Ctrl-C or SIGTERM while a large image is segmented (also while its map files are being opened): exit 130,
    one line, no map file half-written."""
    import signal
    import subprocess
    import sys
    import time

    root, run = seg_run
    big = tmp_path / "big.png"
    Image.fromarray(np.tile(_image(256, 256), (12, 12, 1))).save(big)  # 3072 px a side: many seconds on a CPU
    out = tmp_path / "maps"
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen([sys.executable, "-m", "tslib", "segment", "--run", str(run), str(big), "--out",
                                 str(out), "--window", "256"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 120
        while not list(out.glob("*.part*")) + list(out.glob(".*")) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)  # until the maps are being written
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130 and len(stderr.strip().splitlines()) == 1, stderr
        assert "Traceback" not in stderr
        left = sorted(p.name for p in out.iterdir())
        assert not [n for n in left if not n.endswith(".png")], left  # no .part or stray file
        for name in left:  # a map finished just before the signal is complete (it was renamed into place whole)
            assert np.asarray(Image.open(out / name)).shape[:2] == (3072, 3072)
            (out / name).unlink()


def test_interrupt_while_the_map_files_are_opened(tmp_path, monkeypatch):
    """The race CI found: a signal between opening the first and the last map file left .part files."""
    import tslib.tasks.segment.maps as maps
    from tslib.data.pngstream import PngWriter

    opened = []

    class Cut(PngWriter):
        def __init__(self, path, *args, **kwargs):
            if opened:
                open(f"{path}.part", "wb").close()  # cut off inside the constructor, file already created
                raise KeyboardInterrupt
            super().__init__(path, *args, **kwargs)
            opened.append(path)

    monkeypatch.setattr(maps, "PngWriter", Cut)
    model = create_model("unet", task="segment", num_classes=3, depth=2, width=4).eval()
    Image.fromarray(_image(64, 80)).save(tmp_path / "a.png")
    with pytest.raises(KeyboardInterrupt):
        maps.segment_file(model, tmp_path / "a.png", tmp_path / "maps", ["a", "b", "c"],
                             np.zeros((3, 3), np.uint8))
    assert opened and not list((tmp_path / "maps").iterdir())
