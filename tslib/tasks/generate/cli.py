"""What the command line shows of generation: metric lines, and the ``generate`` and ``evaluate-generator`` verbs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...cli.args import positive_int
from .config import SAMPLERS


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
        check_sampler_options,
        class_labels,
        interpolate,
        interpolate_seeds,
        load_generator,
        load_images,
        reconstruct,
        sample,
        save_images,
    )

    model, info = load_generator(args.run, args.device)
    size = info["img_size"]
    opts = {"steps": args.steps, "guidance": args.guidance, "sampler": args.sampler}
    if args.reconstruct:
        check_sampler_options(model, opts)
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
        seeds = _as_seeds(args.interpolate)
        if seeds is not None:  # two seeds: any generator, along the great circle between their prior draws
            strip = interpolate_seeds(model, info, *seeds, args.frames, args.class_name, args.temperature, **opts)
        else:
            check_sampler_options(model, opts)
            a, b = load_images(args.interpolate, size)
            label = None
            if model.conditional:
                label = int(class_labels(info, 1, args.class_name)[0]) if args.class_name else 0
            strip = interpolate(model, a, b, args.frames, label)
        paths = save_images(strip, args.out, "interpolation", nrow=args.frames)
    else:
        images, _ = sample(model, info, args.n, args.class_name, args.seed, args.temperature, progress=True, **opts)
        paths = save_images(images, args.out, "sample")
    print(f"wrote {len(paths) - 1} images and {paths[-1]}")
    return 0


def _as_seeds(values: list[Path]) -> tuple[int, int] | None:
    """``--interpolate A B`` names two seeds when both are integers and neither is a file."""
    try:
        seeds = tuple(int(str(v)) for v in values)
    except ValueError:
        return None
    return None if any(Path(v).exists() for v in values) else seeds


def format_judges(out: dict) -> list[str]:
    """One line per judge of ``gen_metrics``: feature space, FID/KID, agreement, and whether it is independent of
    the generator (a judge looking through the features a generator trained against can be pleased without the
    images looking right)."""
    against = ", ".join(out.get("trained_against") or []) or "no pretrained feature network"
    lines = [f"judges (the generator trained against {against}; FIDs in different feature spaces are not "
             "comparable):"]
    for j in out.get("judges", []):
        ref = j.get("reference") or {}
        agree = j.get("agreement")
        agree_text = (f"  agreement {agree['mean']:.2f} of a possible {j['real_agreement']:.2f}" if agree else "")
        verdict = "independent" if j["independent"] else "NOT independent"
        lines.append(f"  {j['name']}: FID {j['fid']:.2f} (real photos {_num(ref.get('fid'), '.2f')})  "
                     f"KID {j['kid']:.4f} +- {j['kid_std']:.4f}{agree_text}  [{verdict}: {j['why']}]")
        if j.get("prdc") is not None or j.get("duplicates") is not None:
            scores = "  ".join(f"{k} {_num((j.get('prdc') or {}).get(k), '.2f')} of "
                               f"{_num((ref.get('prdc') or {}).get(k), '.2f')}"
                               for k in ("precision", "recall", "density", "coverage"))
            lines.append(f"      {scores}  duplicates {_num(j.get('duplicates'), '.0%')} "
                         f"(real photos {_num(ref.get('duplicates'), '.0%')})")
    return lines


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _cmd_evaluate_generator(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_generator

    # Only the options given are passed on: a generator whose sampler has none keeps working.
    sampler = {k: v for k, v in (("steps", args.steps), ("guidance", args.guidance), ("sampler", args.sampler))
               if v is not None}
    out = evaluate_generator(args.run, args.classifier, n=args.n, device=args.device, inception=args.inception,
                             seed=args.seed, sampler=sampler)
    hidden = ("agreement_confusion", "judges")
    print(json.dumps({k: v for k, v in out.items() if k not in hidden}, indent=2))
    print("\n".join(format_judges(out)))
    print(f"written to {Path(args.run) / 'gen_metrics.json'}")
    return 0


MAX_SAMPLES = 10_000  # PNGs written per command; more is a loop over --seed


_positive = positive_int


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


def _frames(text: str) -> int:
    value = int(text)
    if not 2 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be 2..256, got {value}")
    return value


def _guidance(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 50:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number in 0..50, got {text}")
    return value


def _add_sampler_options(p: argparse.ArgumentParser) -> None:
    """How a diffusion model samples (``generate`` and ``evaluate-generator`` alike); None: the run's own."""
    p.add_argument("--steps", type=_positive, default=None,
                   help="ddpm: denoising steps (default: the run's, 50; fewer is faster)")
    p.add_argument("--guidance", type=_guidance, default=None,
                   help="ddpm: classifier-free guidance weight (default: the run's; 1 = plain conditional)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None,
                   help="ddpm: ddim | dpm (DPM-Solver++) (default: the run's)")


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
    p.add_argument("--interpolate", nargs=2, type=Path, metavar=("A", "B"),
                   help="interpolation strip between two seeds (any generator) or two images (autoencoders)")
    p.add_argument("--frames", type=_frames, default=8, help="images in the interpolation strip (default 8)")
    _add_sampler_options(p)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("evaluate-generator", help="FID/KID and classifier agreement of a generator run")
    p.add_argument("--run", required=True, type=Path, help="a finished generator run folder")
    p.add_argument("--classifier", required=True, type=Path, nargs="+", metavar="RUN",
                   help="finished classification run folders, each a judge (agreement, FID/KID in its own feature "
                        "space); the first gives the headline agreement. Add one of another architecture than the "
                        "features the generator trained against (e.g. a cnn run) for an independent judge")
    p.add_argument("--n", type=_positive, default=500, help="generated and real test images (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples judged (default 0)")
    _add_sampler_options(p)
    p.add_argument("--inception", action="store_true", help="also the standard Inception FID (needs a download)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_evaluate_generator)
