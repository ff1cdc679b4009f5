"""What the command line shows of generation: metric lines, and the ``generate`` and ``evaluate-generator`` verbs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def format_metrics(metrics: dict) -> list[str]:
    """One line per split; the headline (reconstruction MSE, or FID) last."""
    lines, last = [], None
    for split in ("val", "test"):
        m = metrics.get(split)
        if not m:
            continue
        if "recon_mse" in m:
            lines.append(f"{split}: recon MSE/pixel {m['recon_mse']:.5f}  recon sum/image {m['recon_sum']:.1f}  "
                         f"PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}  (n={m['n']})")
            last = f"{split} reconstruction MSE: {m['recon_mse']:.5f}"
        else:
            lines.append(f"{split}: FID ({m['feature_space']}) {m['fid']:.2f}  KID {m['kid']:.4f} "
                         f"+- {m['kid_std']:.4f}  (n={m['n']})")
            last = f"{split} FID ({m['feature_space']}): {m['fid']:.2f}"
    return lines + ([last] if last else [])


def _cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from .sampling import (
        class_labels,
        interpolate,
        load_generator,
        load_images,
        reconstruct,
        sample,
        save_images,
    )

    model, info = load_generator(args.run, args.device)
    size = info["img_size"]
    if args.reconstruct:
        images = load_images(args.reconstruct, size)
        labels = None
        if model.conditional:
            if args.class_name is None:
                raise ValueError("a conditional model reconstructs with a class: add --class NAME")
            labels = class_labels(info, len(images), args.class_name)
        recons = reconstruct(model, images, labels)
        names = [f"{Path(p).stem}_recon" for p in args.reconstruct]
        paths = save_images(recons, args.out, "reconstruction", names=names)
        pairs = torch.stack([images, recons], 1).flatten(0, 1)  # original, reconstruction: two grid columns
        save_images(pairs, args.out, "reconstruction_pairs", nrow=2)
    elif args.interpolate:
        a, b = load_images(args.interpolate, size)
        label = None
        if model.conditional:
            label = int(class_labels(info, 1, args.class_name)[0]) if args.class_name else 0
        paths = save_images(interpolate(model, a, b, args.steps, label), args.out, "interpolation", nrow=args.steps)
    else:
        images, _ = sample(model, info, args.n, args.class_name, args.seed, args.temperature)
        paths = save_images(images, args.out, "sample")
    print(f"wrote {len(paths) - 1} images and {paths[-1]}")
    return 0


def _cmd_evaluate_generator(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_generator

    out = evaluate_generator(args.run, args.classifier, n=args.n, device=args.device, inception=args.inception)
    print(json.dumps({k: v for k, v in out.items() if k != "agreement_confusion"}, indent=2))
    print(f"written to {Path(args.run) / 'gen_metrics.json'}")
    return 0


MAX_SAMPLES = 10_000  # PNGs written per command; more is a loop over --seed


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _samples(text: str) -> int:
    value = _positive(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"at most {MAX_SAMPLES} per command, got {value} (run it again with "
                                         "another --seed for more)")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_commands(sub) -> None:
    p = sub.add_parser("generate", help="sample images from a generator run (PNGs + grid), reconstruct or "
                                        "interpolate")
    p.add_argument("--run", required=True, type=Path, help="a finished generator run folder")
    p.add_argument("--out", required=True, type=Path, help="folder for the PNG files and the grid")
    p.add_argument("--n", type=_samples, default=64, help=f"samples (default 64, at most {MAX_SAMPLES})")
    p.add_argument("--class", dest="class_name", default=None, help="class to sample (conditional models)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same images")
    p.add_argument("--temperature", type=_positive_float, default=1.0, help="spread of the latent draw (default 1)")
    p.add_argument("--reconstruct", nargs="+", type=Path, metavar="PATH", help="encode and decode these images")
    p.add_argument("--interpolate", nargs=2, type=Path, metavar=("A", "B"), help="latent interpolation strip")
    p.add_argument("--steps", type=_positive, default=8, help="images in the interpolation strip (default 8)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("evaluate-generator", help="FID/KID and classifier agreement of a generator run")
    p.add_argument("--run", required=True, type=Path, help="a finished generator run folder")
    p.add_argument("--classifier", required=True, type=Path, help="a finished classification run folder")
    p.add_argument("--n", type=_positive, default=500, help="generated and real test images (default 500)")
    p.add_argument("--inception", action="store_true", help="also the standard Inception FID (needs a download)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_evaluate_generator)
