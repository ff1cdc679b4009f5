"""What the command line shows of classification: metric lines, and the ``predict`` verb."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def format_metrics(metrics: dict) -> list[str]:
    """One line per evaluated split (accuracy, macro-F1, per-class F1); the headline accuracy last."""
    lines = []
    for split in ("val", "val_tta", "test_tta", "test"):
        if split in metrics:
            m = metrics[split]
            per = "  ".join(f"{c} {v['f1']:.2f}" for c, v in m["per_class"].items())
            lines.append(f"{split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})  F1: {per}")
    last = next((k for k in ("test", "test_tta", "val", "val_tta") if k in metrics), None)
    if last is not None:
        lines.append(f"{last} accuracy: {metrics[last]['accuracy']:.4f}")
    return lines


def _cmd_predict(args: argparse.Namespace) -> int:
    from .prediction import predict

    results = predict(args.run, args.paths, tta=args.tta, device=args.device)
    bad = 0
    for r in results:
        if "error" in r:
            bad += 1
            print(f"{r['path']}\tERROR: {r['error']}")
        else:
            print(f"{r['path']}\t{r['class']}\t{r['prob']:.3f}")
    print(f"{len(results) - bad} predicted, {bad} unreadable", file=sys.stderr)
    return 0 if len(results) > bad else 1


def add_commands(sub) -> None:
    p = sub.add_parser("predict", help="class and probability for image files or folders (classification runs)")
    p.add_argument("--run", required=True, type=Path, help="a finished classification run folder")
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("--tta", action="store_true", help="average with the horizontal flip")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_predict)
