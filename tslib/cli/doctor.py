"""``python -m tslib doctor``: every CUDA path once on tiny procedural data, and the notebooks' expected times."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def _cmd_doctor(args: argparse.Namespace) -> int:
    from ..doctor import Row, format_estimates, run_doctor, table
    from ..errors import check_out_dir

    out = check_out_dir(args.out) if args.out is not None else None
    result = run_doctor(out, device=args.device, estimate=args.estimate, only=args.only)
    rows = [Row(**r) for r in result["rows"]]
    print(f"\n{result['device']}, torch {result['torch']}")
    print(table(rows))
    skipped = [r.path for r in rows if r.ok is None]
    if skipped:
        print(f"skipped on this machine: {', '.join(skipped)}")
    if result["estimates"] is not None:
        print()
        print(format_estimates(result["estimates"], result["device"]))
        if any(math.isnan(s) for rows_ in result["estimates"].values() for _, s in rows_):
            print("(not estimated: see the line's reason)")
    elif not args.estimate:
        print("the notebooks' gpu-profile estimate runs on a GPU (--estimate forces it here)")
    failed = [r.path for r in rows if r.ok is False]
    if failed:
        raise RuntimeError(f"{len(failed)} path(s) failed: {', '.join(failed)} (the table above says why)")
    return 0


def add_doctor_command(sub) -> None:
    p = sub.add_parser("doctor", help="check every GPU path once on tiny data (about 10 minutes on a GPU) and "
                       "estimate each notebook's gpu-profile time")
    p.add_argument("--out", type=Path, default=None, help="keep the runs and doctor.json here (default: a "
                   "temporary folder, removed)")
    p.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu (default auto)")
    p.add_argument("--estimate", action=argparse.BooleanOptionalAction, default=None,
                   help="measure the notebooks' gpu-profile steps and print their expected times (default: on a "
                        "GPU only; on a CPU the gpu profile's sizes take long)")
    p.add_argument("--only", nargs="+", metavar="WORD", help="only the paths whose name contains one of these words "
                   "(e.g. tta ood)")
    p.set_defaults(func=_cmd_doctor)
