"""The device augmentation path: the same random draws as StudyAugment give the same images (to a grey level at
a few pixels), any mix of image widths, the loader's order, and a classify run with --gpu-augment."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from tslib.data.fastaug import StudyAugment
from tslib.data.gpuaug import DeviceAugment, DeviceLoader
from tslib.imagenet import IMAGENET_MEAN, IMAGENET_STD


@pytest.fixture(scope="module")
def procedural_manifest(tmp_path_factory):
    from tslib.data.prepare import prepare
    from tslib.data.workspace import write_procedural

    root = tmp_path_factory.mktemp("proc")
    write_procedural(root / "data", per_class=6, size=48, seed=1, difficulty="easy")
    prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape", progress=False)
    return root / "prep" / "manifest.csv"


SIZES = [(150, 150), (150, 200), (150, 170), (150, 150), (180, 150)]


def _images(sizes, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:  # smooth random images: photo-like, so interpolation differences stay small
        a = cv2.resize(rng.integers(0, 256, (12, 14, 3)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
        out.append(torch.from_numpy(a).permute(2, 0, 1).contiguous())
    return out


def _bank(images):
    h, w = max(i.shape[1] for i in images), max(i.shape[2] for i in images)
    bank = torch.zeros(len(images), 3, h, w, dtype=torch.uint8)
    for k, im in enumerate(images):
        bank[k, :, :im.shape[1], :im.shape[2]] = im
    return bank


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_draws_same_images_as_study_augment(seed):
    images = _images(SIZES, seed)
    torch.manual_seed(seed)
    cpu = StudyAugment(150, IMAGENET_MEAN, IMAGENET_STD)
    want = torch.stack([cpu({"image": im})["image"].as_subclass(torch.Tensor) for im in images])
    after_cpu = torch.rand(1)
    torch.manual_seed(seed)
    got = DeviceAugment(150, IMAGENET_MEAN, IMAGENET_STD)(_bank(images), SIZES)
    assert torch.equal(torch.rand(1), after_cpu)  # exactly as many draws, in the same order
    assert got.shape == want.shape == (len(SIZES), 3, 150, 150)
    diff = ((got - want) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255).abs()
    assert diff.mean() < 0.05 and diff.max() <= 3  # grey levels: cv2's fixed-point bilinear vs grid_sample


def test_draws_differ_between_batches_and_images():
    aug = DeviceAugment(64, IMAGENET_MEAN, IMAGENET_STD)
    bank = _bank(_images([(64, 64)] * 4))
    torch.manual_seed(0)
    a, b = aug(bank), aug(bank)
    assert not torch.allclose(a, b) and not torch.allclose(a[0], a[1])


def test_device_loader_follows_the_loader_and_needs_a_decode_cache(procedural_manifest):
    from tslib.data.datasets import LandscapeDataset
    from tslib.data.loaders import make_loader

    plain = LandscapeDataset(procedural_manifest, "train", StudyAugment(48, IMAGENET_MEAN, IMAGENET_STD))
    with pytest.raises(ValueError, match="decode-cached training set"):
        DeviceLoader(make_loader(plain, 8, train=True), torch.device("cpu"))
    ds = LandscapeDataset(procedural_manifest, "train", StudyAugment(48, IMAGENET_MEAN, IMAGENET_STD),
                          decode_cache=48)
    loader = make_loader(ds, 8, train=True, seed=3)
    dev = DeviceLoader(loader, torch.device("cpu"))
    assert len(dev) == len(loader)
    loader.generator.manual_seed(5)
    order = [b.tolist() for b in (torch.as_tensor(i) for i in loader.batch_sampler)]
    dev.generator.manual_seed(5)  # the engine re-seeds the loader's generator each epoch: the same order
    batches = list(dev)
    assert [b["label"].tolist() for b in batches] == [[ds.targets[i] for i in o] for o in order]
    assert batches[0]["image"].shape == (8, 3, 48, 48) and batches[0]["image"].dtype == torch.float32


def test_classify_cli_trains_with_gpu_augment(procedural_manifest, tmp_path):
    from tslib.cli import main

    out = tmp_path / "run"
    assert main(["train", "--manifest", str(procedural_manifest), "--model", "cnn", "--img-size", "48",
                 "--epochs", "2", "--workers", "0", "--no-progress", "--gpu-augment", "--out", str(out)]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["gpu_augment"] is True
    assert "accuracy" in json.loads((out / "metrics.json").read_text())["test"]


def test_packed_store_holds_mixed_sizes_without_padding():
    from tslib.data.gpuaug import PackedImages

    images = _images(SIZES + [(150, 400)])  # one panorama: padding everything to it would triple the store
    store = PackedImages(images)
    assert store.nbytes == sum(3 * h * w for h, w in SIZES + [(150, 400)]) == store.buffer.numel()
    padded = len(images) * 3 * max(h for h, _ in store.sizes) * max(w for _, w in store.sizes)
    assert store.nbytes < padded / 2
    for i, img in enumerate(images):
        assert torch.equal(store.image(i), img)
    corners = [(0, 0), (10, 20), (5, 3)]
    got = store.windows([1, 2, 5], corners, 40, torch.device("cpu"))
    want = torch.stack([images[i][:, y:y + 40, x:x + 40] for i, (y, x) in zip([1, 2, 5], corners)])
    assert torch.equal(got, want)


def test_packed_windows_give_the_padded_batch_images():
    """The loader's packed path draws and warps exactly as DeviceAugment on the same images."""
    from tslib.data.gpuaug import PackedImages

    images = _images(SIZES, seed=4)
    aug = DeviceAugment(150, IMAGENET_MEAN, IMAGENET_STD)
    torch.manual_seed(7)
    want = aug(_bank(images), SIZES)
    torch.manual_seed(7)
    store = PackedImages(images)
    corners, theta, gain = aug.draws(store.sizes)
    got = aug.warp(store.windows(range(len(images)), corners, aug.crop, torch.device("cpu")), theta, gain)
    assert torch.equal(got, want)


