"""The fast training path: the study's augmentation as one affine warp (StudyAugment) and the decode cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

from tslib.data.datasets import LandscapeDataset
from tslib.data.fastaug import StudyAugment
from tslib.data.loaders import make_loader
from tslib.data.prepare import prepare
from tslib.data.transforms import train_transform


def smooth_image(height: int, width: int, hwc: bool) -> torch.Tensor:
    """Gradients with some structure: resampling differences stay small, wrong geometry does not."""
    yy, xx = np.mgrid[0:height, 0:width]
    arr = np.stack([(xx * 1.3) % 256, (yy * 1.7) % 256, 128 + 100 * np.sin(xx / 9.0) * np.cos(yy / 7.0)], -1)
    arr = arr.astype(np.uint8)
    t = torch.from_numpy(arr)
    return t.permute(2, 0, 1) if hwc else t.permute(2, 0, 1).contiguous()


@pytest.mark.parametrize(("height", "width", "hwc"), [(150, 200, True), (150, 150, False), (300, 240, True)])
def test_same_draws_as_the_torchvision_pipeline(height, width, hwc):
    """Under one seed StudyAugment and train_transform crop, rotate, flip and brighten alike: per-pixel means
    within resampling noise, while two different seeds differ by far more."""
    image = tv_tensors.Image(smooth_image(height, width, hwc))
    fast, ref = StudyAugment(150), train_transform(150)
    diffs, others = [], []
    for seed in range(12):
        torch.manual_seed(seed)
        a = fast({"image": image, "label": 3})
        torch.manual_seed(seed)
        b = ref({"image": image, "label": 3})
        torch.manual_seed(seed + 100)
        c = ref({"image": image, "label": 3})
        assert a["label"] == 3 and a["image"].shape == b["image"].shape == (3, 150, 150)
        assert a["image"].dtype == torch.float32
        diffs.append((a["image"] - b["image"]).abs().mean().item())
        others.append((c["image"] - b["image"]).abs().mean().item())
    assert max(diffs) < 0.05, diffs  # normalised units: ~2-3 grey levels
    assert min(others) > 5 * max(diffs), (diffs, others)


def test_random_numbers_stay_in_step():
    """Both pipelines consume the same number of draws: what a seeded loader gives next is the same."""
    image = tv_tensors.Image(smooth_image(150, 180, True))
    torch.manual_seed(0)
    StudyAugment(150)({"image": image})
    after_fast = torch.rand(3)
    torch.manual_seed(0)
    train_transform(150)({"image": image})
    assert torch.equal(after_fast, torch.rand(3))


@pytest.fixture
def manifest(intel_root, tmp_path):
    return prepare(tmp_path / "prep", intel=intel_root, progress=False).manifest


def test_decode_cache_gives_the_same_samples(manifest):
    """Decoded once and resized to the pipeline's first size, the images give the very same augmented batches."""
    tf = StudyAugment(24)
    plain = LandscapeDataset(manifest, "train", tf)
    cached = LandscapeDataset(manifest, "train", tf, decode_cache=24)
    images = cached.cached_images()
    assert len(images) == len(cached) and all(min(c.shape[-2:]) == 24 and c.dtype == torch.uint8 for c in images)
    with pytest.raises(ValueError, match="needs a dataset built with decode_cache"):
        plain.cached_images()
    for workers in (0, 2):
        torch.manual_seed(5)  # without workers the transforms draw from this process's generator
        a = list(make_loader(plain, 8, train=True, seed=1, num_workers=workers))
        torch.manual_seed(5)
        b = list(make_loader(cached, 8, train=True, seed=1, num_workers=workers))
        assert len(a) == len(b) > 1
        for x, y in zip(a, b):
            torch.testing.assert_close(x["image"], y["image"], atol=0.02, rtol=0)
            assert torch.equal(x["label"], y["label"])
    with pytest.raises(ValueError, match="decode_cache must be a positive size"):
        LandscapeDataset(manifest, "train", tf, decode_cache=0)


def test_decode_cache_fills_lazily_without_warming(manifest):
    ds = LandscapeDataset(manifest, "val", None, decode_cache=16)
    sample = ds[0]
    assert min(sample["image"].shape[-2:]) == 16 and ds._cache[0] is not None and ds._cache[1] is None
