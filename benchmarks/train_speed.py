"""Training throughput and peak memory of every model at the notebooks' sizes, through the real engine.

    python benchmarks/train_speed.py [--quick] [--device auto] [--models cnn unet ...]

Each model trains two epochs with `python -m tslib train` on small procedural data, once per precision setting:
on a CPU fp32 against bf16 autocast; on a GPU fp32 against AMP (bf16, or fp16 + GradScaler) with channels_last, and
AMP without channels_last. Throughput is training images (crops, for segmentation) per second of the second
epoch (the first pays for cuDNN autotuning and worker start-up; the epoch time includes its validation pass).
Peak memory is the GPU's ``max_memory_allocated`` (not measured on CPU). Ratios are against fp32 of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import platform
import sys
import tempfile
from pathlib import Path

import torch

from tslib.cli import main as tslib
from tslib.data.aerial import write_aerial
from tslib.data.landcover import prepare_landcover
from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural

# name: (task, image size in the notebooks, extra train flags)
MODELS = {
    "cnn": ("classify", 150, []),
    "efficientnet_lite0": ("classify", 224, []),
    "efficientnet_v2_s": ("classify", 224, []),
    "vae": ("generate", 64, []),
    "dcgan": ("generate", 64, ["--conditional"]),
    "unet": ("segment", 256, ["--width", "32"]),
    "smp_unet": ("segment", 256, ["--width", "32", "--pretrained"]),
}


def precisions(device: str) -> dict[str, list[str]]:
    if device.startswith("cuda"):
        return {"fp32": ["--amp", "off", "--no-channels-last"], "amp+channels_last": ["--amp", "auto"],
                "amp": ["--amp", "auto", "--no-channels-last"]}
    return {"fp32": ["--amp", "off"], "bf16": ["--amp", "bf16"]}


def data(root: Path, per_class: int, maps: int) -> dict[str, list[str]]:
    """Train flags pointing each task at procedural data: ``per_class`` images per class and source, ``maps``
    aerial orthophotos of 1024x2048 px (8 tiles each)."""
    paths = write_procedural(root / "landscapes", per_class=per_class)
    prepare(root / "prep", intel=paths["intel"], landscape=paths["landscape"])
    aerial = write_aerial(root / "aerial", n_images=maps, height=1024, width=2048)
    prepare_landcover(aerial, progress=False)
    manifest = str(root / "prep" / "manifest.csv")
    return {"classify": ["--manifest", manifest], "generate": ["--manifest", manifest],
            "segment": ["--landcover", str(aerial)]}


def measure(name: str, flags: list[str], device: str, root: Path, batch: int, workers: int
            ) -> tuple[float, float | None]:
    task, size, extra = MODELS[name]
    run = root / "runs" / f"{name}-{'_'.join(flags).replace('-', '')}"
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    argv = ["train", "--task", task, "--model", name, "--img-size", str(size), "--epochs", "2", "--batch-size",
            str(batch), "--workers", str(workers), "--no-progress", "--device", device, "--out", str(run), *extra,
            *flags]
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # the train command's metric lines: not what is measured here
        rc = tslib(argv + DATA[task])
    if rc != 0:
        raise SystemExit(f"training {name} failed: {' '.join(argv)}\n{log.getvalue()}")
    with open(run / "history.csv") as fh:
        seconds = float(list(csv.DictReader(fh))[-1]["seconds"])
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return seconds, peak


DATA: dict[str, list[str]] = {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="less data, fewer models: minutes on 2 CPU cores")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=None)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--per-class", type=int, default=None, help="procedural images per class and source")
    ap.add_argument("--maps", type=int, default=None, help="procedural aerial maps (8 training-size tiles each)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers (use more on a GPU machine)")
    args = ap.parse_args(argv)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    models = args.models or (["cnn", "vae", "dcgan", "unet"] if args.quick else list(MODELS))
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else None
    print(f"machine: {gpu or platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        DATA.update(data(root, args.per_class or (12 if args.quick else 60), args.maps or (2 if args.quick else 6)))
        print(f"{'model':20s} {'setting':18s} {'s/epoch':>8s} {'vs fp32':>8s} {'peak MiB':>9s}", flush=True)
        for name in models:
            base = None
            for label, flags in precisions(device).items():
                seconds, peak = measure(name, flags, device, root, args.batch_size, args.workers)
                base = base or seconds
                mem = f"{peak:9.0f}" if peak is not None else f"{'n/a':>9s}"
                print(f"{name:20s} {label:18s} {seconds:8.2f} {base / seconds:7.2f}x {mem}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
