"""What the command line shows of classification: metric lines, and the ``predict`` verb."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...cli.args import positive_int

#: ``explain.METHODS``' names, spelled out so that parsing arguments does not import grad-cam (a test checks)
CAM_METHODS = ("gradcam", "gradcam++")


def format_metrics(metrics: dict) -> list[str]:
    """One line per evaluated split (accuracy, macro-F1, per-class F1), its calibration and OOD lines; the headline
    accuracy last."""
    lines = []
    for split in ("val", "val_tta", "test_tta", "test"):
        if split in metrics:
            m = metrics[split]
            per = "  ".join(f"{c} {v['f1']:.2f}" for c, v in m["per_class"].items())
            lines.append(f"{split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})  "
                         f"F1: {per}")
            cal = m.get("calibration")
            if cal and not split.endswith("_tta"):
                rejected = f"; {m['rejected']:.1%} marked uncertain" if "rejected" in m else ""
                lines.append(f"{split} calibration: ECE {cal['ece_uncalibrated']:.4f} -> {cal['ece']:.4f}, NLL "
                             f"{cal['nll_uncalibrated']:.4f} -> {cal['nll']:.4f} (temperature {cal['temperature']:.3f})"
                             f"{rejected}")
    ood = metrics.get("ood")
    if ood:
        others = "  ".join(f"{k} {v['auroc']:.3f}" for k, v in ood.get("by_score", {}).items())
        lines.append(f"ood ({ood['folder']}, {ood['n_ood']} images vs {ood['n_id']} {ood['id']} photos): AUROC "
                     f"{ood['auroc']:.4f}, false acceptance {ood['false_acceptance']:.1%} at the threshold "
                     f"(score {ood['score']}; AUROC by score: {others})")
    last = next((k for k in ("test", "test_tta", "val", "val_tta") if k in metrics), None)
    if last is not None:
        lines.append(f"{last} accuracy: {metrics[last]['accuracy']:.4f}")
    return lines


def _cmd_predict(args: argparse.Namespace) -> int:
    from ...errors import check_out_dir
    from .prediction import predict
    from .trust import load_trusted

    if args.explain and args.out is None:
        raise ValueError("--explain writes one heat-map image per input: give --out DIR")
    out = check_out_dir(args.out) if args.out is not None else None
    trusted, info = load_trusted(args.run, args.device, calibrate=args.calibrate, reject=args.reject)
    results = predict(trusted, args.paths, tta=args.tta, device=args.device, info=info, top_k=args.top_k)
    bad = uncertain = 0
    for r in results:
        if "error" in r:
            bad += 1
            print(f"{r['path']}\tERROR: {r['error']}")
            continue
        line = f"{r['path']}\t{r['class']}\t{r['prob']:.3f}"
        if args.top_k > 1:
            line += "\t" + " ".join(f"{c}:{p:.3f}" for c, p in r["top"][1:])
        if r.get("uncertain"):
            uncertain += 1
            line += (f"\tuncertain: unlike the training photos ({trusted.score_name} score {r['score']:.3f} < "
                     f"{trusted.threshold:.3f})")
        print(line)
    if args.explain and len(results) > bad:
        from .explain import write_explanations

        written = write_explanations(trusted.model, info, results, out, method=args.cam, device=args.device)
        print(f"{len(written)} {args.cam} overlays written to {out}", file=sys.stderr)
    marked = f" ({uncertain} uncertain)" if trusted.threshold is not None else " (no OOD threshold: none rejected)"
    print(f"{len(results) - bad} predicted{marked}, {bad} unreadable", file=sys.stderr)
    return 0 if len(results) > bad else 1


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="class and probability for image files or folders (classification runs)")
    p.add_argument("--run", required=True, type=Path, help="a finished classification run folder")
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("--tta", action="store_true", help="average with the horizontal flip")
    p.add_argument("--top-k", type=positive_int, default=1, metavar="K",
                   help="also print the next K-1 classes")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                   help="raw softmax probabilities instead of the run's fitted temperature")
    p.add_argument("--no-reject", dest="reject", action="store_false",
                   help="never mark a photo uncertain (ignore the run's OOD threshold)")
    p.add_argument("--explain", action="store_true", help="write a class-activation overlay per image into --out")
    p.add_argument("--cam", default="gradcam", choices=CAM_METHODS, help="explanation method with --explain")
    p.add_argument("--out", type=Path, default=None, help="folder for the --explain overlays")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_predict)
