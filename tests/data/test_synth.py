"""Tests for the procedural landscape generator (tslib.data.synth and the scene painters)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tslib.data import synth
from tslib.data.classes import CANONICAL_CLASSES, INTEL_CLASSES, LANDSCAPE_CLASSES
from tslib.data.prepare import PROCEDURAL_MARKER
from tslib.data.scenes import NEIGHBOURS
from tslib.data.synth import generate_image, write_synthetic
from tslib.data.workspace import resolve_difficulty, write_procedural

LAND_ROOT = Path("Landscape Classification", "Landscape Classification")
LAND_SPLITS = {"Training Data": "Train", "Validation Data": "Valid", "Testing Data": "Test"}


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("cls", CANONICAL_CLASSES)
def test_generate_is_deterministic_and_varies(cls: str) -> None:
    a = generate_image(cls, size=64, seed=3, index=7)
    assert np.array_equal(a, generate_image(cls, size=64, seed=3, index=7))
    assert not np.array_equal(a, generate_image(cls, size=64, seed=3, index=8))
    assert not np.array_equal(a, generate_image(cls, size=64, seed=4, index=7))
    assert not np.array_equal(a, generate_image(cls, size=64, seed=3, index=7, stream=1))


def test_generate_ignores_and_keeps_global_rng_state() -> None:
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    a = generate_image("forest", size=48, index=2)
    assert np.array_equal(state, np.random.get_state()[1])
    np.random.seed(123)
    for i in range(3):  # other calls in between change nothing
        generate_image("sea", size=48, index=i)
    assert np.array_equal(a, generate_image("forest", size=48, index=2))


@pytest.mark.parametrize("size", [32, 57, 150, 224])
def test_shape_dtype_and_content(size: int) -> None:
    for cls in CANONICAL_CLASSES:
        img = generate_image(cls, size=size, index=1)
        assert img.shape == (size, size, 3)
        assert img.dtype == np.uint8
        n = size // 8 * 8  # 8x8 block means of the luminance: film grain averages out, structure stays
        blocks = img[:n, :n].mean(axis=2).reshape(8, n // 8, 8, n // 8).mean(axis=(1, 3))
        assert blocks.std() > 2, f"{cls} at {size}px has no large-scale structure"


@pytest.mark.parametrize("bad", ["lake", "Coast", "", "Buildings"])
def test_unknown_class_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="buildings"):
        generate_image(bad)


@pytest.mark.parametrize("size", [0, 16, 31])
def test_small_size_raises(size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        generate_image("sea", size=size)


def test_write_rejects_empty(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_synthetic(tmp_path, per_class=0)


def test_write_is_deterministic(tmp_path: Path) -> None:
    a = _tree(write_synthetic(tmp_path / "a", per_class=4, size=40, seed=5)["intel"].parent)
    b = _tree(write_synthetic(tmp_path / "b", per_class=4, size=40, seed=5)["intel"].parent)
    assert a and a == b
    c = _tree(write_synthetic(tmp_path / "c", per_class=4, size=40, seed=6)["intel"].parent)
    land = [k for k in a if k.startswith("landscape/")]
    assert len(land) == 5 * 4 and all(a[k] != c[k] for k in land)  # another seed, other pictures


def test_images_do_not_depend_on_per_class(tmp_path: Path) -> None:
    small = write_synthetic(tmp_path / "s", per_class=5, size=40)["landscape"] / LAND_ROOT
    big = write_synthetic(tmp_path / "b", per_class=12, size=40)["landscape"] / LAND_ROOT
    name = Path("Training Data", "Desert", "Desert-Train (2).jpeg")
    assert (small / name).read_bytes() == (big / name).read_bytes()


def test_layout_default_sizes(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    paths = write_synthetic(out, per_class=3)
    assert paths == {"intel": out / "intel", "landscape": out / "landscape"}
    assert sorted(p.name for p in out.iterdir()) == ["intel", "landscape"]  # nothing else written
    intel_img = next((out / "intel" / "seg_train" / "seg_train" / "sea").iterdir())
    land_img = next((paths["landscape"] / LAND_ROOT / "Training Data" / "Coast").iterdir())
    with Image.open(intel_img) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (150, 150))
    with Image.open(land_img) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (224, 224))


def test_intel_layout(tmp_path: Path) -> None:
    intel = write_synthetic(tmp_path, per_class=10, size=32)["intel"]
    assert sorted(p.name for p in intel.iterdir()) == ["seg_pred", "seg_test", "seg_train"]
    names: list[str] = []
    for split, expected in (("seg_train", 8), ("seg_test", 2)):
        split_dir = intel / split / split
        assert sorted(p.name for p in split_dir.iterdir()) == sorted(INTEL_CLASSES)
        for cls in INTEL_CLASSES:
            files = [p.name for p in (split_dir / cls).iterdir()]
            assert len(files) == expected
            names += files
    pred = list((intel / "seg_pred" / "seg_pred").iterdir())
    assert pred and all(p.is_file() for p in pred)
    names += [p.name for p in pred]
    assert all(re.fullmatch(r"\d+\.jpg", n) for n in names), names
    assert len(set(names)) == len(names) == 6 * 10 + len(pred)


def test_landscape_layout(tmp_path: Path) -> None:
    per_class = 20
    root = write_synthetic(tmp_path, per_class=per_class, size=32)["landscape"] / LAND_ROOT
    assert sorted(p.name for p in root.iterdir()) == sorted(LAND_SPLITS)
    for cls in LANDSCAPE_CLASSES:
        counts = {}
        for split, tag in LAND_SPLITS.items():
            assert sorted(p.name for p in (root / split).iterdir()) == sorted(LANDSCAPE_CLASSES)
            files = [p.name for p in (root / split / cls).iterdir()]
            ks = sorted(int(re.fullmatch(rf"{cls}-{tag} \((\d+)\)\.jpeg", f).group(1)) for f in files)
            assert ks == list(range(1, len(files) + 1)), files
            counts[split] = len(files)
        assert sum(counts.values()) == per_class
        assert counts == {"Training Data": 14, "Validation Data": 3, "Testing Data": 3}


def test_no_duplicate_files(tmp_path: Path) -> None:
    hashes = _tree(write_synthetic(tmp_path, per_class=8, size=48)["intel"].parent)
    assert len(hashes) == 6 * 8 + 2 + 5 * 8
    assert len(set(hashes.values())) == len(hashes)


def _features(cls: str, indices: range, stream: int, difficulty: str) -> np.ndarray:
    """8x8 block-mean RGB thumbnails, flattened."""
    imgs = np.stack([generate_image(cls, size=64, seed=0, index=i, stream=stream, difficulty=difficulty)
                     for i in indices])
    return imgs.reshape(len(imgs), 8, 8, 8, 8, 3).mean(axis=(2, 4)).reshape(len(imgs), -1)


def _nearest_centroid_accuracy(difficulty: str) -> float:
    train = {c: _features(c, range(0, 24), 0, difficulty) for c in CANONICAL_CLASSES}
    centroids = np.stack([train[c].mean(axis=0) for c in CANONICAL_CLASSES])
    correct = total = 0
    for label, cls in enumerate(CANONICAL_CLASSES):
        test = _features(cls, range(500, 516), 1, difficulty)  # unseen indices and another stream
        pred = ((test[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
        correct += int((pred == label).sum())
        total += len(test)
    return correct / total


def test_easy_classes_are_separable_and_realistic_ones_are_not() -> None:
    easy, realistic = _nearest_centroid_accuracy("easy"), _nearest_centroid_accuracy("realistic")
    assert easy > 0.7, f"easy: nearest-centroid accuracy {easy:.2f}"
    assert realistic < easy - 0.15, f"realistic {realistic:.2f} is not clearly harder than easy {easy:.2f}"


def test_every_scene_variant_draws(tmp_path: Path) -> None:
    """Many indices reach every optional element of every painter, at the smallest and a large size."""
    for cls in CANONICAL_CLASSES:
        for i in range(60):
            img = generate_image(cls, size=32 if i % 2 else 150, seed=9, index=i)
            assert img.dtype == np.uint8 and img.std() > 1, (cls, i)


def test_unknown_difficulty_raises(tmp_path: Path) -> None:
    for call in (lambda: generate_image("sea", difficulty="hard"),
                 lambda: write_synthetic(tmp_path, per_class=1, difficulty="Easy")):
        with pytest.raises(ValueError, match="realistic"):
            call()
    assert not any(tmp_path.iterdir())  # refused before writing anything


def test_difficulty_changes_the_pictures_deterministically() -> None:
    for cls in CANONICAL_CLASSES:
        easy = generate_image(cls, size=48, index=3, difficulty="easy")
        assert np.array_equal(easy, generate_image(cls, size=48, index=3, difficulty="easy"))
        assert not np.array_equal(easy, generate_image(cls, size=48, index=3))


def test_label_noise_paints_a_neighbour_for_a_few_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """About 3% of realistic images (seeded, per image) are a neighbouring class's picture; easy ones never."""
    painted: list[str] = []

    def recorder(name: str):
        def paint(rng: np.random.Generator, s: int, h: float) -> np.ndarray:
            painted.append(name)
            return np.zeros((s, s, 3), np.float32)

        return paint

    monkeypatch.setattr(synth, "PAINTERS", {c: recorder(c) for c in CANONICAL_CLASSES})
    n = 1500
    for difficulty, lo, hi in (("realistic", 0.015, 0.05), ("easy", 0.0, 0.0)):
        for cls in CANONICAL_CLASSES:
            painted.clear()
            for i in range(n):
                generate_image(cls, size=32, index=i, difficulty=difficulty)
            others = [p for p in painted if p != cls]
            assert lo <= len(others) / n <= hi, (difficulty, cls, len(others))
            assert set(others) <= set(NEIGHBOURS[cls])
    painted.clear()
    generate_image("sea", size=32, index=7)
    generate_image("sea", size=32, index=7)
    assert painted[0] == painted[1]  # the same image, the same painter


