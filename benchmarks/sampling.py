"""Sampling speed through ``tslib.tasks.generate.sampling.sample`` (random weights: speed does not depend on them).

    python benchmarks/sampling.py [--quick] [--device cpu] [--n 256] [--ddpm-n 16]

Two parts: images/s of every generator at the notebooks' size (64 px; ddpm at its default 50 DDIM steps with
guidance), then the diffusion model against its sampler options: images/s for ``--steps`` 10, 25, 50 (quick: 5,
10), both samplers (``ddim``, ``dpm`` = DPM-Solver++) and guidance 1 (one network pass per step) against 2 (two
passes: the conditional and the null class), at 32 and 64 px (quick: 32 px, 8 images).
"""

from __future__ import annotations

import argparse
import sys
import time

CLASSES = ["buildings", "desert", "forest", "glacier", "mountain", "sea", "street"]
#: label: GenerateConfig settings beyond the model name.
GENERATORS = {"ae": {}, "vae": {}, "cvae": {}, "dcgan": {}, "dcgan (conditional)": {"conditional": True},
              "projected_gan": {}, "ddpm": {}}
GUIDANCE = (1.0, 2.0)  # 1: the plain conditional model, one pass per step; any other value two passes
SAMPLERS = ("ddim", "dpm")


def build(name: str, img_size: int = 64, device: str = "cpu", **extra):
    """A freshly initialised generator (seed 0) as ``train --task generate`` builds it, and a minimal run info."""
    import torch

    from tslib.models import create_model
    from tslib.tasks.generate.config import GenerateConfig

    cfg = GenerateConfig(manifest="-", model=name, img_size=img_size, **extra)
    torch.manual_seed(0)
    model = create_model(name, task="generate", **cfg.model_kwargs(len(CLASSES))).to(device)
    return model, {"classes": CLASSES, "config": {"model": name}}


def images_per_s(model, info: dict, n: int, **opts) -> float:
    """``n`` images in one timed call after an untimed warm-up (allocator, kernels, scheduler set-up; one
    denoising step is enough to warm an iterative sampler)."""
    from tslib.tasks.generate.sampling import sample

    iterative = "steps" in getattr(model, "sampler_options", ())
    sample(model, info, min(n, 8), seed=0, **({**opts, "steps": 1} if iterative else opts))
    t = time.perf_counter()
    sample(model, info, n, seed=1, **opts)
    return n / (time.perf_counter() - t)


def generators(quick: bool = False, device: str = "cpu", n: int | None = None) -> dict[str, float]:
    """images/s of each generator at 64 px; an iterative sampler (ddpm) with a run's default options, on 1/32 of
    the images (it costs a network pass or two per step)."""
    from tslib.tasks.generate.config import GenerateConfig

    n = n or (64 if quick else 256)
    rates = {}
    for label, extra in GENERATORS.items():
        model, info = build(label.split()[0], 64, device, **extra)
        if getattr(model, "sampler_options", ()):
            d = GenerateConfig(manifest="-", model=label)
            label = f"{label} ({d.sample_steps} {d.sampler} steps, guidance {d.guidance:g})"
            rates[label] = images_per_s(model, info, max(2, n // 32))
        else:
            rates[label] = images_per_s(model, info, n)
    return rates


def ddpm_sweep(quick: bool = False, device: str = "cpu", n: int | None = None) -> list[dict]:
    """images/s of ddpm for every (size, sampler, guidance, steps); each row also gives the seconds per image
    and per image and denoising step, which should stay flat across steps (the cost is the network passes)."""
    n = n or (8 if quick else 16)
    sizes, steps_list = ([32], (5, 10)) if quick else ([32, 64], (10, 25, 50))
    rows = []
    for size in sizes:
        model, info = build("ddpm", size, device)
        for sampler in SAMPLERS:
            for guidance in GUIDANCE:
                for steps in steps_list:
                    rate = images_per_s(model, info, n, steps=steps, guidance=guidance, sampler=sampler)
                    rows.append({"size": size, "sampler": sampler, "guidance": guidance, "steps": steps,
                                 "n": n, "images_per_s": rate, "ms_per_image_step": 1000 / rate / steps})
    return rows


def run(quick: bool = False, device: str = "cpu", n: int | None = None, ddpm_n: int | None = None) -> dict:
    """``{"generators": {label: images/s at 64 px}, "ddpm": [rows of ddpm_sweep]}``."""
    return {"generators": generators(quick, device, n), "ddpm": ddpm_sweep(quick, device, ddpm_n)}


def report(result: dict, indent: str = "") -> None:
    """Print ``run``'s result: one line per generator, then one per ddpm setting."""
    for label, rate in result["generators"].items():
        print(f"{indent}{label:42s} {rate:9.2f} images/s")
    print(f"{indent}ddpm against its sampler options (guidance 1: one network pass per step, 2: two):")
    for r in result["ddpm"]:
        print(f"{indent}  {r['size']:3d} px  {r['sampler']:4s}  guidance {r['guidance']:.0f}  steps {r['steps']:3d}"
              f"  {r['images_per_s']:8.2f} images/s  {r['ms_per_image_step']:6.1f} ms per image-step")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=None, help="images per one-pass generator (default 256; quick 64)")
    ap.add_argument("--ddpm-n", type=int, default=None, help="images per ddpm setting (default 16; quick 8)")
    args = ap.parse_args(argv)
    report(run(args.quick, args.device, args.n, args.ddpm_n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
