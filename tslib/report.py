"""One self-contained HTML page with the key tables and figures of every run folder under a directory
(``python -m tslib report --runs DIR``): figures are PNGs embedded as base64 data URIs, nothing external, so the
page opens offline. A figure that fails to draw becomes a one-line note; an unfinished run is listed as such.

This module holds the page and its building blocks (``part``, ``table``, ``split_table``...); what each task
shows comes from its package's ``report.py`` through its :class:`~tslib.tasks.TaskSpec`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

from .errors import check_out_dir
from .utils import atomic_write_text

SPLITS = ("val", "val_tta", "test", "test_tta")  # the rows of a score table, where present
LABELS = {"accuracy": "accuracy", "macro_f1": "macro F1", "miou": "mIoU", "pixel_accuracy": "pixel accuracy",
          "recon_mse": "recon MSE/pixel", "psnr": "PSNR dB", "ssim": "SSIM", "fid": "FID", "kid": "KID",
          "kid_std": "KID std", "feature_space": "feature space", "n": "n"}  # its columns
DPI = 90
MAX_SIDE = 1400  # px: a larger rendered figure is shrunk before it is embedded
MAX_MAPS = 4  # whole-image maps shown per segment.json

_CSS = """body{font-family:sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #bbb;padding:.2em .6em;text-align:left}
th{background:#eee}td.n{text-align:right}section{border-top:2px solid #888;margin-top:2em}
img{max-width:100%;height:auto}figure{margin:.8em 0}figcaption{color:#555;font-size:90%}
.note{color:#a33}.meta{color:#555}"""
# Counts the images that decoded (tests open the page in a headless browser and read the count back).
_SCRIPT = """window.addEventListener("load",function(){var im=document.images,ok=0;
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}
document.body.dataset.images=ok+"/"+im.length;});"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Markup(str):
    """Table cell text that is already HTML (escaped where it came from)."""


def table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; cells are escaped unless they are :class:`Markup`, numbers right-aligned."""
    body = "".join("<tr>" + "".join(f"<td{' class=n' * isinstance(c, int | float)}>"
                                    + (c if isinstance(c, Markup) else _esc(_fmt(c))) + "</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{''.join(f'<th>{_esc(h)}</th>' for h in header)}</tr>{body}</table>"


def split_table(metrics: dict, keys: Sequence[str]) -> str:
    """One row per split present in ``metrics``, one column per key that any of them has."""
    present = [s for s in SPLITS if isinstance(metrics.get(s), dict)]
    cols = [k for k in keys if any(k in metrics[s] for s in present)]
    return table(["split", *(LABELS.get(k, k) for k in cols)], [[s, *(metrics[s].get(k) for k in cols)] for s in present])


def frame(df) -> str:
    """A pandas DataFrame as an HTML table (its index first)."""
    return table([df.index.name or "", *df.columns], [[i, *r] for i, r in zip(df.index, df.itertuples(index=False))])


def _note(what: str, exc: BaseException) -> str:
    text = next((line for line in str(exc).splitlines() if line.strip()), "")[:300]
    return f'<p class="note">{_esc(what)}: not shown ({_esc(type(exc).__name__)}{": " * bool(text)}{_esc(text)})</p>'


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    im = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # shrinks a huge figure, never enlarges
    # 256 colours: figures (and the procedural maps) look the same at a third to a fifth of the bytes
    im.quantize(256, method=Image.Quantize.MAXCOVERAGE).save(buf := io.BytesIO(), format="PNG", optimize=True)
    return buf.getvalue()


def part(what: str, make: Callable[[], Any]) -> str:
    """``make()``'s HTML (a str) or figure (embedded as a PNG, then closed); a one-line note when it fails, so one
    broken part never costs the page."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        made = make()
        if isinstance(made, str):
            return made
        data = _png(made)
    except Exception as e:  # noqa: BLE001 - any failure becomes a visible note
        for num in set(plt.get_fignums()) - before:  # a half-drawn figure is not left open
            plt.close(num)
        return _note(what, e)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<figure><img alt="{_esc(what)}" src="{uri}"><figcaption>{_esc(what)}</figcaption></figure>'


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


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


def manifest_tag(config: dict) -> tuple[str, str | None]:
    """(short label, figure tag or None) of a run trained on a prepared manifest, from its ``report.json``."""
    from .data.workspace import PROCEDURAL_TAG

    manifest = Path(config.get("manifest") or "")
    try:
        report = read_json((manifest.parent if manifest.suffix == ".csv" else manifest) / "report.json")
    except (OSError, ValueError):
        return "unknown (prepared data not found)", None
    return ("PROCEDURAL", PROCEDURAL_TAG) if report.get("procedural") else ("real data", None)


def model_label(info: dict) -> str:
    """The model's registry name, with what changes its meaning (pretrained, frozen, conditional, fine-tuned)."""
    spec, cfg = info.get("model"), info.get("config", {})
    name = spec.get("name") if isinstance(spec, dict) else cfg.get("model", "?")
    extra = [k for k in ("pretrained", "freeze") if cfg.get(k) is True]
    extra += ["conditional"] * bool(info.get("conditional")) + ["fine-tuned"] * (len(info.get("phases") or []) > 1)
    return f"{name} ({', '.join(extra)})" if extra else str(name)


def _resolved(entry: dict, folder: Path) -> dict:
    """A ``segment.json`` entry whose paths, when not found as written (another working folder), point beside it."""
    def fix(p: str) -> str:
        return p if Path(p).exists() or not (folder / Path(p).name).exists() else str(folder / Path(p).name)

    return {**entry, "image": fix(entry["image"]), "files": {k: fix(v) for k, v in entry["files"].items()}}


def segment_maps(paths: Sequence[Path], tag: str | None) -> list[str]:
    """Up to MAX_MAPS whole images of each ``segment.json`` (image, classes, overlay), shrunk to 400 px."""
    from .viz.maps import plot_map

    def one(path: Path) -> str:
        entries = read_json(path)
        more = f'<p class="meta">{len(entries) - MAX_MAPS} more images in {_esc(path)}</p>' \
            if len(entries) > MAX_MAPS else ""
        return "".join(part(f"whole image ({path})", lambda e=e: plot_map(_resolved(e, path.parent), tag, max_side=400))
                       for e in entries[:MAX_MAPS]) + more

    return [part(str(path), lambda path=path: one(path)) for path in paths]


def _run_section(run: Path, maps: Sequence[Path]) -> tuple[list[Any], str]:
    """(summary row [task, model, headline, data, status], section body HTML) of one run folder; what a task shows
    comes from its :class:`~tslib.tasks.TaskSpec` (``report_sections``, ``plot_curves``, ``data_tag``)."""
    from .tasks import DEFAULT_TASK, available_tasks, get_task

    try:
        info = read_json(run / "run.json")
        task, model = info.get("task", DEFAULT_TASK), model_label(info)
    except (OSError, ValueError, AttributeError) as e:
        return ["?", "?", "–", "?", "run.json unreadable"], _note("run.json", e)
    if task not in available_tasks():
        return [task, model, "–", "?", "unknown task"], f'<p class="meta">{_esc(run)} · task {_esc(task)}</p>'
    spec = get_task(task)
    try:
        label, tag = spec.data_tag(info.get("config") or {})
    except (OSError, ValueError, AttributeError, TypeError, KeyError):  # a hand-edited config: still show the run
        label, tag = "?", None
    head = f'<p class="meta">{_esc(run)} · task {_esc(task)} · model {_esc(model)} · data {_esc(label)}</p>'
    if not (run / "metrics.json").is_file():
        note = f'<p class="note">unfinished: no metrics.json yet (python -m tslib train --resume {_esc(run)})</p>'
        curves = part("training curves so far", lambda: spec.plot_curves(run, tag)) \
            if (run / "history.csv").is_file() else ""
        return [task, model, "–", label, "unfinished"], head + note + curves
    try:
        metrics = read_json(run / "metrics.json")
        number = (spec.format_metrics(metrics) or ["–"])[-1]  # the headline `train` and `evaluate` print last
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [task, model, "–", label, "metrics.json unreadable"], head + _note("metrics.json", e)
    return [task, model, number, label, "finished"], head + "".join(spec.report_sections(run, info, metrics, tag, maps))


def write_report(runs_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write one HTML page (default ``runs_dir/report.html``) with every run folder under ``runs_dir``: a summary
    table first, then each run's tables and figures. Returns the page's path."""
    runs_dir = Path(runs_dir).expanduser()
    if not runs_dir.is_dir():
        raise NotADirectoryError(f"--runs {runs_dir} is a file; give the folder that holds the run folders") \
            if runs_dir.exists() else FileNotFoundError(f"--runs {runs_dir}: no such folder")
    out = runs_dir / "report.html" if out is None else Path(out).expanduser()
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; give a file path such as {out / 'report.html'}")
    if not out.exists():  # an existing page is overwritten; otherwise its parent must be (or become) a folder
        check_out_dir(out, "--out")
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
        rows.append([Markup(f'<a href="#run-{k}">{_esc(name)}</a>'), *row])
        sections.append(f'<section id="run-{k}"><h2>{_esc(name)}</h2>{body}</section>')
    if loose:
        sections.append("<section><h2>Whole images segmented (segment.json outside the run folders)</h2>"
                        + "".join(segment_maps(loose, None)) + "</section>")
    summary = table(["run", "task", "model", "headline", "data", "status"], rows)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tslib runs: {_esc(runs_dir)}'
            f"</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body><h1>Runs in {_esc(runs_dir)}</h1>"
            f"{summary}{''.join(sections)}</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out
