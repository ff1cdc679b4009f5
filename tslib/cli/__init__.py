"""``python -m tslib <command>``: the scriptable entry points, each a thin wrapper over the library.

Every command runs through :func:`main`, which turns any error into one line on stderr and a non-zero exit
(:func:`tslib.errors.report`); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from ..errors import report
from ..tasks import DEFAULT_TASK
from .args import Parser, add_config_args, config_from_args
from .data import add_data_commands, add_notebooks_command
from .doctor import add_doctor_command
from .export import add_export_command
from .results import add_report_command


def _cmd_train(args: argparse.Namespace) -> int:
    from ..engine import runs
    from ..errors import TrainingInterrupted
    from ..tasks import get_task

    if args.resume:
        if args.out is not None:
            raise ValueError("give --resume RUN or --out RUN, not both")
        run, resume = args.resume, True
        info = runs.read_run_info(run)
        spec = get_task(info["task"])
        if args.task not in (None, spec.name):
            raise ValueError(f"{run} is a {spec.name} run; drop --task {args.task}")
        cfg = config_from_args(spec.config_cls, args, base=info["config"])
    else:
        spec = get_task(args.task or DEFAULT_TASK)
        cfg = config_from_args(spec.config_cls, args)
        if args.out is None:
            raise ValueError("train needs --out RUN (a folder for the run), or --resume RUN")
        run, resume = args.out, False
    try:
        metrics = spec.train(cfg, run, resume=resume)
    except KeyboardInterrupt as e:  # Ctrl-C outside an epoch (e.g. while caching features)
        raise TrainingInterrupted(f"continue with `python -m tslib train --resume {run}`") from e
    from .. import distributed

    if distributed.is_main():  # under torchrun every process has the same metrics: rank 0 prints them
        print(f"metrics written to {Path(run) / 'metrics.json'}")
        for line in spec.format_metrics(metrics):  # the headline number last
            print(line)
    return 0


#: options of ``evaluate`` that only some tasks take (``TaskSpec.evaluate_options``): keyword -> flag
_EVALUATE_OPTIONS = {"calibrate": "--no-calibrate", "recalibrate": "--recalibrate", "ood": "--ood"}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..engine import runs
    from ..tasks import available_tasks, get_task

    spec = get_task(runs.read_run_info(args.run)["task"])
    bad = [s for s in args.split if s not in spec.splits]
    if bad:
        raise ValueError(f"--split {' '.join(bad)}: a {spec.name} run has splits {', '.join(spec.splits)}")
    extra = {k: getattr(args, k) for k in _EVALUATE_OPTIONS if hasattr(args, k)}  # only those given
    for key in extra:
        if key not in spec.evaluate_options:
            takes = [t for t in available_tasks() if key in get_task(t).evaluate_options]
            raise ValueError(f"{_EVALUATE_OPTIONS[key]} applies to {' and '.join(takes)} runs; {args.run} is a "
                             f"{spec.name} run")
    metrics = spec.evaluate(args.run, splits=args.split, tta=args.tta or None, device=args.device, **extra)
    wanted = set(args.split) | {f"{s}_tta" for s in args.split} | ({"ood"} if "ood" in extra else set())
    print(f"metrics written to {Path(args.run) / 'metrics.json'}")
    for line in spec.format_metrics({k: v for k, v in metrics.items() if k in wanted}):
        print(line)
    return 0


def _peek_task(argv: list[str]) -> str:
    """The task whose settings ``train`` should accept: ``--task X``, else a resumed run's, else the default."""
    for flag in ("--task", "--resume"):
        for i, a in enumerate(argv):
            if a == flag and i + 1 < len(argv):
                value = argv[i + 1]
            else:
                value = a.partition("=")[2] if a.startswith(flag + "=") else None
            if value is None:
                continue
            if flag == "--task":
                return value
            try:
                from ..engine.runs import read_run_info

                return read_run_info(value)["task"]
            except Exception:  # reported properly by the train command itself
                return DEFAULT_TASK
    return DEFAULT_TASK