def test_store_placement_ceilings():
    from tslib.data.gpuaug import StoreTooLarge, store_placement

    cuda, gb = torch.device("cuda"), 2 ** 30
    assert store_placement(3 * gb, cuda, gpu_free=8 * gb, host_available=4 * gb) == "device"  # <= half the GPU
    assert store_placement(5 * gb, cuda, gpu_free=8 * gb, host_available=24 * gb) == "pinned"  # <= 1/4 of RAM
    with pytest.raises(StoreTooLarge, match="GiB"):
        store_placement(5 * gb, cuda, gpu_free=8 * gb, host_available=12 * gb)
    assert store_placement(50 * gb, torch.device("cpu")) == "device"  # CPU: the images are where they are


def test_too_large_for_the_gpu_and_pinned_ram_falls_back_to_the_cpu_loader(procedural_manifest, monkeypatch,
                                                                           capsys):
    import tslib.data.gpuaug as gpuaug
    import tslib.data.memory as memory
    from tslib.tasks.classify import ClassifyConfig
    from tslib.tasks.classify.data import run_datasets, train_loader

    cfg = ClassifyConfig.from_dict(dict(manifest=str(procedural_manifest), model="cnn", img_size=48,
                                        gpu_augment=True, epochs=1, num_workers=0, progress=False))
    prep = {"size": 48, "resize_size": 55, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    cuda = torch.device("cuda")
    data = run_datasets(cfg, prep, device=cuda)
    assert data["train"].decode_cache == 48
    monkeypatch.setattr(gpuaug, "_free_bytes", lambda device: 1000)
    monkeypatch.setattr(memory, "available_ram", lambda: 1000)
    loader = train_loader(data["train"], cfg, cuda)
    assert isinstance(loader, torch.utils.data.DataLoader)  # the CPU path, with its decode cache
    err = capsys.readouterr().err
    assert "--gpu-augment off" in err and "CPU loader" in err and len(err.strip().splitlines()) == 1
    # and a decode cache that would not fit in RAM is not even built
    data = run_datasets(cfg, prep, device=cuda)
    assert data["train"].decode_cache is None and data["val"].decode_cache is None
    assert "decode cache off" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("placement", ["device", "pinned"])
def test_gpu_store_gives_the_cpu_store_images(placement):
    from tslib.data.gpuaug import PackedImages

    images, cuda = _images(SIZES, seed=2), torch.device("cuda")
    store = PackedImages(images, cuda if placement == "device" else "cpu", pin=placement == "pinned")
    assert store.pinned == (placement == "pinned") and store.buffer.is_pinned() == (placement == "pinned")
    corners = [(0, 0)] * len(images)
    got = store.windows(range(len(images)), corners, 100, cuda)
    assert got.device.type == "cuda"
    assert torch.equal(got.cpu(), PackedImages(images).windows(range(len(images)), corners, 100, torch.device("cpu")))
