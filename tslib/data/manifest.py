"""Turn indexed source files into a deduplicated, split manifest (CSV) that training reads.

Splits depend only on file *contents* and the seed: each image's place in its class's order is a keyed hash of
its content hash, so the same files give the same split on any machine, whatever the file-system order or the
global RNG state.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..utils import atomic_write_text
from .classes import CANONICAL_CLASSES
from .imageio import ImageReadError, decode_rgb
from .sources import SourceFile

MANIFEST_COLUMNS = ("path", "label", "split", "source", "hash", "width", "height", "official_split")
SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass
class Entry:
    """One readable image: a manifest row."""

    path: str  # relative to the data root, POSIX separators
    label: str
    split: str
    source: str
    hash: str
    width: int
    height: int
    official_split: str


@dataclass
class DedupReport:
    duplicates_removed: list[dict] = field(default_factory=list)  # same content, same label: extra copies
    conflicts_removed: list[dict] = field(default_factory=list)  # same content, different labels: all copies


def read_file(f: SourceFile) -> tuple[str, int, int]:
    """Hash and fully decode one file; returns (sha1, width, height) or raises ImageReadError."""
    try:
        data = f.path.read_bytes()
    except OSError as e:
        raise ImageReadError(f"{f.path}: cannot read file ({e})") from e
    img = decode_rgb(data, str(f.path))
    return hashlib.sha1(data).hexdigest(), img.width, img.height


def read_files(
    files: Sequence[SourceFile], data_root: Path, workers: int | None = None, progress: bool = True
) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Read every file (threads: decoding releases the GIL). Returns (entries, unreadable (path, reason))."""
    workers = workers or min(8, (os.cpu_count() or 1) * 2)

    def work(f: SourceFile):
        try:
            return f, read_file(f), None
        except ImageReadError as e:
            return f, None, str(e)

    entries: list[Entry] = []
    bad: list[tuple[str, str]] = []
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(work, files, chunksize=64)
        for f, info, err in tqdm(results, total=len(files), desc="reading images", disable=not progress):
            if info is None:
                bad.append((str(f.path), err))
                continue
            digest, w, h = info
            rel = os.path.relpath(f.path, data_root).replace(os.sep, "/")
            entries.append(Entry(rel, f.label, "", f.source, digest, w, h, f.official_split))
    return entries, bad


def deduplicate(entries: Iterable[Entry]) -> tuple[list[Entry], DedupReport]:
    """Keep one copy of each content hash; drop every copy of a hash that carries two different labels.

    The kept copy is the official-test one if there is one (so official test sets stay intact), else the first
    by path. Unlabelled images that duplicate any other image are dropped (they add nothing, and would leak).
    """
    groups: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        groups[e.hash].append(e)
    kept: list[Entry] = []
    report = DedupReport()
    for digest in sorted(groups):
        copies = sorted(groups[digest], key=lambda e: (e.label == "", e.official_split != "test", e.path))
        labels = sorted({e.label for e in copies if e.label})
        if len(labels) > 1:
            for e in copies:
                report.conflicts_removed.append({"path": e.path, "label": e.label, "hash": digest, "labels": labels})
            continue
        kept.append(copies[0])
        for e in copies[1:]:
            report.duplicates_removed.append({"path": e.path, "label": e.label, "hash": digest, "kept": copies[0].path})
    return kept, report


