"""The ``report`` verb: one self-contained HTML page with the tables and figures of every run under a folder.

This module is not named ``report``: importing ``tslib.cli.report`` would rebind ``tslib.cli.report``, the error
reporter every command goes through, to the module.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    path = write_report(args.runs, args.out)
    print(f"report of the runs in {args.runs}: {path.stat().st_size / 1024:.0f} KB, open it in a browser")
    print(path)
    return 0


def add_report_command(sub) -> None:
    p = sub.add_parser("report", help="write one self-contained HTML page with the tables and figures of every "
                                      "run folder under --runs")
    p.add_argument("--runs", required=True, type=Path, help="folder searched (recursively) for run folders")
    p.add_argument("--out", type=Path, default=None, help="the HTML file to write (default RUNS/report.html)")
    p.set_defaults(func=_cmd_report)
