"""Every generator on the same data, image size and training-time budget, judged the same way: the README's table.

    python benchmarks/generators.py --manifest DIR/manifest.csv --judges LITE0_RUN CNN_RUN --out DIR \
        [--models ae,vae,cvae,dcgan,projected_gan,ddpm] [--img-size 32] [--minutes 3] [--n 140] [--device cpu]

Each model trains with ``max_minutes`` (no epoch starts that would end past the budget) and its own defaults, then
``evaluate_generator`` draws ``--n`` samples and scores them with every judge (FID/KID in Lite0 space; per
classifier run: agreement, FID/KID, precision/recall/density/coverage and duplicates in its own feature space, each
beside the real photos' own). Prints one markdown row per model (scores of the first classifier judge, real
photos' in brackets; training wall time, epochs done, sampling time per image) and writes ``generators.json`` in
``--out``.
A finished model's run folder is reused on a second call (delete it to measure again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

MODELS = ("ae", "vae", "cvae", "dcgan", "projected_gan", "ddpm")
#: Per-model settings beyond the shared ones: the notebooks' choices (GANs conditional, their own lr).
SETTINGS: dict[str, dict] = {"dcgan": {"conditional": True}, "ddpm": {"sample_steps": 25}}


def run_model(model: str, manifest: str, judges: list[str], out: Path, img_size: int, minutes: float, n: int,
              device: str, seed: int = 0) -> dict:
    from tslib.engine import TrainConfig
    from tslib.tasks.generate import (
        GenerateConfig,
        evaluate_generator,
        load_generator,
        sample,
        train_generator,
    )

    run = out / model
    engine = TrainConfig(epochs=1000, batch_size=16, schedule="none", max_minutes=minutes, num_workers=0,
                         progress=False, device=device, seed=seed, lr=None)  # lr None: each model's own
    cfg = GenerateConfig(manifest=manifest, model=model, img_size=img_size, eval_samples=32, train=engine,
                         **SETTINGS.get(model, {}))
    t = time.perf_counter()
    if not (run / "model.pt").is_file():
        train_generator(cfg, run)
    train_s = time.perf_counter() - t
    epochs = len((run / "history.csv").read_text().splitlines()) - 1
    gen, info = load_generator(run, device)
    sample(gen, info, 4, seed=seed)  # warm-up
    t = time.perf_counter()
    sample(gen, info, 16, seed=seed + 1)
    per_image = (time.perf_counter() - t) / 16
    t = time.perf_counter()
    report = evaluate_generator(run, judges, n=n, device=device, seed=seed)
    return {"model": model, "train_s": train_s, "epochs": epochs, "sample_s_per_image": per_image,
            "judge_s": time.perf_counter() - t, "report": report}


def _of(value, possible, fmt: str = "{:.2f}") -> str:
    """A sample score beside what held-out real photos score on the same judge: "0.41 (0.97)"."""
    if value is None:
        return "-"
    return fmt.format(value) + ("" if possible is None else " (" + fmt.format(possible) + ")")


def row(r: dict) -> str:
    """One markdown row, every score beside the real photos' own in brackets (held-out val photos against the
    test photos, on the same judge): agreement of the first classifier judge (or the top class of unconditional
    samples), precision/recall/density/coverage and duplicates in that judge's feature space, FID/KID in Lite0's."""
    rep = r["report"]
    judges = [j for j in rep.get("judges", []) if j.get("run")]
    first = judges[0]
    lite0 = next(j for j in rep["judges"] if j.get("run") is None)
    if first.get("agreement"):
        verdict = _of(first["agreement"]["mean"], first.get("real_agreement"))
    else:
        hist = (first.get("class_histogram") or {}).get("generated") or {}
        top = max(hist, key=hist.get) if hist else None
        verdict = f"{100 * hist[top]:.0f}% {top}" if top else "-"
    mine, real = first.get("prdc") or {}, (first.get("reference") or {}).get("prdc") or {}
    variety = " | ".join(_of(mine.get(k), real.get(k)) for k in ("precision", "recall", "density", "coverage"))
    ref = lite0.get("reference") or {}
    return (f"| {r['model']} | {verdict} | {variety} | "
            f"{_of(first.get('duplicates'), (first.get('reference') or {}).get('duplicates'))} | "
            f"{_of(rep['fid'], ref.get('fid'), '{:.0f}')} | {_of(rep['kid'], ref.get('kid'), '{:.3f}')} | "
            f"{r['train_s'] / 60:.1f} min ({r['epochs']} ep) | {1000 * r['sample_s_per_image']:.0f} ms |")


HEADER = ("| model | agreement (CNN judge) | precision | recall | density | coverage | duplicates | FID (Lite0) "
          "| KID (Lite0) | training | sampling per image |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--judges", nargs="+", required=True, help="classification run folders (first: agreement)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--img-size", type=int, default=32)
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget per model")
    ap.add_argument("--n", type=int, default=140, help="samples (and real test images) per judge")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{args.manifest}: {args.img_size} px, {args.minutes:g} training minutes per model, judges "
          f"{', '.join(args.judges)}\n{HEADER}", flush=True)
    results = []
    for model in models:
        results.append(run_model(model, args.manifest, args.judges, args.out, args.img_size, args.minutes, args.n,
                                 args.device))
        print(row(results[-1]), flush=True)
    (args.out / "generators.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
