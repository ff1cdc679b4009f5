"""What the command line shows of segmentation: mIoU first on each line, the test mIoU last; the ``segment`` verb
(whole images of any size through a trained run)."""

from __future__ import annotations

import argparse
from pathlib import Path


def format_metrics(metrics: dict) -> list[str]:
    lines, last = [], None
    for split in ("val", "val_tta", "test", "test_tta"):
        m = metrics.get(split)
        if not m:
            continue
        per = "  ".join(f"{c} {v:.3f}" for c, v in m["per_class_iou"].items() if v is not None)
        lines.append(f"{split}: mIoU {m['miou']:.4f}  pixel accuracy {m['pixel_accuracy']:.4f}  IoU: {per}")
        last = f"{split} mIoU: {m['miou']:.4f}"
    return lines + ([last] if last else [])


def _cmd_segment(args: argparse.Namespace) -> int:
    from ...data.imageio import ImageReadError
    from ...errors import check_out_dir
    from ...utils import resolve_device
    from .evaluate import load_segmenter
    from .sliding import segment_file, write_summary

    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such image: {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
    out = check_out_dir(args.out)
    device = resolve_device(args.device)
    model, info = load_segmenter(args.run, str(device))
    out.mkdir(parents=True, exist_ok=True)
    results, unreadable = [], []
    for path in args.images:
        try:
            r = segment_file(model, path, out, info["classes"], info["colours"], alpha=args.alpha,
                             window=args.window, overlap=args.overlap, batch_size=args.batch_size, tta=args.tta,
                             device=device)
        except ImageReadError as e:  # one bad file of many: the others are still segmented (nothing half-written)
            print(f"skipped: {e}")
            unreadable.append(str(e))
            continue
        shares = "  ".join(f"{c} {s:.1%}" for c, s in r["class_share"].items())
        print(f"{path}: {r['width']}x{r['height']} -> {r['files']['colour']}  ({shares})")
        results.append(r)
    if results:
        print(f"summary written to {write_summary(results, out)}")
    if unreadable:
        raise ImageReadError(f"{len(unreadable)} of {len(args.images)} images could not be read: "
                             + "; ".join(unreadable[:2]) + (" ..." if len(unreadable) > 2 else "")
                             + ("; the others were segmented" if results else ""))
    return 0


def _number(cast, low: float, high: float | None = None, closed_high: bool = False):
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value >= low or (high is not None and not (value <= high if closed_high else value < high)):
            bound = f"in [{low}, {high}{']' if closed_high else ')'}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def add_commands(sub) -> None:
    p = sub.add_parser("segment", help="segment whole images of any size with a segmentation run (class PNG, "
                                       "colour PNG, overlay)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (any size)")
    p.add_argument("--run", required=True, type=Path, help="a finished segmentation run folder")
    p.add_argument("--out", required=True, type=Path, help="folder for <name>_classes/_colour/_overlay.png")
    p.add_argument("--window", type=_number(int, 16), default=512, help="window side in pixels (default 512)")
    p.add_argument("--overlap", type=_number(float, 0, 1), default=0.25,
                   help="overlap between windows, fraction of the window (default 0.25)")
    p.add_argument("--batch-size", type=_number(int, 1), default=4, help="windows per forward pass (default 4)")
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped image")
    p.add_argument("--alpha", type=_number(float, 0, 1, closed_high=True), default=0.45,
                   help="opacity of the colours in the overlay (default 0.45)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_segment)
