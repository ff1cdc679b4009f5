"""The tasks tslib trains, one subpackage each: ``classify``, ``generate`` and ``segment``.

Each subpackage exposes ``SPEC``, a :class:`TaskSpec` saying what the shared CLI verbs (``train``, ``evaluate``)
need from it, plus any verbs of its own (``predict``) and its part of the results page. The CLI, the run folders
and the report only go through ``SPEC``, so a new task adds a folder here and nothing else changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lazy import lazy, lazy_exports  # noqa: F401 - the task packages import them from here

#: the task of a run folder or command that names none (runs written before there were three tasks)
DEFAULT_TASK = "classify"


@dataclass(frozen=True)
class TaskSpec:
    """What a task provides to the CLI and to tools that read run folders."""

    name: str
    #: what its runs are called in messages ("not a classification run")
    noun: str
    config_cls: type
    #: train(config, run_dir, resume=..., callbacks=...) -> metrics dict (written to run_dir/metrics.json too)
    train: Callable[..., dict]
    #: evaluate(run_dir, splits=..., tta=..., device=...) -> metrics dict
    evaluate: Callable[..., dict]
    #: metrics dict -> printable lines, the headline number last
    format_metrics: Callable[[dict], list[str]]
    #: add_commands(subparsers) adds the task's own verbs
    add_commands: Callable[[Any], None] | None = None
    #: report_sections(run, info, metrics, tag, maps) -> HTML parts of the results page (tslib.report)
    report_sections: Callable[..., list[str]] | None = None
    #: plot_curves(run, tag) -> the training-curves figure of a run folder (also of an unfinished one)
    plot_curves: Callable[..., Any] | None = None
    #: data_tag(config dict) -> (short label of the data a run was trained on, figure tag or None)
    data_tag: Callable[[dict], tuple[str, str | None]] | None = None
    #: export(run_dir) -> tslib.export.Exportable: the module, example inputs and preprocessing ``export`` writes
    #: (None: the task's runs cannot be exported)
    export: Callable[..., Any] | None = None
    splits: tuple[str, ...] = ("train", "val", "test")
    #: the optional ``evaluate`` keywords (CLI options of the shared ``evaluate`` verb) this task accepts
    evaluate_options: tuple[str, ...] = ()

    @classmethod
    def of_package(cls, package: str, name: str, noun: str, config_cls: type, train_fn: str, **fields: Any) -> TaskSpec:
        """The spec of a task package laid out by convention: ``train.<train_fn>``, ``evaluate.evaluate_run``,
        ``cli.format_metrics``, ``cli.add_commands``, ``report.sections/plot_curves/data_tag`` and, for a task with
        an ``export`` module, ``export.exportable``; each imported on first use. ``fields`` sets the others."""
        if importlib.util.find_spec(f"{package}.export") is not None:  # finds the file, imports nothing
            fields.setdefault("export", lazy(f"{package}.export", "exportable"))
        return cls(name=name, noun=noun, config_cls=config_cls, train=lazy(f"{package}.train", train_fn),
                   evaluate=lazy(f"{package}.evaluate", "evaluate_run"),
                   format_metrics=lazy(f"{package}.cli", "format_metrics"),
                   add_commands=lazy(f"{package}.cli", "add_commands"),
                   report_sections=lazy(f"{package}.report", "sections"),
                   plot_curves=lazy(f"{package}.report", "plot_curves"),
                   data_tag=lazy(f"{package}.report", "data_tag"), **fields)


def read_run(run_dir: str | Path, task: str | None = None) -> dict:
    """``run.json`` of a run folder (:func:`tslib.engine.runs.read_run_info`); ``task``: only that task's runs."""
    from ..engine import runs

    return runs.read_run_info(run_dir, task, get_task(task).noun if task else None)


def load_run(run_dir: str | Path, task: str | None = None, device: str = "cpu") -> tuple[Any, dict]:
    """The trained model of a finished run and its ``run.json`` (:func:`tslib.engine.runs.load_run`): any task's, or
    only ``task``'s (a run of another task is one clear error)."""
    from ..engine import runs
    from ..models import build_from_spec

    return runs.load_run(run_dir, task, device, build=build_from_spec, what=get_task(task).noun if task else None)


def available_tasks() -> list[str]:
    """Task names with an implementation (a subpackage of ``tslib.tasks``)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.ispkg)


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of task ``name``; a clear error lists the available ones."""
    if name not in available_tasks():
        raise ValueError(f"unknown task {name!r}; available: {', '.join(available_tasks())}")
    return importlib.import_module(f"{__name__}.{name}").SPEC
