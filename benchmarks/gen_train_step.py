"""Training speed of every generator: steps/s and images/s at 32 and 64 px, batch 16 (the generators' default).

    python benchmarks/gen_train_step.py [--quick] [--device cpu] [--models ae ddpm ...] [--sizes 32 64] [--steps 4]

Reuses ``train_step``'s machinery: each (model, size) runs in a fresh process where the real engine
(``tslib.engine.fit``) and the task ``train --task generate`` builds (``make_task``: the GANs' two optimizers,
diffusion's noise-prediction step with its EMA update, reconstruction + KL) train two epochs on in-memory random
batches; the second epoch is timed (it includes one validation batch, so the rates err low). The engine's default
precision for the device (fp32 on a CPU, AMP on a GPU); peak memory as in ``train_step``.
"""

from __future__ import annotations

import argparse
import platform
import sys

import train_step  # a sibling module (benchmarks/ is on sys.path when run as a script or from run.py)

MODELS = ("ae", "vae", "cvae", "dcgan", "projected_gan", "ddpm")
BATCH = 16  # GenerateConfig's engine default for generators


def run(quick: bool = False, device: str = "cpu", models: list[str] | None = None,
        sizes: list[int] | None = None, steps: int | None = None, budget: float | None = None) -> list[dict]:
    """One row per (model, size): steps/s, images/s and peak MiB (None for a run stopped after ``budget`` s)."""
    models, sizes = models or list(MODELS), sizes or [32, 64]
    steps = steps or (2 if quick else 6)
    budget = budget or (60 if quick else 300)
    amp = "off" if device == "cpu" else "auto"
    rows = []
    for size in sizes:
        for name in models:
            r = train_step.measure(name, device, steps, amp, False, quick, budget, ("generate", size, BATCH))
            row = {"model": name, "size": size, "batch": BATCH, "steps_per_s": None, "images_per_s": None,
                   "peak_mib": None}
            if r is None:
                print(f"{name:14s} {size:4d} px  stopped after {budget:.0f} s", flush=True)
            else:
                row |= {"images_per_s": r["images_per_s"], "steps_per_s": r["images_per_s"] / BATCH,
                        "peak_mib": r["peak_mib"]}
                print(f"{name:14s} {size:4d} px  {row['steps_per_s']:7.2f} steps/s {row['images_per_s']:8.1f} "
                      f"images/s  peak {row['peak_mib']:6.0f} MiB", flush=True)
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 steps per epoch, 60 s per run at most")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=None)
    ap.add_argument("--sizes", nargs="+", type=int, default=None, help="image sizes (default 32 64)")
    ap.add_argument("--steps", type=int, default=None, help="training steps per epoch (default 6; 2 with --quick)")
    ap.add_argument("--budget", type=float, default=None, help="seconds per run before it is stopped")
    args = ap.parse_args(argv)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {device}")
    run(args.quick, device, args.models, args.sizes, args.steps, args.budget)
    return 0


if __name__ == "__main__":
    sys.exit(main())
