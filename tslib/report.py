"""One self-contained HTML page with the key tables and figures of every run folder under a directory
(``python -m tslib report --runs DIR``): figures are PNGs embedded as base64 data URIs, nothing external, so the
page opens offline. A figure that fails to draw becomes a one-line note; an unfinished run is listed as such.
"""

from __future__ import annotations

import base64
import html
import importlib
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

TASKS = ("classify", "generate", "segment")
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


def _table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    body = "".join("<tr>" + "".join(f"<td{' class=n' * isinstance(c, int | float)}>"
                                    + (c if isinstance(c, Markup) else _esc(_fmt(c))) + "</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{''.join(f'<th>{_esc(h)}</th>' for h in header)}</tr>{body}</table>"


def _split_table(metrics: dict, keys: Sequence[str]) -> str:
    """One row per split present, one column per key that any of them has."""
    present = [s for s in SPLITS if isinstance(metrics.get(s), dict)]
    cols = [k for k in keys if any(k in metrics[s] for s in present)]
    return _table(["split", *(LABELS[k] for k in cols)], [[s, *(metrics[s].get(k) for k in cols)] for s in present])


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


def _part(what: str, make: Callable[[], Any]) -> str:
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


def _viz(name: str):
    return importlib.import_module(f"{__package__}.viz.{name}")


def _read_json(path: Path) -> Any:
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


def data_tag(info: dict) -> tuple[str, str | None]:
    """(short label, figure tag or None) of the data a run was trained on, from its config: the prepared
    manifest's ``report.json``, or the Landcover.ai folder's procedural marker."""
    from .data.aerial import AERIAL_MARKER
    from .data.workspace import AERIAL_TAG, PROCEDURAL_TAG

    cfg = info.get("config", {})
    if info.get("task") == "segment":
        if not cfg.get("landcover"):
            return ("own images" if cfg.get("images") else "–"), None
        procedural = (Path(cfg["landcover"]) / AERIAL_MARKER).is_file()
        return ("PROCEDURAL aerial", AERIAL_TAG) if procedural else ("Landcover.ai", None)
    manifest = Path(cfg.get("manifest") or "")
    try:
        report = _read_json((manifest.parent if manifest.suffix == ".csv" else manifest) / "report.json")
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


def headline(task: str, metrics: dict) -> str:
    """The number ``train`` prints last: test accuracy, recon MSE or FID, or mIoU (val when there is no test)."""
    split = next((s for s in ("test", "val") if isinstance(metrics.get(s), dict)), None)
    m = metrics.get(split) or {}
    key, text = {"classify": ("accuracy", "accuracy {:.4f}"), "segment": ("miou", "mIoU {:.4f}")}.get(
        task, ("recon_mse", "recon MSE {:.5f}") if "recon_mse" in m else ("fid", "FID {:.2f}"))
    return f"{split} {text.format(m[key])}" if split else "–"


def _classify(run: Path, info: dict, metrics: dict, tag: str | None) -> list[str]:
    return [_part("scores", lambda: _split_table(metrics, ("accuracy", "macro_f1", "n"))),
            _part("confusion matrix (test)",
                  lambda: _viz("classify").plot_confusion(metrics["test"], info["classes"], tag)),
            _part("training curves", lambda: _viz("classify").plot_history(run, tag))]


def _gen_metrics_table(gm: dict) -> str:
    agree = gm.get("agreement") or {}
    return _table(["gen_metrics.json", "value"], [[k, v] for k, v in gm.items() if isinstance(v, int | float | str)]
                  + [[f"agreement {k}", agree[k]] for k in ("mean", "overall") if k in agree])


def _samples(run: Path, tag: str | None):
    from .tasks.generate.sampling import load_generator, sample

    model, info = load_generator(run)
    images, labels = sample(model, info, 16, seed=0)
    captions = None if labels is None else [info["classes"][i] for i in labels.tolist()]
    return _viz("generate").plot_images(images, captions, cols=8, title="16 samples (seed 0)", tag=tag)


def _generate(run: Path, info: dict, metrics: dict, tag: str | None) -> list[str]:
    keys = ("recon_mse", "psnr", "ssim", "fid", "kid", "kid_std", "feature_space", "n")
    gm = run / "gen_metrics.json"  # written by evaluate-generator
    return [_part("scores", lambda: _split_table(metrics, keys)),
            _part("gen_metrics.json", lambda: _gen_metrics_table(_read_json(gm)) if gm.is_file() else ""),
            _part("agreement per class", lambda: _viz("generate").plot_agreement(_read_json(gm), tag=tag)
                  if gm.is_file() and "agreement_confusion" in _read_json(gm) else ""),
            _part("samples", lambda: _samples(run, tag)),
            _part("training curves", lambda: _viz("generate").plot_generator_history(run, tag=tag))]


def _resolved(entry: dict, folder: Path) -> dict:
    """A ``segment.json`` entry whose paths, when not found as written (another working folder), point beside it."""
    def fix(p: str) -> str:
        return p if Path(p).exists() or not (folder / Path(p).name).exists() else str(folder / Path(p).name)

    return {**entry, "image": fix(entry["image"]), "files": {k: fix(v) for k, v in entry["files"].items()}}


def _maps(paths: Sequence[Path], tag: str | None) -> list[str]:
    """Up to MAX_MAPS whole images of each ``segment.json`` (image, classes, overlay), shrunk to 400 px."""
    def one(path: Path) -> str:
        entries = _read_json(path)
        more = f'<p class="meta">{len(entries) - MAX_MAPS} more images in {_esc(path)}</p>' \
            if len(entries) > MAX_MAPS else ""
        return "".join(_part(f"whole image ({path})", lambda e=e: _viz("segment").plot_map(
            _resolved(e, path.parent), tag, max_side=400)) for e in entries[:MAX_MAPS]) + more

    return [_part(str(path), lambda path=path: one(path)) for path in paths]


def _segment(run: Path, info: dict, metrics: dict, tag: str | None, maps: Sequence[Path]) -> list[str]:
    return [_part("scores", lambda: _split_table(metrics, ("miou", "pixel_accuracy"))),
            _part("per-class IoU", lambda: _frame(_viz("segment").iou_table({run.name: metrics}))),
            _part("confusion (test)", lambda: _viz("segment").plot_confusion(metrics["test"], tag)),
            _part("training curves", lambda: _viz("segment").plot_history(run, tag)),
            *_maps(maps, tag)]


def _frame(df) -> str:
    return _table([df.index.name or "", *df.columns], [[i, *r] for i, r in zip(df.index, df.itertuples(index=False))])


def _run_section(run: Path, maps: Sequence[Path]) -> tuple[list[Any], str]:
    """(summary row [task, model, headline, data, status], section body HTML) of one run folder."""
    try:
        info = _read_json(run / "run.json")
        task, model, (label, tag) = info.get("task", "classify"), model_label(info), data_tag(info)
    except (OSError, ValueError, AttributeError) as e:
        return ["?", "?", "–", "?", "run.json unreadable"], _note("run.json", e)
    head = f'<p class="meta">{_esc(run)} · task {_esc(task)} · model {_esc(model)} · data {_esc(label)}</p>'
    if task not in TASKS:
        return [task, model, "–", label, "unknown task"], head
    if not (run / "metrics.json").is_file():
        note = f'<p class="note">unfinished: no metrics.json yet (python -m tslib train --resume {_esc(run)})</p>'
        plot = "plot_generator_history" if task == "generate" else "plot_history"
        curves = _part("training curves so far", lambda: getattr(_viz(task), plot)(run, tag=tag)) \
            if (run / "history.csv").is_file() else ""
        return [task, model, "–", label, "unfinished"], head + note + curves
    try:
        metrics = _read_json(run / "metrics.json")
        number = headline(task, metrics)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [task, model, "–", label, "metrics.json unreadable"], head + _note("metrics.json", e)
    body = (_classify(run, info, metrics, tag) if task == "classify" else
            _generate(run, info, metrics, tag) if task == "generate" else _segment(run, info, metrics, tag, maps))
    return [task, model, number, label, "finished"], head + "".join(body)


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
                        + "".join(_maps(loose, None)) + "</section>")
    summary = _table(["run", "task", "model", "headline", "data", "status"], rows)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tslib runs: {_esc(runs_dir)}'
            f"</title><style>{_CSS}</style><script>{_SCRIPT}</script></head><body><h1>Runs in {_esc(runs_dir)}</h1>"
            f"{summary}{''.join(sections)}</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, page)
    return out
