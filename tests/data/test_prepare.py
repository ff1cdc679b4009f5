import random
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from conftest import build_intel, make_image
from PIL import Image

from tslib.data.manifest import _allocate, assign_splits, read_manifest
from tslib.data.prepare import format_report, prepare


def _splits(entries):
    return {e.hash: e.split for e in entries}


def test_merge_classes_canonical_order(intel_root, landscape_root, tmp_path):
    res = prepare(tmp_path / "out", intel=intel_root, landscape=landscape_root, progress=False)
    assert res.classes == ["buildings", "desert", "forest", "glacier", "mountain", "sea", "street"]
    assert {e.source for e in res.entries} == {"intel", "landscape"}
    sea_sources = Counter(e.source for e in res.entries if e.label == "sea")
    assert sea_sources == {"intel": 13, "landscape": 12}  # Coast joined sea
    rows = read_manifest(res.manifest)
    assert len(rows) == len(res.entries) and all(not r.path.startswith("/") for r in rows)
    assert sum(r.split == "unlabeled" for r in rows) == 4


def test_intel_alone_gives_six_classes(intel_root, tmp_path):
    res = prepare(tmp_path / "out", intel=intel_root, progress=False)
    assert res.classes == ["buildings", "forest", "glacier", "mountain", "sea", "street"]


def test_dedup_keeps_one_copy_and_drops_conflicts(intel_root, tmp_path):
    train, test = intel_root / "seg_train" / "seg_train", intel_root / "seg_test" / "seg_test"
    # same label duplicate within train, and one across train/test
    shutil.copy(train / "sea" / next(p.name for p in (train / "sea").iterdir()), train / "sea" / "dup1.jpg")
    test_sea = sorted((test / "sea").iterdir())[0]
    shutil.copy(test_sea, train / "sea" / "dup_of_test.jpg")
    # conflicting labels: the same bytes under forest and glacier (one in train, one in test)
    conflict = sorted((train / "forest").iterdir())[0]
    shutil.copy(conflict, test / "glacier" / "conflict.jpg")
    res = prepare(tmp_path / "out", intel=intel_root, official_test=True, progress=False)
    rep = res.report
    assert len(rep["duplicates_removed"]) == 2
    assert {d["label"] for d in rep["conflicts_removed"]} == {"forest", "glacier"}
    assert len(rep["conflicts_removed"]) == 2
    paths = {e.path for e in res.entries}
    assert not any("conflict.jpg" in p for p in paths) and not any(conflict.name == p.rsplit("/", 1)[1]
                                                                     and "forest" in p for p in paths)
    # the official test copy survives, so the official test set keeps its image
    assert any(p.endswith(f"seg_test/seg_test/sea/{test_sea.name}") for p in paths)
    assert len({e.hash for e in res.entries}) == len(res.entries)
    assert "conflicting labels" in format_report(rep)


def test_split_is_deterministic_and_machine_independent(intel_root, landscape_root, tmp_path):
    a = prepare(tmp_path / "a", intel=intel_root, landscape=landscape_root, seed=3, progress=False)
    # same files, other location, other global RNG state: same split
    copy = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(intel_root, copy / "intel")
    shutil.copytree(landscape_root, copy / "landscape")
    random.seed(123), np.random.seed(123), torch.manual_seed(123)
    b = prepare(tmp_path / "b", intel=copy / "intel", landscape=copy / "landscape", seed=3, progress=False)
    assert _splits(a.entries) == _splits(b.entries)
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (tmp_path / "b" / "manifest.csv").read_bytes()
    c = prepare(tmp_path / "c", intel=intel_root, landscape=landscape_root, seed=4, progress=False)
    assert _splits(a.entries) != _splits(c.entries)


def test_stratified_fractions_and_disjoint_splits(tmp_path):
    root = build_intel(tmp_path / "intel", per_class=23, test_per_class=4, pred=0)
    res = prepare(tmp_path / "out", intel=root, progress=False)
    for label, counts in res.report["counts"].items():
        n = sum(counts.values())
        for split, frac in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
            assert abs(counts.get(split, 0) - frac * n) <= 1, (label, counts)
    by_path = Counter(e.path for e in res.entries)
    assert max(by_path.values()) == 1
    assert len({e.hash for e in res.entries}) == len(res.entries)


@pytest.mark.parametrize("n", range(0, 40))
def test_allocate_within_one(n):
    counts = _allocate(n, (0.7, 0.15, 0.15))
    assert sum(counts) == n and all(abs(c - f * n) < 1 for c, f in zip(counts, (0.7, 0.15, 0.15)))


