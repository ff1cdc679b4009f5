"""Segmentation: honest mIoU by hand, ignored pixels never count, data errors name the file, the UNet learns the
procedural aerial maps, and `train --task segment` / `evaluate` work on both data sources."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tslib.cli import main
from tslib.data.aerial import write_aerial
from tslib.data.landcover import prepare_landcover
from tslib.engine import TrainConfig
from tslib.tasks.segment import SegmentationDataset, SegmentConfig, train_segmenter
from tslib.tasks.segment.data import segmentation_transform
from tslib.tasks.segment.metrics import confusion, segmentation_metrics


def test_miou_by_hand_and_ignore_index():
    target = torch.tensor([[0, 0, 1, 1], [0, 2, 2, 255]])
    preds = torch.tensor([[0, 1, 1, 1], [0, 2, 0, 1]])
    m = segmentation_metrics(confusion(preds, target, 3, ignore_index=255), ["a", "b", "c"])
    # class a: tp 2, fp 1, fn 1 -> 2/4; b: tp 2, fp 1, fn 0 -> 2/3; c: tp 1, fp 0, fn 1 -> 1/2
    assert m["per_class_iou"] == pytest.approx({"a": 0.5, "b": 2 / 3, "c": 0.5})
    assert m["miou"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)  # macro: the mean of per-class IoUs
    assert m["pixel_accuracy"] == pytest.approx(5 / 7) and m["pixels"] == 7  # the 255 pixel is not counted
    absent = segmentation_metrics(confusion(torch.zeros(4), torch.zeros(4), 2), ["x", "y"])
    assert absent["per_class_iou"] == {"x": 1.0, "y": None} and absent["miou"] == 1.0


def _folder(tmp_path, n=12, size=(40, 48), palette=True):
    colours = {"bg": "#000000", "house": [255, 0, 0]}
    for i in range(n):
        img = np.random.default_rng(i).integers(0, 255, (*size, 3), dtype=np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[5:20, 10:30] = 1
        (tmp_path / "img").mkdir(parents=True, exist_ok=True), (tmp_path / "msk").mkdir(exist_ok=True)
        Image.fromarray(img).save(tmp_path / "img" / f"tile{i}.jpg")
        out = np.stack([mask * 255, np.zeros_like(mask), np.zeros_like(mask)], -1) if palette else mask
        Image.fromarray(out).save(tmp_path / "msk" / f"tile{i}.png")
    (tmp_path / "palette.json").write_text(json.dumps(colours))
    return tmp_path / "img", tmp_path / "msk", tmp_path / "palette.json"


def test_folder_dataset_pairs_decodes_and_reports_bad_files(tmp_path):
    images, masks, palette = _folder(tmp_path)
    splits = {s: SegmentationDataset(s, segmentation_transform(32, s == "train"), images=images, masks=masks,
                                     palette=palette) for s in ("train", "val", "test")}
    assert sum(len(d) for d in splits.values()) == 12 and splits["train"].classes == ["bg", "house"]
    sample = splits["train"][0]
    assert sample["image"].shape == (3, 32, 32) and sample["mask"].shape == (32, 32)
    # 40x48 images are one 48x48 tile: the 8 padded rows are labelled 255 (ignored), every other pixel a class
    assert sample["mask"].dtype == torch.long and set(sample["mask"].unique().tolist()) <= {0, 1, 255}
    tile = splits["val"][0]
    assert tile["image"].shape == (3, 48, 48) and (tile["mask"][40:] == 255).all()
    assert set(tile["mask"][:40].unique().tolist()) == {0, 1}
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(images / "orphan.jpg")
    with pytest.raises(FileNotFoundError, match="orphan.jpg"):
        SegmentationDataset("train", images=images, masks=masks, palette=palette)
    (images / "orphan.jpg").unlink()
    bad = np.zeros((40, 48, 3), np.uint8)
    bad[0, 0] = (0, 255, 0)
    name = splits["val"].pairs[0][1]
    Image.fromarray(bad).save(name)

    def val():
        return SegmentationDataset("val", images=images, masks=masks, palette=palette)

    with pytest.raises(ValueError, match=rf"{name.name}: colours not in the palette: #00FF00"):
        val()[0]
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(name)
    with pytest.raises(ValueError, match=rf"{name.name}: mask is 10x10, image is 48x40"):
        val()[0]


@pytest.fixture(scope="module")
def aerial(tmp_path_factory):
    root = write_aerial(tmp_path_factory.mktemp("aer") / "landcover", n_images=3, height=1024, width=1536, seed=4,
                        difficulty="easy")  # learnable in a CI budget
    prepare_landcover(root, progress=False)
    return root


@pytest.mark.slow
def test_unet_learns_the_procedural_aerial_maps(aerial, tmp_path):
    cfg = SegmentConfig(landcover=str(aerial), img_size=128, depth=3, width=16,
                        train=TrainConfig(epochs=12, batch_size=4, lr=3e-3, num_workers=0, progress=False))
    metrics = train_segmenter(cfg, tmp_path / "run")
    with open(tmp_path / "run" / "history.csv") as f:
        first = float(next(csv.DictReader(f))["val_miou"])
    assert metrics["test"]["miou"] > 0.5 and metrics["test"]["miou"] > first, metrics["test"]["per_class_iou"]
    assert set(metrics["test"]) >= {"miou", "per_class_iou", "pixel_accuracy", "confusion"}
    assert len(metrics["test"]["confusion"]) == 5


def test_segment_cli_on_both_sources(aerial, tmp_path, capsys):
    rc = main(["train", "--task", "segment", "--landcover", str(aerial), "--epochs", "1", "--img-size", "64",
               "--depth", "2", "--width", "8", "--workers", "0", "--no-progress", "--out", str(tmp_path / "lc")])
    assert rc == 0 and capsys.readouterr().out.strip().splitlines()[-1].startswith("test mIoU: ")
    assert main(["evaluate", "--run", str(tmp_path / "lc"), "--split", "val", "--tta"]) == 0
    assert "val_tta" in json.loads((tmp_path / "lc" / "metrics.json").read_text())
    images, masks, palette = _folder(tmp_path / "own", n=14)
    rc = main(["train", "--task", "segment", "--images", str(images), "--masks", str(masks), "--palette",
               str(palette), "--ignore-index", "255", "--epochs", "1", "--img-size", "32", "--depth", "2",
               "--width", "8", "--workers", "0", "--no-progress", "--out", str(tmp_path / "own_run")])
    assert rc == 0
    capsys.readouterr()
    for argv, needle in ((["train", "--task", "segment", "--out", str(tmp_path / "x")], "--landcover DIR"),
                         (["train", "--task", "segment", "--images", str(images), "--out", str(tmp_path / "x")],
                          "go together"),
                         (["train", "--task", "segment", "--landcover", str(tmp_path / "none"), "--out",
                           str(tmp_path / "x")], "Landcover.ai layout")):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err


def test_landcover_tiles_deleted_after_prepare(aerial, tmp_path, capsys):
    """A split smaller than its list is an error naming the missing tiles, not a silently smaller test set; a
    re-run of prepare-landcover recreates them."""
    import shutil

    root = shutil.copytree(aerial, tmp_path / "landcover")
    name = (root / "val.txt").read_text().split()[0]
    (root / "output" / f"{name}_m.png").unlink()
    argv = ["train", "--task", "segment", "--landcover", str(root), "--epochs", "1", "--img-size", "32",
            "--depth", "2", "--width", "8", "--workers", "0", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{name}_m.png" in err and "prepare-landcover" in err, err
    assert not (tmp_path / "run").exists()
    assert main(["prepare-landcover", "--data", str(root), "--quiet"]) == 0
    assert (root / "output" / f"{name}_m.png").is_file()


def test_own_index_masks_named_by_classes_and_every_split_checked_before_training(tmp_path, capsys):
    """--classes names index masks everywhere (run.json, metrics, segment maps' legends); a mask of the wrong size
    or with a value that is no class, in any split, is one line before the first epoch, and no run is left."""
    from tslib.data.manifest import hash_split

    images, masks, _ = _folder(tmp_path / "own", n=14, palette=False)
    base = ["train", "--task", "segment", "--images", str(images), "--masks", str(masks), "--epochs", "1",
            "--img-size", "32", "--depth", "2", "--width", "4", "--workers", "0", "--no-progress"]
    assert main([*base, "--classes", "bare:#101010,house:#ff0000", "--out", str(tmp_path / "named")]) == 0
    info = json.loads((tmp_path / "named" / "run.json").read_text())
    assert info["classes"] == ["bare", "house"] and info["colours"] == [[16, 16, 16], [255, 0, 0]]
    metrics = json.loads((tmp_path / "named" / "metrics.json").read_text())
    assert set(metrics["test"]["per_class_iou"]) == {"bare", "house"}
    capsys.readouterr()
    assert main(["segment", "--run", str(tmp_path / "named"), str(next(images.iterdir())), "--out",
                 str(tmp_path / "maps")]) == 0
    assert "bare" in capsys.readouterr().out
    # Bad masks of the val and test splits are found before training, not after the first epoch.
    stems = sorted(p.stem for p in images.iterdir())
    val = next(s for s in stems if hash_split(s, 0) == "val")
    test = next(s for s in stems if hash_split(s, 0) == "test")
    for stem, mask, needle in ((val, np.zeros((10, 10), np.uint8), "mask is 10x10, image is 48x40 (val split)"),
                               (test, np.full((40, 48), 2, np.uint8), "values [2] are not classes (0..1)")):
        good = (masks / f"{stem}.png").read_bytes()
        Image.fromarray(mask).save(masks / f"{stem}.png")
        out = tmp_path / f"bad_{stem}"
        assert main([*base, "--classes", "bare,house", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and f"{stem}.png" in err, err
        assert not (out / "last.pt").exists() and not (out / "history.csv").exists()
        (masks / f"{stem}.png").write_bytes(good)
    for argv, needle in (([*base, "--classes", "a,a"], "distinct"), ([*base, "--classes", "a:#ff0000,b"],
                                                                      "every class"),
                         (["train", "--task", "segment", "--landcover", str(tmp_path), "--classes", "a,b"],
                          "already name")):
        assert main([*argv, "--out", str(tmp_path / "x")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize("source", ["landcover", "folder"])
def test_decoded_once_tiles_give_the_same_samples(tmp_path, seg_run, source):
    """The tile decode cache: every sample as read from disk (edge tiles padded as before), its bytes estimated
    up front, and augmented batches identical under one seed."""
    if source == "landcover":
        kw = {"landcover": seg_run[0]}
    else:
        images, masks, palette = _folder(tmp_path, size=(40, 70))
        kw = {"images": images, "masks": masks, "palette": palette, "tile": 32}
    plain = SegmentationDataset("train", segmentation_transform(32, train=True), **kw)
    cached = SegmentationDataset("train", segmentation_transform(32, train=True), **kw)
    cached.warm_cache()
    side = 512 if source == "landcover" else 32
    assert cached.decoded_bytes() == len(cached) * 4 * side ** 2
    for i in range(len(plain)):
        (a, m), (b, n) = plain.read(i), cached.read(i)
        assert np.array_equal(a, b) and np.array_equal(m, n) and n.dtype == np.int64
    torch.manual_seed(0)
    first = [plain[i] for i in range(len(plain))]
    torch.manual_seed(0)
    second = [cached[i] for i in range(len(cached))]
    assert all(torch.equal(x["image"], y["image"]) and torch.equal(x["mask"], y["mask"]) for x, y in zip(first, second))
