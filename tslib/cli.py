"""``python -m tslib <command>``: the scriptable entry points (each one a thin wrapper over the library)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_synth(args: argparse.Namespace) -> int:
    from .workspace import PROCEDURAL_TAG, write_procedural

    paths = write_procedural(args.out, per_class=args.per_class, size=args.size, seed=args.seed)
    print(f"{PROCEDURAL_TAG}: wrote {paths['intel']} and {paths['landscape']}")
    print(f"next: python -m tslib prepare --intel {paths['intel']} --landscape {paths['landscape']} --out DIR")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from .prepare import format_report, prepare

    result = prepare(args.out, intel=args.intel, landscape=args.landscape, seed=args.seed,
                     official_test=args.official_test, progress=not args.quiet)
    print(format_report(result.report))
    print(f"wrote {result.manifest} and {Path(args.out) / 'report.json'}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .download import NO_CREDENTIALS, download, find_credentials
    from .workspace import data_root

    out = data_root(args.out)
    if find_credentials() is None:
        print(NO_CREDENTIALS)
        return 0 if args.allow_missing else 2
    for name in args.datasets:
        print(f"{name}: {download(name, out, force=args.force)}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from .notebooks import run_notebooks

    results = run_notebooks(args.out, smoke=args.smoke, data=args.data, only=args.only or None)
    failed = [r["notebook"] for r in results if r["error"]]
    print(f"executed notebooks and figures are in {args.out}" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from .classify import ClassifyConfig, TrainingInterrupted, train_classifier

    if args.resume:
        run = Path(args.resume)
        info_path = run / "run.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{info_path} not found: --resume needs the folder of an earlier run")
        cfg = ClassifyConfig(**json.loads(info_path.read_text())["config"])
        resume = True
    else:
        if args.manifest is None or args.out is None:
            raise ValueError("train needs --manifest and --out (or --resume RUN)")
        if args.task != "classify":
            raise ValueError(f"--task {args.task!r} is not available yet; valid: classify")
        cfg = ClassifyConfig(
            manifest=str(args.manifest), model=args.model, pretrained=args.pretrained, freeze=args.freeze,
            weights_path=args.weights, epochs=args.epochs, unfreeze_after=args.unfreeze_after, img_size=args.img_size,
            batch_size=args.batch_size, lr=args.lr, limit_per_class=args.limit_per_class,
            feature_cache=not args.no_cache, cache_views=args.cache_views, tta=args.tta, seed=args.seed,
            device=args.device, num_workers=args.workers, patience=args.patience,
        )
        run, resume = args.out, False
    try:
        metrics = train_classifier(cfg, run, resume=resume)
    except KeyboardInterrupt as e:  # Ctrl-C outside an epoch (e.g. while caching features)
        raise TrainingInterrupted(f"continue with `python -m tslib train --resume {run}`") from e
    _print_metrics(metrics, run)
    return 0


def _print_metrics(metrics: dict, run) -> None:
    for split in ("val", "val_tta", "test_tta", "test"):
        if split in metrics:
            m = metrics[split]
            per = "  ".join(f"{c} {v['f1']:.2f}" for c, v in m["per_class"].items())
            print(f"{split}: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})  F1: {per}")
    print(f"metrics written to {Path(run) / 'metrics.json'}")
    last = next(k for k in ("test", "test_tta", "val", "val_tta") if k in metrics)
    print(f"{last} accuracy: {metrics[last]['accuracy']:.4f}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .classify import evaluate_run

    metrics = evaluate_run(args.run, splits=args.split, tta=args.tta or None, device=args.device)
    wanted = set(args.split) | {f"{s}_tta" for s in args.split}
    _print_metrics({k: v for k, v in metrics.items() if k in wanted}, args.run)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .predict import predict

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tslib", description="TerraSculpt landscape toolkit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write the procedural landscape dataset in both Kaggle layouts")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--per-class", type=int, default=60, help="images per class per source (default 60)")
    p.add_argument("--size", type=int, default=None, help="image size (default: 150 Intel, 224 Landscape)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("prepare", help="index, deduplicate and split the datasets into DIR/manifest.csv")
    p.add_argument("--intel", type=Path, help="Intel Image Classification folder (download folder or above)")
    p.add_argument("--landscape", type=Path, help="Landscape Recognition folder (download folder or above)")
    p.add_argument("--out", required=True, type=Path, help="output folder for manifest.csv and report.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--official-test", action="store_true",
                   help="keep Intel seg_test and Landscape 'Testing Data' as the test split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("download", help="download the Kaggle datasets into $TSLIB_DATA (needs credentials)")
    p.add_argument("--out", type=Path, default=None, help="data root (default $TSLIB_DATA or ./data)")
    p.add_argument("--datasets", nargs="+", default=["intel", "landscape"], choices=["intel", "landscape"])
    p.add_argument("--force", action="store_true")
    p.add_argument("--allow-missing", action="store_true", help="exit 0 when there are no credentials")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("notebooks", help="the main job: execute the notebook series into a runs folder")
    p.add_argument("--out", type=Path, default=Path("runs/notebooks"))
    p.add_argument("--smoke", action="store_true", help="tiny settings (seconds per notebook), as CI runs them")
    p.add_argument("--data", type=Path, default=None, help="data root (default $TSLIB_DATA or ./data)")
    p.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 02")
    p.set_defaults(func=_cmd_notebooks)

    p = sub.add_parser("train", help="train and evaluate a classifier; prints the test accuracy last")
    p.add_argument("--task", default="classify", help="classify")
    p.add_argument("--manifest", type=Path, help="DIR/manifest.csv from `prepare` (or DIR)")
    p.add_argument("--out", type=Path, help="run folder")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue an interrupted run from RUN/last.pt")
    p.add_argument("--model", default="cnn", help="a name from tslib.models.list_models()")
    p.add_argument("--pretrained", action="store_true", help="ImageNet weights (opt-in; never downloaded otherwise)")
    p.add_argument("--weights", default=None, help="local weights file for --pretrained (offline)")
    p.add_argument("--freeze", action="store_true", help="freeze the backbone, train the MLP head (the study)")
    p.add_argument("--unfreeze-after", type=int, default=None, metavar="N",
                   help="after N head epochs, fine-tune the last backbone stages at a lower lr")
    p.add_argument("--no-cache", action="store_true", help="recompute frozen features every epoch")
    p.add_argument("--cache-views", type=int, default=1, metavar="K", help="cached views per image (1 clean + K-1 augmented)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--img-size", type=int, default=None, help="default: the model's own input size")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit-per-class", type=int, default=None, metavar="K", help="train/val images per class")
    p.add_argument("--patience", type=int, default=None, help="early stopping patience (epochs)")
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation in evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="re-evaluate a run's model on manifest splits")
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--split", nargs="+", default=["test"], choices=["train", "val", "test"])
    p.add_argument("--tta", action="store_true")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="class and probability for image files or folders")
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--tta", action="store_true")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .classify import TrainingInterrupted
    from .imageio import ImageReadError
    from .sources import DatasetNotFoundError

    try:
        return args.func(args)
    except TrainingInterrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    except (DatasetNotFoundError, FileNotFoundError, ImageReadError, ValueError) as e:
        # Expected user errors: one clear line, no traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2
