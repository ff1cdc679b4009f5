"""Shared fixtures: tiny datasets written in the exact Kaggle layouts, and the real sample when present."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "intel-image-classification-sample"



# A distinct base colour per canonical class so that tiny fixtures are learnable.
CLASS_COLOURS = {
    "buildings": (120, 120, 120), "desert": (220, 190, 120), "forest": (30, 120, 40), "glacier": (220, 240, 255),
    "mountain": (110, 80, 60), "sea": (20, 60, 200), "street": (60, 60, 70),
}
LANDSCAPE_FOLDERS = {"Coast": "sea", "Desert": "desert", "Forest": "forest", "Glacier": "glacier",
                     "Mountain": "mountain"}


def make_image(path: Path, label: str, key: str, size: tuple[int, int] = (32, 32), mode: str = "RGB",
               fmt: str = "JPEG") -> Path:
    """A unique noisy image of the class colour; ``key`` seeds the noise so every file has distinct bytes."""
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    base = np.array(CLASS_COLOURS[label], dtype=np.int16)
    arr = np.clip(base + rng.integers(-25, 26, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt)
    return path


def build_intel(root: Path, per_class: int = 10, test_per_class: int = 3, pred: int = 4,
                classes=("buildings", "forest", "glacier", "mountain", "sea", "street")) -> Path:
    """Intel layout as Kaggle unzips it: seg_train/seg_train/<class>, seg_test/seg_test/<class>, seg_pred/seg_pred."""
    n = 0
    for c in classes:
        for i in range(per_class):
            make_image(root / "seg_train" / "seg_train" / c / f"{n}.jpg", c, f"intel-train-{c}-{i}")
            n += 1
        for i in range(test_per_class):
            make_image(root / "seg_test" / "seg_test" / c / f"{n}.jpg", c, f"intel-test-{c}-{i}")
            n += 1
    for i in range(pred):
        make_image(root / "seg_pred" / "seg_pred" / f"{n}.jpg", classes[i % len(classes)], f"intel-pred-{i}")
        n += 1
    return root


def build_landscape(root: Path, per_split: dict[str, int] | None = None) -> Path:
    """Landscape Recognition layout: 'Landscape Classification/Landscape Classification/<Split> Data/<Class>'."""
    per_split = per_split or {"Training Data": 8, "Validation Data": 2, "Testing Data": 2}
    tag = {"Training Data": "Train", "Validation Data": "Valid", "Testing Data": "Test"}
    base = root / "Landscape Classification" / "Landscape Classification"
    for split, n in per_split.items():
        for folder, label in LANDSCAPE_FOLDERS.items():
            for i in range(1, n + 1):
                make_image(base / split / folder / f"{folder}-{tag[split]} ({i}).jpeg", label,
                           f"land-{split}-{folder}-{i}", size=(40, 40))
    return root


@pytest.fixture
def intel_root(tmp_path: Path) -> Path:
    return build_intel(tmp_path / "intel")


@pytest.fixture
def landscape_root(tmp_path: Path) -> Path:
    return build_landscape(tmp_path / "landscape")


@pytest.fixture
def shared_sample() -> Path:
    if not SHARED_SAMPLE.is_dir():
        pytest.skip("../shared real Intel sample not present")
    return SHARED_SAMPLE


@pytest.fixture
def one_mask():
    """A 32x32 image and a 3-class mask (a "building" rectangle, a "road" band) for segmenters' overfitting checks."""
    import torch

    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    y = torch.zeros(1, 32, 32, dtype=torch.long)
    y[:, 8:20, 4:28] = 1
    y[:, 24:, :] = 2
    return x, y


def write_geotiff(path, image: np.ndarray, crs: str | None = "EPSG:2180", pixel: float = 0.25, **profile):
    """An orthophoto as rasterio writes one: bands first, the CRS and a north-up transform (or neither)."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    h, w = image.shape[:2]
    image = image[..., None] if image.ndim == 2 else image
    meta = {"driver": "GTiff", "width": w, "height": h, "count": image.shape[2], "dtype": image.dtype.name,
            **profile}
    if crs is not None:
        meta.update(crs=CRS.from_user_input(crs), transform=from_origin(600_000, 300_000, pixel, pixel))
    with rasterio.open(path, "w", **meta) as ds:
        ds.write(np.moveaxis(image, -1, 0))
    return path


@pytest.fixture(scope="session")
def seg_run(tmp_path_factory):
    """(Landcover.ai-layout root of procedural maps, a finished 1-epoch UNet run on it), for whole-image tests."""
    from tslib.cli import main
    from tslib.data.aerial import write_aerial
    from tslib.data.landcover import prepare_landcover

    root = write_aerial(tmp_path_factory.mktemp("aer") / "landcover", n_images=3, height=1024, width=1280, seed=2,
                        difficulty="easy")
    prepare_landcover(root, progress=False)
    run = tmp_path_factory.mktemp("runs") / "unet"
    assert main(["train", "--task", "segment", "--landcover", str(root), "--epochs", "1", "--img-size", "64",
                 "--depth", "2", "--width", "4", "--workers", "0", "--no-progress", "--limit-tiles", "4",
                 "--out", str(run)]) == 0
    return root, run


def fit_batch(model, x, y, steps: int, lr: float, stop_below: float | None = None) -> list[float]:
    """Adam on cross-entropy over one fixed batch, ``steps`` times; the loss of every step. ``stop_below``: stop
    early once the loss is below that fraction of the first one (saves CPU time in learning checks)."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if stop_below is not None and losses[-1] < losses[0] * stop_below:
            break
    return losses
