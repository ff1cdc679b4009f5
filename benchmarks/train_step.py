"""Training-step throughput and peak memory of every model at the notebooks' sizes, fp32 against bf16 autocast.

    python benchmarks/train_step.py [--quick] [--device cpu] [--models cnn vae ...] [--steps 8]

Each (model, precision) runs in its own process: the real engine (``tslib.engine.fit``) and the model's own task
(the GAN's two optimizers included) train two epochs on in-memory random batches, so what is timed is the
training step itself, not decoding. Throughput: images (crops, for segmentation) per second of the second epoch;
peak memory: the process's maximum resident set (CPU) or ``torch.cuda.max_memory_allocated`` (GPU). On a GPU
the settings are fp32, AMP + channels_last and AMP without it; on a CPU fp32 and bf16 autocast.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys

from memory import RSS_SOURCE  # a sibling module (benchmarks/ is on sys.path)

# name: (task, image size in the notebooks, batch size)
MODELS = {
    "cnn": ("classify", 150, 32),
    "efficientnet_lite0": ("classify", 224, 32),
    "efficientnet_v2_s": ("classify", 224, 16),
    "vae": ("generate", 64, 64),
    "dcgan": ("generate", 64, 64),
    "unet": ("segment", 256, 8),
}

CHILD = RSS_SOURCE + r'''
import json, sys, tempfile, time
import torch
from tslib.data.loaders import make_loader
from tslib.engine import TrainConfig, fit
from tslib.models import create_model

name, task, size, batch, steps, amp, device, channels_last = sys.argv[1:9]
size, batch, steps = int(size), int(batch), int(steps)
torch.manual_seed(0)
if task == "classify":
    from tslib.tasks.classify.task import ClassificationTask
    model, t = create_model(name, num_classes=7), ClassificationTask()
    make = lambda g: {"image": torch.randn(3, size, size, generator=g), "label": torch.randint(0, 7, (), generator=g)}
elif task == "generate":
    from tslib.tasks.generate.config import GenerateConfig
    from tslib.tasks.generate.train import make_task
    cfg = GenerateConfig(manifest="-", model=name, conditional=name == "dcgan", img_size=size)
    model = create_model(name, task="generate", **cfg.model_kwargs(7))
    t = make_task(cfg)  # the task `train --task generate` uses: GAN, diffusion or reconstruction
    make = lambda g: {"image": torch.rand(3, size, size, generator=g), "label": torch.randint(0, 7, (), generator=g)}
else:
    from tslib.tasks.segment.task import SegmentationTask
    model = create_model(name, task="segment", num_classes=5, depth=4, width=32)
    t = SegmentationTask(["background", "building", "woodland", "water", "road"])
    make = lambda g: {"image": torch.randn(3, size, size, generator=g),  # noqa: E731
                      "mask": torch.randint(0, 5, (size, size), generator=g)}

class Batches(torch.utils.data.Dataset):  # samples made once: the step is measured, not data loading
    def __init__(self, n):
        g = torch.Generator().manual_seed(1)
        self.items = [make(g) for _ in range(n)]
    def __len__(self):
        return len(self.items)
    def __getitem__(self, i):
        return self.items[i]

train, val = Batches(batch * steps), Batches(batch)
cfg = TrainConfig(epochs=2, batch_size=batch, device=device, amp=amp, channels_last=channels_last == "1",
                  num_workers=0, progress=False)
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
with tempfile.TemporaryDirectory() as run:
    result = fit(model, t, make_loader(train, batch, train=True), make_loader(val, batch), cfg, run)
seconds = result.history[-1]["seconds"]
peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
        else rss_mib("VmHWM"))
# the epoch's seconds include one validation batch: images/s errs on the low side
print(json.dumps({"images_per_s": batch * steps / seconds, "peak_mib": peak}))
'''


def settings(device: str) -> dict[str, tuple[str, bool]]:
    if device.startswith("cuda"):
        return {"fp32": ("off", False), "amp+channels_last": ("auto", True), "amp": ("auto", False)}
    return {"fp32": ("off", False), "bf16": ("bf16", False)}


def measure(name: str, device: str, steps: int, amp: str, channels_last: bool, quick: bool = False,
            budget: float | None = None, shape: tuple[str, int, int] | None = None) -> dict | None:
    """One (model, setting) in a fresh process; None when it runs past ``budget`` seconds (stopped). ``shape``:
    (task, image size, batch) for a model or size outside ``MODELS``, used as given (no --quick shrinking)."""
    if shape is not None:
        task, size, batch = shape
    else:
        task, size, batch = MODELS[name]
        batch = max(4, batch // 4) if quick else batch  # bf16 on a CPU without bf16 units is slow: keep --quick short
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, name, task, str(size), str(batch), str(steps), amp,
                              device, str(int(channels_last))], capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        raise SystemExit(f"{name} ({amp}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False, device: str = "cpu", models: list[str] | None = None, steps: int | None = None,
        budget: float | None = None) -> list:
    """Rows of (model, setting, images/s, ratio to fp32, peak MiB); images/s is None for a setting stopped after
    ``budget`` seconds (default: 90 s with --quick, 300 s otherwise; bf16 on a CPU without bf16 units crawls)."""
    # quick: the small models (a CPU without bf16 units runs the UNet's bf16 steps at ~0.05 images/s)
    models = models or (["cnn", "vae", "dcgan"] if quick else list(MODELS))
    budget = budget or (90 if quick else 300)
    rows = []
    for name in models:
        base = None
        for label, (amp, cl) in settings(device).items():
            r = measure(name, device, steps or (2 if quick else 4), amp, cl, quick, budget)
            if r is None:
                rows.append((name, label, None, None, None))
                print(f"{name:20s} {label:18s} stopped after {budget:.0f} s (slower than the budget allows)",
                      flush=True)
                continue
            base = base or r["images_per_s"]
            rows.append((name, label, r["images_per_s"], r["images_per_s"] / base, r["peak_mib"]))
            print(f"{name:20s} {label:18s} {r['images_per_s']:9.1f} img/s {r['images_per_s'] / base:6.2f}x "
                  f"{r['peak_mib']:8.0f} MiB", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=None)
    ap.add_argument("--steps", type=int, default=None, help="training steps per epoch (default 4; 2 with --quick)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per (model, setting) before it is stopped (default 300; 90 with --quick)")
    args = ap.parse_args(argv)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {device}")
    run(args.quick, device, args.models, args.steps, args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
