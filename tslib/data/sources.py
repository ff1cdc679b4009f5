"""Find the two Kaggle datasets on disk and list their files, whatever folder the user points at.

Intel Image Classification unzips to ``seg_train/seg_train/<class>``, ``seg_test/seg_test/<class>`` and
``seg_pred/seg_pred``; Landscape Recognition to
``Landscape Classification/Landscape Classification/{Training,Validation,Testing} Data/<Class>``. Users point at
the download folder, its parent, or the inner folder: we search a few levels down instead of asking them to
rename anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .classes import INTEL_CLASSES, LANDSCAPE_CLASSES
from .imageio import is_hidden, is_image_name

#: How many folder levels below the given root we look for a dataset's layout.
SEARCH_DEPTH = 4

INTEL_SPLITS = {"seg_train": "train", "seg_test": "test"}
LANDSCAPE_SPLITS = {"Training Data": "train", "Validation Data": "val", "Testing Data": "test"}

INTEL_HELP = (
    "expected the Intel Image Classification layout: seg_train/seg_train/<class>/*.jpg and "
    "seg_test/seg_test/<class>/*.jpg (classes buildings, forest, glacier, mountain, sea, street). Download it with "
    "`python -m tslib download` (Kaggle credentials needed) or "
    "`kaggle datasets download -d puneet6060/intel-image-classification --unzip -p DIR`"
)
LANDSCAPE_HELP = (
    "expected the Landscape Recognition layout: 'Training Data', 'Validation Data', 'Testing Data', each with "
    "Coast, Desert, Forest, Glacier, Mountain folders. Download it with `python -m tslib download` or "
    "`kaggle datasets download -d utkarshsaxenadn/landscape-recognition-image-dataset-12k-images --unzip -p DIR`"
)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root that does not contain the expected layout."""


@dataclass(frozen=True)
class SourceFile:
    """One file found in a dataset tree, before it is read."""

    path: Path  # absolute
    source: str  # "intel" | "landscape"
    label: str  # canonical class, "" for unlabelled (Intel seg_pred)
    official_split: str  # "train" | "val" | "test" | "unlabeled"


def _walk_dirs(root: Path, depth: int) -> Iterator[Path]:
    """Breadth-first directories under ``root`` (itself included), sorted, hidden ones skipped."""
    level = [root]
    for _ in range(depth + 1):
        nxt: list[Path] = []
        for d in level:
            yield d
            try:
                nxt.extend(sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")))
            except OSError:
                continue
        level = nxt


def _find(root: Path | str, is_root: Callable[[Path], bool], help_text: str, name: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{name} root {str(root)!r} is not a folder; {help_text}")
    for d in _walk_dirs(root, SEARCH_DEPTH):
        if is_root(d):
            return d
    raise DatasetNotFoundError(f"no {name} dataset found under {str(root)!r}; {help_text}")


def _is_intel_root(d: Path) -> bool:
    return (d / "seg_train").is_dir() or (d / "seg_test").is_dir()


def _is_landscape_root(d: Path) -> bool:
    return any((d / s).is_dir() for s in LANDSCAPE_SPLITS)


def find_intel_root(root: Path | str) -> Path:
    """The folder holding ``seg_train``/``seg_test`` at or below ``root``; clear error if there is none."""
    return _find(root, _is_intel_root, INTEL_HELP, "Intel Image Classification")


def find_landscape_root(root: Path | str) -> Path:
    """The folder holding ``Training Data`` etc. at or below ``root``; clear error if there is none."""
    return _find(root, _is_landscape_root, LANDSCAPE_HELP, "Landscape Recognition")


def _inner(split_dir: Path) -> Path:
    """Kaggle's zips double the split folder (seg_train/seg_train); accept it single too."""
    doubled = split_dir / split_dir.name
    return doubled if doubled.is_dir() else split_dir


def _files(folder: Path) -> Iterator[Path]:
    """Every non-hidden file below ``folder``, sorted (the order is cosmetic: splits never depend on it)."""
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not is_hidden(p.relative_to(folder)):
            yield p


def _class_folders(split_root: Path, mapping: dict[str, str], help_text: str) -> Iterator[tuple[Path, str]]:
    lookup = {k.lower(): v for k, v in mapping.items()}
    for d in sorted(p for p in split_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = lookup.get(d.name.lower())
        if label is None:
            raise DatasetNotFoundError(f"unexpected class folder {str(d)!r}; {help_text}")
        yield d, label


def index_intel(root: Path | str) -> tuple[list[SourceFile], list[tuple[Path, str]]]:
    """List Intel files. Returns (files, skipped) where skipped holds (path, reason) for non-image names."""
    base = find_intel_root(root)
    files: list[SourceFile] = []
    skipped: list[tuple[Path, str]] = []
    for split_name, split in INTEL_SPLITS.items():
        if not (base / split_name).is_dir():
            continue
        for class_dir, label in _class_folders(_inner(base / split_name), INTEL_CLASSES, INTEL_HELP):
            for p in _files(class_dir):
                if is_image_name(p):
                    files.append(SourceFile(p.resolve(), "intel", label, split))
                else:
                    skipped.append((p, "not an image file (extension)"))
    if (base / "seg_pred").is_dir():
        for p in _files(_inner(base / "seg_pred")):
            if is_image_name(p):
                files.append(SourceFile(p.resolve(), "intel", "", "unlabeled"))
            else:
                skipped.append((p, "not an image file (extension)"))
    if not any(f.label for f in files):
        raise DatasetNotFoundError(f"no labelled images found under {str(base)!r}; {INTEL_HELP}")
    return files, skipped


def index_landscape(root: Path | str) -> tuple[list[SourceFile], list[tuple[Path, str]]]:
    """List Landscape Recognition files. Returns (files, skipped) as :func:`index_intel`."""
    base = find_landscape_root(root)
    files: list[SourceFile] = []
    skipped: list[tuple[Path, str]] = []
    for split_name, split in LANDSCAPE_SPLITS.items():
        if not (base / split_name).is_dir():
            continue
        for class_dir, label in _class_folders(base / split_name, LANDSCAPE_CLASSES, LANDSCAPE_HELP):
            for p in _files(class_dir):
                if is_image_name(p):
                    files.append(SourceFile(p.resolve(), "landscape", label, split))
                else:
                    skipped.append((p, "not an image file (extension)"))
    if not files:
        raise DatasetNotFoundError(f"no images found under {str(base)!r}; {LANDSCAPE_HELP}")
    return files, skipped
