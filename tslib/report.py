"""One self-contained HTML page with the key tables and figures of every run folder under a directory
(``python -m tslib report --runs DIR``): figures are PNGs embedded as base64 data URIs, nothing external, so the
page opens offline. A figure that fails to draw becomes a one-line note; an unfinished run is listed as such.

This module holds the page; its building blocks (``part``, ``table``, ``split_table``...) are in
:mod:`tslib.viz.page`, and what each task shows comes from its package's ``report.py`` through its
:class:`~tslib.tasks.TaskSpec`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

from .errors import check_out_file
from .utils import atomic_write_text
from .viz.page import (  # noqa: F401  (re-exported: the page's building blocks)
    LABELS,
    SPLITS,
    Markup,
    esc,
    frame,
    manifest_tag,
    note,
    part,
    read_json,
    segment_maps,
    split_table,
    table,
)

_CSS = """body{font-family:sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #bbb;padding:.2em .6em;text-align:left}
th{background:#eee}td.n{text-align:right}section{border-top:2px solid #888;margin-top:2em}
img{max-width:100%;height:auto}figure{margin:.8em 0}figcaption{color:#555;font-size:90%}
.note{color:#a33}.meta{color:#555}"""
# Counts the images that decoded (tests open the page in a headless browser and read the count back).
_SCRIPT = """window.addEventListener("load",function(){var im=document.images,ok=0;
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}
document.body.dataset.images=ok+"/"+im.length;});"""


def find_runs(runs_dir: str | Path) -> dict[Path | None, list[Path]]:
    """``{run folder: the segment.json files inside it}`` for every run folder under ``runs_dir`` (a ``run.json``;
    one inside another run is a phase of it), in path order; key None: segment.json files outside any run."""
    found: dict[Path | None, list[Path]] = {None: []}
    for dirpath, dirnames, filenames in os.walk(runs_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        owner = next((r for r in found if r is not None and here.is_relative_to(r)), None)
        if "run.json" in filenames and owner is None:
            found[owner := here] = []
        if "segment.json" in filenames:
            found[owner].append(here / "segment.json")
    return found


def model_label(info: dict) -> str:
    """The model's registry name, with what changes its meaning (pretrained, frozen, conditional, fine-tuned)."""
    spec, cfg = info.get("model"), info.get("config", {})
    name = spec.get("name") if isinstance(spec, dict) else cfg.get("model", "?")
    extra = [k for k in ("pretrained", "freeze") if cfg.get(k) is True]
    extra += ["conditional"] * bool(info.get("conditional")) + ["fine-tuned"] * (len(info.get("phases") or []) > 1)
    return f"{name} ({', '.join(extra)})" if extra else str(name)


def _run_section(run: Path, maps: Sequence[Path]) -> tuple[list[Any], str]:
    """(summary row [task, model, headline, data, status], section body HTML) of one run folder; what a task shows
    comes from its :class:`~tslib.tasks.TaskSpec` (``report_sections``, ``plot_curves``, ``data_tag``)."""
    from .tasks import DEFAULT_TASK, available_tasks, get_task

    try:
        info = read_json(run / "run.json")
        task, model = info.get("task", DEFAULT_TASK), model_label(info)
    except (OSError, ValueError, AttributeError) as e:
        return ["?", "?", "–", "?", "run.json unreadable"], note("run.json", e)
    if task not in available_tasks():
        return [task, model, "–", "?", "unknown task"], f'<p class="meta">{esc(run)} · task {esc(task)}</p>'
    spec = get_task(task)
    try:
        label, tag = spec.data_tag(info.get("config") or {})
    except (OSError, ValueError, AttributeError, TypeError, KeyError):  # a hand-edited config: still show the run
        label, tag = "?", None
    head = f'<p class="meta">{esc(run)} · task {esc(task)} · model {esc(model)} · data {esc(label)}</p>'
    if not (run / "metrics.json").is_file():
        unfinished = f'<p class="note">unfinished: no metrics.json yet (python -m tslib train --resume {esc(run)})</p>'
        curves = part("training curves so far", lambda: spec.plot_curves(run, tag)) \
            if (run / "history.csv").is_file() else ""
        return [task, model, "–", label, "unfinished"], head + unfinished + curves
    try:
        metrics = read_json(run / "metrics.json")
        number = (spec.format_metrics(metrics) or ["–"])[-1]  # the headline `train` and `evaluate` print last
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [task, model, "–", label, "metrics.json unreadable"], head + note("metrics.json", e)
    return [task, model, number, label, "finished"], head + "".join(spec.report_sections(run, info, metrics, tag, maps))


def write_report(runs_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write one HTML page (default ``runs_dir/report.html``) with every run folder under ``runs_dir``: a summary
    table first, then each run's tables and figures. Returns the page's path."""
    runs_dir = Path(runs_dir).expanduser()
    if not runs_dir.is_dir():
        raise NotADirectoryError(f"--runs {runs_dir} is a file; give the folder that holds the run folders") \
            if runs_dir.exists() else FileNotFoundError(f"--runs {runs_dir}: no such folder")
    out = check_out_file(runs_dir / "report.html" if out is None else out)  # an existing page is overwritten
    found = find_runs(runs_dir)
    loose = found.pop(None)
    if not found:
        raise FileNotFoundError(f"no run folders under {runs_dir} (a run folder holds run.json, written by "
                                "`python -m tslib train --out RUN`)")
    if "matplotlib.pyplot" not in sys.modules:  # a notebook keeps its own backend
        matplotlib.use("Agg")
    rows, sections = [], []
    for k, (run, maps) in enumerate(found.items(), 1):
        name = run.relative_to(runs_dir).as_posix() if run != runs_dir else run.name
        row, body = _run_section(run, maps)
        rows.append([Markup(f'<a href="#run-{k}">{esc(name)}</a>'), *row])
        sections.append(f'<section id="run-{k}"><h2>{esc(name)}</h2>{body}</section>')
    if loose:
        sections.append("<section><h2>Whole images segmented (segment.json outside the run folders)</h2>"
                        + "".join(segment_maps(loose, None)) + "</section>")
    summary = table(["run", "task", "model", "headline", "data", "status"], rows)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tslib runs: {esc(runs_dir)}'
            f"</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body><h1>Runs in {esc(runs_dir)}</h1>"
            f"{summary}{''.join(sections)}</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out
