"""The ``export`` verb: a finished run's model as an ONNX file, with its preprocessing in ``preprocess.json``."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export import export_run, summary

    for line in summary(export_run(args.run, args.out, args.format)):
        print(line)
    return 0


def add_export_command(sub) -> None:
    from ..export import FORMATS

    p = sub.add_parser("export", help="export a finished run's model to ONNX (checked in onnxruntime), with its "
                                      "preprocessing in preprocess.json beside it",
                       description="The file is run in onnxruntime and compared with PyTorch before it is "
                                   "written; preprocess.json says how to prepare an image (size, mean, std, ...) "
                                   "and what the outputs mean.")
    p.add_argument("--run", required=True, type=Path, metavar="RUN", help="a finished run folder")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="file format (default onnx)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="the file to write (default RUN/model.onnx); preprocess.json goes in the same folder")
    p.set_defaults(func=_cmd_export)