def allocate(n: int, fractions: Sequence[float], at_least: int = 0) -> list[int]:
    """Largest-remainder split of ``n`` items: each count is within 1 of ``n * fraction``.

    ``at_least``: every split after the first gets at least this many items once ``n`` allows it (taken from
    the first split), so tiny classes still have a val and a test image.
    """
    total = sum(fractions)
    exact = [n * f / total for f in fractions]
    counts = [int(x) for x in exact]
    order = sorted(range(len(fractions)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    if at_least and n >= at_least * len(fractions):
        for i in range(1, len(counts)):
            short = max(0, at_least - counts[i])
            counts[i] += short
            counts[0] -= short
    return counts


_allocate = allocate  # the name older tests use


def _order_key(seed: int, digest: str) -> str:
    return hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()


def hash_split(key: str, seed: int = 0) -> str:
    """"train", "val" or "test" (70/15/15) from a seeded hash of ``key``: the same name lands in the same split on
    any machine, whatever the listing order (for sets without per-class lists, e.g. segmentation tiles)."""
    u = int(_order_key(seed, key)[:8], 16) / 0xFFFFFFFF
    return "train" if u < 0.70 else "val" if u < 0.85 else "test"


def assign_splits(
    entries: list[Entry], seed: int = 0, official_test: bool = False, fractions: Sequence[float] = DEFAULT_FRACTIONS
) -> list[Entry]:
    """Seeded, stratified train/val/test split (in place; returns ``entries``).

    ``official_test``: images from the official test folders (Intel seg_test, Landscape Testing Data) are the
    test set; the rest is split train/val in the ratio fractions[0]:fractions[1].
    Unlabelled images get split ``"unlabeled"``.
    """
    by_class: dict[str, list[Entry]] = defaultdict(list)
    for e in entries:
        if not e.label:
            e.split = "unlabeled"
        elif official_test and e.official_split == "test":
            e.split = "test"
        else:
            by_class[e.label].append(e)
    split_names = SPLITS[:2] if official_test else SPLITS
    split_fracs = fractions[:2] if official_test else fractions
    for label in sorted(by_class):
        items = sorted(by_class[label], key=lambda e: _order_key(seed, e.hash))
        start = 0
        for name, count in zip(split_names, allocate(len(items), split_fracs)):
            for e in items[start : start + count]:
                e.split = name
            start += count
    return entries


def write_manifest(entries: Iterable[Entry], path: Path) -> Path:
    """Write rows sorted by (split, label, path) so the file itself is reproducible byte for byte."""
    rows = sorted(entries, key=lambda e: (e.split, e.label, e.path))
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS)
    writer.writeheader()
    for e in rows:
        writer.writerow(asdict(e))
    atomic_write_text(path, buf.getvalue())
    return path


def read_manifest(path: Path | str) -> list[Entry]:
    """Read a manifest CSV written by :func:`write_manifest`; clear error if it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {str(path)!r} not found; create it with `python -m tslib prepare`")
    redo = "re-create it with `python -m tslib prepare`"
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = set(MANIFEST_COLUMNS[:5]) - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{path}: not a tslib manifest (missing columns {sorted(missing)}); {redo}")
            out = [_entry(row) for row in reader]
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a text CSV ({e.reason} at byte {e.start}); {redo}") from e
    except _BadRow as e:
        raise ValueError(f"{path}, line {reader.line_num}: {e}; {redo}") from e
    return out


class _BadRow(Exception):
    pass


def _entry(row: dict) -> Entry:
    """One manifest row as an :class:`Entry`, or :class:`_BadRow` saying what is wrong with it."""
    if None in row.values() or None in row:  # csv pads a short row with None and collects a long one's extras
        raise _BadRow("the row has the wrong number of fields")
    label, split = row["label"], row["split"]
    if label and label not in CANONICAL_CLASSES:
        raise _BadRow(f"unknown label {label!r} for {row['path']}")
    if split not in (*SPLITS, "unlabeled"):
        raise _BadRow(f"unknown split {split!r} for {row['path']} (expected {', '.join(SPLITS)} or unlabeled)")
    try:
        width, height = int(row.get("width") or 0), int(row.get("height") or 0)
    except ValueError as e:
        raise _BadRow(f"width/height of {row['path']} are not whole numbers") from e
    return Entry(row["path"], label, split, row["source"], row["hash"], width, height, row.get("official_split", ""))


def count_table(entries: Iterable[Entry]) -> dict[str, Counter]:
    """{class: Counter(split -> n)} over labelled entries."""
    table: dict[str, Counter] = defaultdict(Counter)
    for e in entries:
        if e.label:
            table[e.label][e.split] += 1
    return dict(table)