def build_parser(task: str = DEFAULT_TASK) -> argparse.ArgumentParser:
    """The full parser; ``train`` takes the settings of ``task``'s config (derived from its dataclasses)."""
    from .. import __version__
    from ..tasks import available_tasks, get_task

    parser = Parser(prog="python -m tslib", description="TerraSculpt: landscape classification, generation and "
                    "land-cover segmentation. Conventions: --data is a data root that is read, --run a run folder "
                    "that is read, --out what a command writes (missing parent folders are created).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"tslib {__version__} (terrasculpt)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    add_notebooks_command(sub)  # the main job first

    spec = get_task(task)
    p = sub.add_parser("train", help="train a model (--task " + "|".join(available_tasks()) + "); prints the test "
                       "score last", description=f"Settings shown are those of --task {task}; "
                       "`train --task NAME --help` shows another task's.")
    p.add_argument("--task", default=None, choices=available_tasks(), help=f"what to train (default {DEFAULT_TASK})")
    p.add_argument("--out", type=Path, help="run folder to write (created if missing)")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue an interrupted run from RUN/last.pt")
    add_config_args(p, spec.config_cls)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="re-evaluate a finished run on its splits; merges into metrics.json")
    p.add_argument("--run", required=True, type=Path, help="a finished run folder (any task)")
    p.add_argument("--split", nargs="+", default=["test"], help="splits to evaluate (default test)")
    p.add_argument("--tta", action="store_true", help="also evaluate with flip test-time augmentation")
    p.add_argument("--device", default=None, help="auto | cuda | cpu (default: the run's device setting)")
    # Task-specific options default to SUPPRESS: only those given reach the task (which says if it takes them).
    p.add_argument("--ood", type=Path, default=argparse.SUPPRESS, metavar="FOLDER",
                   help="classification: AUROC and false acceptances on a folder of images that are not landscapes")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false", default=argparse.SUPPRESS,
                   help="classification: raw softmax instead of the fitted temperature")
    p.add_argument("--recalibrate", action="store_true", default=argparse.SUPPRESS,
                   help="classification: fit the temperature and OOD thresholds on val again")
    p.set_defaults(func=_cmd_evaluate)

    for name in available_tasks():  # each task's own verbs (predict, generate, segment, ...)
        extra = get_task(name).add_commands
        if extra is not None:
            extra(sub)
    add_data_commands(sub)
    add_report_command(sub)
    add_export_command(sub)
    add_doctor_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    previous = _stop_on_sigterm()
    try:
        task = _peek_task(argv) if argv[:1] == ["train"] else DEFAULT_TASK
        from ..tasks import available_tasks

        if task not in available_tasks():
            raise ValueError(f"unknown task {task!r}; available: {', '.join(available_tasks())}")
        parser = build_parser(task)
        if not [a for a in argv if a != "--debug"]:  # bare `tslib`: the help, not an error
            parser.print_help()
            return 0
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help, or a malformed option (already reported in one line)
            return int(e.code or 0)
        return args.func(args)
    except BaseException as e:  # noqa: BLE001 - the one place errors become exit codes
        return report(e, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        _leave_process_group()


def _stop_on_sigterm():
    """Treat SIGTERM (what Colab, SLURM, ``kill`` and ``timeout`` send) as Ctrl-C: training finishes writing, keeps
    the last completed epoch and says how to resume. Not under torchrun, which stops its processes itself and
    where one process leaving a collective early would leave the others waiting. Returns the previous handler."""
    from .. import distributed
    from ..utils import STOP_REQUESTED

    if distributed.launched() or threading.current_thread() is not threading.main_thread():
        return None
    STOP_REQUESTED.clear()

    def stop(signum, frame):
        STOP_REQUESTED.set()  # remembered: Python drops the exception if it lands inside an at-fork hook
        signal.default_int_handler(signum, frame)

    default_hook = sys.unraisablehook

    def quiet_dropped_stop(unraisable):  # the dropped stop is acted on from the flag: no traceback for it
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            default_hook(unraisable)

    sys.unraisablehook = quiet_dropped_stop

    return signal.signal(signal.SIGTERM, stop)


def _leave_process_group() -> None:
    """End torchrun's process group cleanly (a no-op in a single process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
