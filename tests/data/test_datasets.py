from collections import Counter

import pytest
import torch
from torchvision import tv_tensors

from tslib.data.datasets import LandscapeDataset
from tslib.data.prepare import prepare
from tslib.data.sampling import class_weights, make_weighted_sampler
from tslib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize, eval_transform, train_transform


@pytest.fixture
def prepared(intel_root, landscape_root, tmp_path):
    return prepare(tmp_path / "prep", intel=intel_root, landscape=landscape_root, progress=False).manifest.parent


def test_dataset_returns_dict_samples(prepared):
    ds = LandscapeDataset(prepared, "train")
    assert ds.classes == ["buildings", "desert", "forest", "glacier", "mountain", "sea", "street"]
    s = ds[0]
    assert set(s) == {"image", "label", "path"}
    assert isinstance(s["image"], tv_tensors.Image) and s["image"].dtype == torch.uint8 and s["image"].shape[0] == 3
    assert 0 <= s["label"] < 7
    # all splits share one class index
    assert LandscapeDataset(prepared / "manifest.csv", "test").classes == ds.classes


def test_dataset_errors_and_limit(prepared, tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        LandscapeDataset(prepared, "training")
    with pytest.raises(FileNotFoundError, match="prepare"):
        LandscapeDataset(tmp_path / "nothing", "train")
    ds = LandscapeDataset(prepared, "train", limit_per_class=2)
    assert max(Counter(ds.targets).values()) == 2 and len(set(ds.targets)) == 7
    again = LandscapeDataset(prepared, "train", limit_per_class=2)
    assert [e.path for e in ds.entries] == [e.path for e in again.entries]
    unl = LandscapeDataset(prepared, "unlabeled")
    assert set(unl.targets) == {-1}


def test_dataset_survives_moving_the_manifest(prepared, tmp_path):
    # report.json keeps an absolute data root too, so a copied manifest folder still resolves images
    moved = tmp_path / "moved" / "m"
    moved.mkdir(parents=True)
    for name in ("manifest.csv", "report.json"):
        (moved / name).write_bytes((prepared / name).read_bytes())
    assert LandscapeDataset(moved, "val")[0]["image"].ndim == 3


def test_train_transform_shapes_and_ranges(prepared):
    torch.manual_seed(0)
    ds = LandscapeDataset(prepared, "train", transforms=train_transform(150))
    s = ds[0]
    assert s["image"].shape == (3, 150, 150) and s["image"].dtype == torch.float32
    assert isinstance(s["label"], int)
    lo = (0 - max(IMAGENET_MEAN)) / min(IMAGENET_STD)
    hi = (1 - min(IMAGENET_MEAN)) / min(IMAGENET_STD)
    assert lo - 1e-4 <= s["image"].min() and s["image"].max() <= hi + 1e-4
    assert denormalize(s["image"]).min() >= 0 and denormalize(s["image"]).max() <= 1
    # random: two draws differ; sizes follow the size argument
    assert not torch.equal(ds[0]["image"], ds[0]["image"])
    assert LandscapeDataset(prepared, "train", transforms=train_transform(96))[0]["image"].shape == (3, 96, 96)


def test_eval_transform_is_deterministic_and_handles_non_square():
    img = tv_tensors.Image(torch.randint(0, 256, (3, 113, 150), dtype=torch.uint8))
    t = eval_transform(150)
    a, b = t({"image": img, "label": 1}), t({"image": img, "label": 1})
    assert a["image"].shape == (3, 150, 150) and torch.equal(a["image"], b["image"]) and a["label"] == 1
    # with mean 0 std 1 the output is the [0,1] image
    plain = eval_transform(64, mean=(0, 0, 0), std=(1, 1, 1))({"image": img})["image"]
    assert 0 <= plain.min() and plain.max() <= 1


def test_weighted_sampler_balances_classes():
    targets = [0] * 900 + [1] * 90 + [2] * 10
    w = class_weights(targets)
    assert w[2] > w[1] > w[0]
    sampler = make_weighted_sampler(targets, num_samples=30000, seed=0)
    drawn = Counter(targets[i] for i in sampler)
    for c in range(3):
        assert abs(drawn[c] / 30000 - 1 / 3) < 0.02, drawn
    assert list(make_weighted_sampler(targets, seed=5)) == list(make_weighted_sampler(targets, seed=5))
    with pytest.raises(ValueError, match="negative"):
        make_weighted_sampler([0, -1])


def test_real_sample_dataset(shared_sample, tmp_path):
    prep = prepare(tmp_path / "p", intel=shared_sample, progress=False).manifest.parent
    ds = LandscapeDataset(prep, "train", transforms=train_transform())
    assert len(ds) >= 80 and ds[0]["image"].shape == (3, 150, 150)
    odd = [i for i, e in enumerate(ds.entries) if (e.width, e.height) != (150, 150)]
    for i in odd:
        assert ds[i]["image"].shape == (3, 150, 150)
