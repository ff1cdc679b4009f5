"""How sure the classifier is, measured: calibration before/after temperature scaling, and how well each OOD score
tells landscape photos from images that are not (the README's tables).

    python benchmarks/trust.py --manifest DIR/manifest.csv --out DIR [--model efficientnet_lite0] \
        [--ood-folder FOLDER ...] [--per-kind 30] [--epochs 15] [--device cpu]

Trains (or reuses) a frozen-backbone run on ``--manifest`` through the public API, writes the procedural
non-landscape sets (noise, documents, textures, aerial maps) and scikit-image's bundled non-landscape photographs
(when scikit-image is installed) into ``--out``, runs ``evaluate --ood`` on each (plus any ``--ood-folder``) and
prints one markdown row per set: AUROC of every score and the false-acceptance rate of the run's score at its
threshold; then the calibration table of val and test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--ood-folder", nargs="*", default=[], type=Path, help="more folders of non-landscape images")
    p.add_argument("--per-kind", type=int, default=30)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--limit-per-class", type=int, default=None)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    from tslib.data.not_landscapes import write_not_landscapes, write_skimage_photos
    from tslib.engine import TrainConfig
    from tslib.tasks.classify import ClassifyConfig, evaluate_ood, train_classifier
    from tslib.tasks.classify.ood import SCORES

    run = args.out / f"run-{args.model}"
    t = time.perf_counter()
    if not (run / "model.pt").is_file():
        cfg = ClassifyConfig(manifest=args.manifest, model=args.model, pretrained=args.model != "cnn",
                             freeze=args.model != "cnn", limit_per_class=args.limit_per_class,
                             train=TrainConfig(epochs=args.epochs, batch_size=32, num_workers=0, progress=False,
                                               device=args.device))
        metrics = train_classifier(cfg, run)
    else:
        from tslib.engine.runs import read_metrics

        metrics = read_metrics(run)
    print(f"run {run}: trained/loaded in {time.perf_counter() - t:.0f} s; test accuracy "
          f"{metrics['test']['accuracy']:.3f} (n={metrics['test']['n']})", file=sys.stderr)

    sets = write_not_landscapes(args.out / "not_landscapes", per_kind=args.per_kind, size=192)
    try:
        sets["scikit-image photos (real)"] = write_skimage_photos(args.out / "not_landscapes" / "skimage")
    except RuntimeError as e:
        print(f"skipped: {e}", file=sys.stderr)
    sets |= {str(f): f for f in args.ood_folder}

    print(f"\n| OOD set | n | {' | '.join(f'AUROC {s}' for s in SCORES)} | false acceptance (run's score) |")
    print(f"|---|---|{'---|' * len(SCORES)}---|")
    for name, folder in sets.items():
        r = evaluate_ood(run, folder, device=args.device)
        aucs = " | ".join(f"{r['by_score'][s]['auroc']:.3f}" for s in SCORES)
        print(f"| {name} | {r['n_ood']} | {aucs} | {r['false_acceptance']:.1%} ({r['score']}) |")
    print(f"\nin-distribution: {r['n_id']} {r['id']} photos; threshold: {metrics['val'].get('rejected', 0):.1%} of val "
          "rejected")

    print("\n| split | n | accuracy | temperature | ECE raw | ECE calibrated | NLL raw | NLL calibrated |")
    print("|---|---|---|---|---|---|---|---|")
    for split in ("val", "test"):
        m = metrics[split]
        c = m["calibration"]
        print(f"| {split} | {m['n']} | {m['accuracy']:.3f} | {c['temperature']:.3f} | {c['ece_uncalibrated']:.3f} | "
              f"{c['ece']:.3f} | {c['nll_uncalibrated']:.3f} | {c['nll']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
