"""The device augmentation path against the CPU path it replaces on a GPU: training images/s, one run.

    python benchmarks/device_augment.py [--quick] [--manifest PREP/manifest.csv] [--sizes 96,150,224] [--device auto]

Both produce the same batches (the study's augmentation, normalised, batch 32) from images decoded once
(``--decode-cache``), at the notebooks' sizes (notebook 03's CNN at 96 and 150 px, notebook 04's Lite0 at 224):

- CPU path: ``LandscapeDataset`` + ``StudyAugment`` in 2 DataLoader workers (what a Colab runtime's 2 vCPUs run),
  each batch then moved to ``--device``;
- device path: ``tslib.data.gpuaug.DeviceLoader``, the uint8 images on ``--device`` and one batched
  ``grid_sample`` warp per batch there (``--gpu-augment``).

On a CPU-only machine both run on the CPU (the device path then uses torch's threads instead of workers): the
ratio that matters is the one measured on a GPU. Prints images/s of each and ``device_augment_speedup: X`` (device
path / CPU path, at the largest size).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCH = 32


def _rate(loader, device: torch.device, batches: int) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    it, done = iter(loader), 0
    next(it)  # worker start-up / first transfer: not the steady state
    sync()
    t = time.perf_counter()
    while done < batches:
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            continue
        batch["image"].to(device, non_blocking=True)
        done += 1
    sync()
    return batches * BATCH / (time.perf_counter() - t)


def run(quick: bool = False, manifest: Path | None = None, sizes: tuple[int, ...] = (96, 150, 224),
        device: str = "auto") -> dict:
    from data_path import procedural_manifest

    from tslib.data.datasets import LandscapeDataset
    from tslib.data.fastaug import StudyAugment
    from tslib.data.gpuaug import DeviceLoader
    from tslib.data.loaders import make_loader

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    batches = 10 if quick else 40
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = manifest or procedural_manifest(Path(tmp), 20 if quick else 60)
        for size in sizes:
            ds = LandscapeDataset(manifest, "train", transforms=StudyAugment(size), decode_cache=size)
            ds.warm_cache()
            cpu = _rate(make_loader(ds, BATCH, train=True, seed=0, num_workers=2, device=dev), dev, batches)
            on_device = _rate(DeviceLoader(make_loader(ds, BATCH, train=True, seed=0), dev), dev, batches)
            rows.append({"size": size, "cpu": cpu, "device": on_device, "ratio": on_device / cpu})
    return {"device": str(dev), "rows": rows, "speedup": rows[-1]["ratio"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--manifest", type=Path, default=None)
    ap.add_argument("--sizes", default="96,150,224")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    r = run(args.quick, args.manifest, tuple(int(s) for s in args.sizes.split(",")), args.device)
    for row in r["rows"]:
        print(f"{row['size']:4d} px on {r['device']}: CPU path (2 workers) {row['cpu']:7.0f} images/s, device path "
              f"{row['device']:7.0f} images/s, {row['ratio']:.2f}x")
    print(f"device_augment_speedup: {r['speedup']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
