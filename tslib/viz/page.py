"""Building blocks of the HTML results page: tables, embedded figures, notes, a run's data label and its
whole-image maps. The page itself (``tslib.report``) and each task's sections (``tslib.tasks.<task>.report``)
build on these; nothing here knows a task or loads a model.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SPLITS = ("val", "val_tta", "test", "test_tta")  # the rows of a score table, where present
LABELS = {"accuracy": "accuracy", "macro_f1": "macro F1", "miou": "mIoU", "pixel_accuracy": "pixel accuracy",
          "recon_mse": "recon MSE/pixel", "psnr": "PSNR dB", "ssim": "SSIM", "fid": "FID", "kid": "KID",
          "kid_std": "KID std", "feature_space": "feature space", "n": "n"}  # its columns
DPI = 90
MAX_SIDE = 1400  # px: a larger rendered figure is shrunk before it is embedded
MAX_MAPS = 4  # whole-image maps shown per segment.json


def esc(value: Any) -> str:
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
                                    + (c if isinstance(c, Markup) else esc(_fmt(c))) + "</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{''.join(f'<th>{esc(h)}</th>' for h in header)}</tr>{body}</table>"


def split_table(metrics: dict, keys: Sequence[str]) -> str:
    """One row per split present in ``metrics``, one column per key that any of them has."""
    present = [s for s in SPLITS if isinstance(metrics.get(s), dict)]
    cols = [k for k in keys if any(k in metrics[s] for s in present)]
    rows = [[s, *(metrics[s].get(k) for k in cols)] for s in present]
    return table(["split", *(LABELS.get(k, k) for k in cols)], rows)


def frame(df) -> str:
    """A pandas DataFrame as an HTML table (its index first)."""
    return table([df.index.name or "", *df.columns], [[i, *r] for i, r in zip(df.index, df.itertuples(index=False))])


def note(what: str, exc: BaseException) -> str:
    text = next((line for line in str(exc).splitlines() if line.strip()), "")[:300]
    return f'<p class="note">{esc(what)}: not shown ({esc(type(exc).__name__)}{": " * bool(text)}{esc(text)})</p>'


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
    # 256 colours (fast octree: a quarter of max-coverage's time, as small): figures and maps look the same
    # at a third to a fifth of the bytes
    im.quantize(256, method=Image.Quantize.FASTOCTREE).save(buf := io.BytesIO(), format="PNG", optimize=True)
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
        return note(what, e)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<figure><img alt="{esc(what)}" src="{uri}"><figcaption>{esc(what)}</figcaption></figure>'


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def manifest_tag(config: dict) -> tuple[str, str | None]:
    """(short label, figure tag or None) of a run trained on a prepared manifest, from its ``report.json``."""
    from ..data.workspace import PROCEDURAL_TAG

    manifest = Path(config.get("manifest") or "")
    try:
        report = read_json((manifest.parent if manifest.suffix == ".csv" else manifest) / "report.json")
    except (OSError, ValueError):
        return "unknown (prepared data not found)", None
    return ("PROCEDURAL", PROCEDURAL_TAG) if report.get("procedural") else ("real data", None)


def _resolved(entry: dict, folder: Path) -> dict:
    """A ``segment.json`` entry whose paths, when not found as written (another working folder), point beside it."""
    def fix(p: str) -> str:
        return p if Path(p).exists() or not (folder / Path(p).name).exists() else str(folder / Path(p).name)

    return {**entry, "image": fix(entry["image"]), "files": {k: fix(v) for k, v in entry["files"].items()}}


def segment_maps(paths: Sequence[Path], tag: str | None) -> list[str]:
    """Up to MAX_MAPS whole images of each ``segment.json`` (image, classes, overlay), shrunk to 400 px."""
    from .maps import plot_map

    def one(path: Path) -> str:
        entries = read_json(path)
        more = f'<p class="meta">{len(entries) - MAX_MAPS} more images in {esc(path)}</p>' \
            if len(entries) > MAX_MAPS else ""
        return "".join(part(f"whole image ({path})", lambda e=e: plot_map(_resolved(e, path.parent), tag, max_side=400))
                       for e in entries[:MAX_MAPS]) + more

    return [part(str(path), lambda path=path: one(path)) for path in paths]
