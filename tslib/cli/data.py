"""Data and main-job verbs: ``synth``, ``prepare``, ``download``, ``notebooks``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .args import add_deprecated


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _cmd_synth(args: argparse.Namespace) -> int:
    from ..data.workspace import PROCEDURAL_TAG, write_procedural

    if args.aerial:
        from ..data.aerial import write_aerial

        side = args.size or 2048
        root = write_aerial(args.out, n_images=args.maps, height=side, width=side, seed=args.seed,
                            difficulty="easy" if args.easy else None)
        print(f"PROCEDURAL aerial maps in the Landcover.ai layout: wrote {root}")
        print(f"next: python -m tslib prepare-landcover --data {root}")
        return 0

    paths = write_procedural(args.out, per_class=args.per_class, size=args.size, seed=args.seed,
                             difficulty="easy" if args.easy else None)
    print(f"{PROCEDURAL_TAG}: wrote {paths['intel']} and {paths['landscape']}")
    print(f"next: python -m tslib prepare --intel {paths['intel']} --landscape {paths['landscape']} --out DIR")
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from ..data.prepare import format_report, prepare

    result = prepare(args.out, intel=args.intel, landscape=args.landscape, seed=args.seed,
                     official_test=args.official_test, progress=not args.quiet)
    print(format_report(result.report))
    print(f"wrote {result.manifest} and {Path(args.out) / 'report.json'}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from ..data.download import NO_CREDENTIALS, MissingCredentialsError, download, find_credentials
    from ..data.workspace import data_root
    from ..errors import check_out_dir

    out = check_out_dir(data_root(args.data), "--data")
    if "landcover" in args.datasets:  # a public zip: no credentials needed
        from ..data.landcover import download_landcover

        print(f"landcover: {download_landcover(out)}")
    kaggle = [d for d in args.datasets if d != "landcover"]
    if kaggle and find_credentials() is None:
        if not args.allow_missing:
            raise MissingCredentialsError(NO_CREDENTIALS.split("; skipping")[0] + "; or pass --allow-missing to go "
                                          "on without them (the main job then uses the PROCEDURAL dataset)")
        print(f"note: {NO_CREDENTIALS}", file=sys.stderr)
        return 0
    for name in kaggle:
        print(f"{name}: {download(name, out, force=args.force)}")
    return 0


def _cmd_prepare_landcover(args: argparse.Namespace) -> int:
    from ..data.landcover import prepare_landcover

    if args.data is None:
        raise ValueError("prepare-landcover needs --data DIR, the Landcover.ai folder (images/, masks/, *.txt)")
    report = prepare_landcover(args.data, progress=not args.quiet)
    print(f"tiles written {report['written']}, already there {report['skipped_existing']}, in {report['root']}/output")
    for name, counts in report["splits"].items():
        print(f"{name}: {counts['tiles']} of {counts['listed']} listed tiles present")
    for problem in report["unreadable"]:
        print(f"skipped: {problem}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from ..notebooks import run_notebooks

    params = {}
    for item in args.set or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE, e.g. --set EPOCHS=3")
        params[name.strip()] = value
    results = run_notebooks(args.out, smoke=args.smoke, data=args.data, only=args.only or None, params=params)
    failed = [r for r in results if r["error"]]
    print(f"executed notebooks and figures are in {args.out}")
    if failed:
        raise RuntimeError(f"{failed[0]['notebook']} failed in {failed[0]['error']} (the series stopped there; "
                           f"the executed notebook with its traceback is in {args.out})")
    return 0


def add_notebooks_command(sub) -> None:
    """The main job, listed first."""
    p = sub.add_parser("notebooks", help="the main job: execute the notebook series (executed copies, figures, the "
                       "results page)")
    p.add_argument("--out", type=Path, default=Path("runs/notebooks"), help="folder for the executed notebooks and "
                   "figures (default runs/notebooks)")
    p.add_argument("--smoke", action="store_true", help="tiny settings (seconds per notebook), as CI runs them")
    p.add_argument("--data", type=Path, default=None, help="data root (default $TSLIB_DATA or ./data)")
    p.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 01 02")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override a parameter of every notebook that has it, e.g. --set EPOCHS=1 (repeatable; wins "
                        "over the profile's value)")
    p.set_defaults(func=_cmd_notebooks)


def add_data_commands(sub) -> None:
    p = sub.add_parser("synth", help="write the procedural landscape dataset in both Kaggle layouts")
    p.add_argument("--out", required=True, type=Path, help="folder to write")
    p.add_argument("--per-class", type=_positive, default=60, help="images per class per source (default 60)")
    p.add_argument("--size", type=_positive, default=None, help="image size (default: 150 Intel, 224 Landscape)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--aerial", action="store_true", help="procedural aerial maps in the Landcover.ai layout instead")
    p.add_argument("--maps", type=_positive, default=4, help="--aerial: orthophotos to draw (default 4, 2048 px)")
    p.add_argument("--easy", action="store_true", help="every class its own look, no clutter or label noise (default: "
                                                       "realistic, confusable classes; or TSLIB_PROCEDURAL=easy)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("prepare", help="index, deduplicate and split the datasets into DIR/manifest.csv")
    p.add_argument("--intel", type=Path, help="Intel Image Classification folder (download folder or above)")
    p.add_argument("--landscape", type=Path, help="Landscape Recognition folder (download folder or above)")
    p.add_argument("--out", required=True, type=Path, help="output folder for manifest.csv and report.json")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--official-test", action="store_true",
                   help="keep Intel seg_test and Landscape 'Testing Data' as the test split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("download", help="download the Kaggle datasets into the data root (needs credentials)")
    p.add_argument("--data", type=Path, default=None, help="data root (default $TSLIB_DATA or ./data)")
    add_deprecated(p, "--out", "--data", dest="data", type=Path)
    choices = ["intel", "landscape", "landcover"]
    p.add_argument("--datasets", nargs="+", default=["intel", "landscape"], choices=choices,
                   help="default intel landscape; landcover: Landcover.ai v1 (public, ~1.5 GB)")
    add_deprecated(p, "--dataset", "--datasets", dest="datasets", nargs="+", choices=choices)
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.add_argument("--allow-missing", action="store_true", help="exit 0 when there are no credentials")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("prepare-landcover", help="cut Landcover.ai orthophotos into 512 px tiles (official procedure)")
    p.add_argument("--data", type=Path, default=None, help="the Landcover.ai folder (images/, masks/, *.txt)")
    add_deprecated(p, "--root", "--data", dest="data", type=Path)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_prepare_landcover)