def test_official_test_keeps_official_sets(intel_root, landscape_root, tmp_path):
    res = prepare(tmp_path / "out", intel=intel_root, landscape=landscape_root, official_test=True, progress=False)
    for e in res.entries:
        if e.label:
            assert (e.split == "test") == (e.official_split == "test")
    assert {e.split for e in res.entries if e.label} == {"train", "val", "test"}


def test_unlabelled_rows_are_not_split(intel_root, tmp_path):
    entries = prepare(tmp_path / "o", intel=intel_root, progress=False).entries
    assign_splits(entries, seed=1)
    assert all((e.split == "unlabeled") == (e.label == "") for e in entries)


def test_bad_files_skipped_reported_and_odd_files_converted(intel_root, tmp_path):
    d = intel_root / "seg_train" / "seg_train" / "sea"
    good = (d / sorted(p.name for p in d.iterdir())[0]).read_bytes()
    (d / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (d / "zero.jpg").write_bytes(b"")
    (d / "garbage.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    make_image(d / "gray.jpg", "sea", "g", mode="L")
    make_image(d / "cmyk.jpg", "sea", "c", mode="CMYK")
    make_image(d / "rgba.png", "sea", "r", mode="RGBA", fmt="PNG")
    make_image(d / "png_named.jpg", "sea", "p", fmt="PNG")  # PNG content with a .jpg name
    make_image(d / "odd.jpg", "sea", "o", size=(150, 113))  # Intel has 150xN images
    (d / "readme.txt").write_text("x")
    out = tmp_path / "out"
    res = prepare(out, intel=intel_root, progress=False)
    skipped = {s["path"].rsplit("/", 1)[1]: s["reason"] for s in res.report["skipped"]}
    assert set(skipped) == {"truncated.jpg", "zero.jpg", "garbage.jpg", "readme.txt"}
    assert "truncated" in skipped["truncated.jpg"] and "empty" in skipped["zero.jpg"]
    kept = {e.path.rsplit("/", 1)[1]: e for e in res.entries}
    for name in ("gray.jpg", "cmyk.jpg", "rgba.png", "png_named.jpg", "odd.jpg"):
        assert name in kept
    assert (kept["odd.jpg"].width, kept["odd.jpg"].height) == (150, 113)
    text = format_report(res.report)
    assert "truncated.jpg" in text and "skipped 4" in text


def test_nothing_written_outside_out(intel_root, tmp_path):
    before = sorted(p for p in tmp_path.rglob("*"))
    out = tmp_path / "out"
    prepare(out, intel=intel_root, progress=False)
    after = sorted(p for p in tmp_path.rglob("*") if out not in p.parents and p != out)
    assert after == before
    assert sorted(p.name for p in out.iterdir()) == ["manifest.csv", "report.json"]


def test_needs_a_source(tmp_path):
    with pytest.raises(ValueError, match="at least one source"):
        prepare(tmp_path / "o")


def test_read_manifest_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="tslib prepare"):
        read_manifest(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a tslib manifest"):
        read_manifest(bad)


def test_real_sample_prepare(shared_sample, tmp_path):
    res = prepare(tmp_path / "out", intel=shared_sample, seed=0, progress=False)
    assert res.classes == ["buildings", "forest", "glacier", "mountain", "sea", "street"]
    assert res.report["n_images"] + len(res.report["duplicates_removed"]) + len(res.report["conflicts_removed"]) == 126
    sizes = {(e.width, e.height) for e in res.entries}
    assert (150, 150) in sizes and len(sizes) > 1  # the sample has a few non-150x150 images
    with Image.open(shared_sample / "seg_train" / "seg_train" / "sea" / sorted(
            p.name for p in (shared_sample / "seg_train" / "seg_train" / "sea").iterdir())[0]) as im:
        assert im.mode == "RGB"


def test_symlink_loops_are_not_followed(tmp_path):
    """A link to a parent folder, a link to itself and a dangling link: every image indexed once, no endless walk."""
    import os

    from tslib.tasks.classify.prediction import collect_images

    build_intel(tmp_path / "intel", per_class=4, test_per_class=1, pred=3)
    forest = tmp_path / "intel" / "seg_train" / "seg_train" / "forest"
    os.symlink("..", forest / "up")
    os.symlink("self", forest / "self")
    os.symlink(tmp_path / "gone", forest / "dangling.jpg")
    os.symlink(tmp_path / "intel", tmp_path / "intel" / "seg_pred" / "root")
    res = prepare(tmp_path / "prep", intel=tmp_path / "intel", progress=False)
    paths = [e.path for e in res.entries]
    assert len(paths) == len(set(paths)) == 6 * 5 + 3 and not any("/up/" in p or "root/" in p for p in paths)
    assert len(collect_images([tmp_path / "intel" / "seg_pred"])[0]) == 3