def test_write_procedural_passes_the_difficulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TSLIB_PROCEDURAL", raising=False)
    assert resolve_difficulty() == "realistic" and resolve_difficulty("easy") == "easy"
    monkeypatch.setenv("TSLIB_PROCEDURAL", "Easy")
    assert resolve_difficulty() == "easy" and resolve_difficulty("realistic") == "realistic"
    monkeypatch.setenv("TSLIB_PROCEDURAL", "hard")
    with pytest.raises(ValueError, match="TSLIB_PROCEDURAL"):
        resolve_difficulty()
    monkeypatch.setenv("TSLIB_PROCEDURAL", "easy")
    easy = write_procedural(tmp_path / "e", per_class=2, size=40)
    real = write_procedural(tmp_path / "r", per_class=2, size=40, difficulty="realistic")
    assert "difficulty=easy" in (tmp_path / "e" / PROCEDURAL_MARKER).read_text()
    assert "difficulty=realistic" in (tmp_path / "r" / PROCEDURAL_MARKER).read_text()
    a, b = _tree(easy["intel"].parent), _tree(real["intel"].parent)
    assert a.keys() - {PROCEDURAL_MARKER} == b.keys() - {PROCEDURAL_MARKER}
    assert all(a[k] != b[k] for k in a if k.startswith("landscape/"))
