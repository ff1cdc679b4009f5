"""``prepare``: index the sources, read every image, deduplicate, split and write ``manifest.csv`` + a report."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import check_out_dir
from ..utils import atomic_write_text
from .classes import classes_present
from .manifest import SPLITS, Entry, assign_splits, count_table, deduplicate, read_files, write_manifest
from .sources import SourceFile, index_intel, index_landscape

#: A file of this name marks a folder written by the procedural generator (``python -m tslib synth``).
PROCEDURAL_MARKER = "TSLIB_PROCEDURAL_DATA.txt"


@dataclass
class PrepareResult:
    manifest: Path
    report: dict
    entries: list[Entry]

    @property
    def classes(self) -> list[str]:
        return self.report["classes"]


def is_procedural(path: Path) -> bool:
    """True when ``path`` lies in a tree written by the procedural generator."""
    path = Path(path).resolve()
    return any((p / PROCEDURAL_MARKER).is_file() for p in [path, *path.parents])


def prepare(
    out: Path | str,
    intel: Path | str | None = None,
    landscape: Path | str | None = None,
    seed: int = 0,
    official_test: bool = False,
    progress: bool = True,
) -> PrepareResult:
    """Build ``out/manifest.csv`` (and ``out/report.json``) from one or both datasets. Writes only into ``out``."""
    if intel is None and landscape is None:
        raise ValueError("give at least one source: --intel DIR and/or --landscape DIR (intel=, landscape= in Python)")
    out = check_out_dir(out)
    files: list[SourceFile] = []
    skipped: list[tuple[Path, str]] = []
    roots: list[Path] = []
    for root, index in ((intel, index_intel), (landscape, index_landscape)):
        if root is None:
            continue
        found, bad = index(root)
        files += found
        skipped += bad
        roots.append(Path(root).expanduser().resolve())
    data_root = Path(os.path.commonpath(roots)) if len(roots) > 1 else roots[0]
    entries, unreadable = read_files(files, data_root, progress=progress)
    if not entries:
        bad = [r for _, r in unreadable[:3]] + [f"{p}: {r}" for p, r in skipped[:3 - len(unreadable[:3])]]
        raise ValueError(f"no readable images under {', '.join(str(r) for r in roots)} ({len(unreadable)} unreadable, "
                         f"{len(skipped)} skipped{'; e.g. ' + '; '.join(bad) if bad else ''}): nothing to prepare")
    kept, dedup = deduplicate(entries)
    assign_splits(kept, seed=seed, official_test=official_test)

    out = Path(out)
    manifest = write_manifest(kept, out / "manifest.csv")
    labelled = [e for e in kept if e.label]
    report = {
        "data_root": str(data_root),
        "data_root_relative": os.path.relpath(data_root, out.resolve()).replace(os.sep, "/"),
        "sources": {"intel": str(intel) if intel else None, "landscape": str(landscape) if landscape else None},
        "procedural": any(is_procedural(r) for r in roots),
        "seed": seed,
        "official_test": official_test,
        "classes": classes_present(e.label for e in labelled),
        "counts": {c: dict(n) for c, n in sorted(count_table(labelled).items())},
        "n_images": len(labelled),
        "n_unlabeled": len(kept) - len(labelled),
        "skipped": [{"path": str(p), "reason": r} for p, r in skipped]
        + [{"path": p, "reason": r.removeprefix(f"{p}: ")} for p, r in unreadable],
        **asdict(dedup),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    return PrepareResult(manifest, report, kept)


def format_report(report: dict) -> str:
    """Per-class x per-split counts table plus what was skipped and deduplicated, for the terminal."""
    lines = []
    if report.get("procedural"):
        lines.append("*** PROCEDURAL DATA (built-in generator, not real photos) ***")
    header = f"{'class':<10}" + "".join(f"{s:>8}" for s in (*SPLITS, "total"))
    lines += [header, "-" * len(header)]
    totals = dict.fromkeys(SPLITS, 0)
    for c in report["classes"]:
        row = report["counts"].get(c, {})
        for s in SPLITS:
            totals[s] += row.get(s, 0)
        lines.append(f"{c:<10}" + "".join(f"{row.get(s, 0):>8}" for s in SPLITS) + f"{sum(row.values()):>8}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<10}" + "".join(f"{totals[s]:>8}" for s in SPLITS) + f"{sum(totals.values()):>8}")
    if report["n_unlabeled"]:
        lines.append(f"unlabelled images (Intel seg_pred): {report['n_unlabeled']}")
    dups, conf = report["duplicates_removed"], report["conflicts_removed"]
    n_conf_groups = len({d["hash"] for d in conf})
    lines.append(
        f"deduplication: dropped {len(dups)} exact duplicate copies (same label) and {len(conf)} files in "
        f"{n_conf_groups} duplicate groups with conflicting labels"
    )
    for d in conf[:20]:
        lines.append(f"  conflict {'/'.join(d['labels'])}: {d['path']}")
    if len(conf) > 20:
        lines.append(f"  ... {len(conf) - 20} more in report.json")
    skipped = report["skipped"]
    lines.append(f"skipped {len(skipped)} unreadable or non-image files")
    for s in skipped[:20]:
        lines.append(f"  {s['path']}: {s['reason']}")
    if len(skipped) > 20:
        lines.append(f"  ... {len(skipped) - 20} more in report.json")
    return "\n".join(lines)
