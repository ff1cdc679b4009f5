"""Sampling speed: images/second of each generator at the notebooks' size (64 px), through
``tslib.tasks.generate.sampling.sample`` (random weights: speed does not depend on them).

    python benchmarks/sampling.py [--quick] [--device cpu] [--n 256]
"""

from __future__ import annotations

import argparse
import sys
import time

GENERATORS = {"ae": {}, "vae": {}, "cvae": {}, "dcgan": {}, "dcgan (conditional)": {"conditional": True}}


def run(quick: bool = False, device: str = "cpu", n: int | None = None) -> dict[str, float]:
    import torch

    from tslib.models import create_model
    from tslib.tasks.generate.config import GenerateConfig
    from tslib.tasks.generate.sampling import sample

    n = n or (64 if quick else 256)
    classes = ["buildings", "desert", "forest", "glacier", "mountain", "sea", "street"]
    rates = {}
    for label, extra in GENERATORS.items():
        name = label.split()[0]
        cfg = GenerateConfig(manifest="-", model=name, **extra)
        torch.manual_seed(0)
        model = create_model(name, task="generate", **cfg.model_kwargs(len(classes))).to(device)
        info = {"classes": classes, "config": {"model": name}}
        sample(model, info, 8, seed=0)  # warm-up (allocator, kernels)
        t = time.perf_counter()
        sample(model, info, n, seed=1)
        rates[label] = n / (time.perf_counter() - t)
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=None)
    args = ap.parse_args(argv)
    for label, rate in run(args.quick, args.device, args.n).items():
        print(f"{label:22s} {rate:9.0f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
