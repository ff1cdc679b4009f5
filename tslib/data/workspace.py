"""What a notebook calls first: find the data (or make the procedural stand-in) and a prepared manifest.

The data root comes from an argument or ``$TSLIB_DATA`` (default ``data``); everything written (procedural data,
manifests, runs) goes under the work folder, an argument or ``$TSLIB_RUNS`` (default ``runs``), so a read-only
data folder is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .prepare import PROCEDURAL_MARKER, format_report, is_procedural, prepare
from .sources import DatasetNotFoundError, find_intel_root, find_landscape_root
from .synth import resolve_difficulty  # noqa: F401 - part of this module's API too

PROCEDURAL_TAG = "PROCEDURAL DATA (built-in generator, not real photos)"


def data_root(path: Path | str | None = None) -> Path:
    return Path(path or os.environ.get("TSLIB_DATA") or "data").expanduser()


def work_root(path: Path | str | None = None) -> Path:
    return Path(path or os.environ.get("TSLIB_RUNS") or "runs").expanduser()


def run_profile(smoke: bool = False) -> str:
    """"smoke" (CI: seconds), "gpu" (Colab-scale settings) or "cpu" (a few minutes per notebook): notebooks pick
    epochs, image sizes and backbones from this, so the main job finishes on a laptop and shines on a GPU."""
    import torch

    if smoke:
        return "smoke"
    return "gpu" if torch.cuda.is_available() else "cpu"


#: what each profile adds to a notebook's run folder name: a smoke run is never resumed as a real one
PROFILE_SUFFIX = {"gpu": "", "cpu": "-cpu", "smoke": "-smoke"}


def run_path(notebook: str, *parts: str, profile: str = "gpu", work: Path | str | None = None) -> Path:
    """Where a notebook's runs of ``profile`` live: ``$TSLIB_RUNS/<notebook>[-cpu|-smoke]/<parts...>``. Every
    notebook finds another's runs through this (notebook 05 the judge of 03, 07 the runs of 04-06), so with
    ``RUNS_ON_DRIVE`` in Colab they are found across sessions."""
    if profile not in PROFILE_SUFFIX:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILE_SUFFIX)}")
    return (work_root(work) / f"{notebook}{PROFILE_SUFFIX[profile]}").joinpath(*parts)


def write_procedural(out: Path | str, per_class: int = 60, size: int | None = None, seed: int = 0,
                     difficulty: str | None = None) -> dict:
    """Write the procedural dataset in both Kaggle layouts and mark the folder as procedural; ``difficulty``:
    see :func:`resolve_difficulty`."""
    from .synth import write_synthetic

    out, difficulty = Path(out), resolve_difficulty(difficulty)
    paths = write_synthetic(out, per_class=per_class, size=size, seed=seed, difficulty=difficulty)
    (out / PROCEDURAL_MARKER).write_text(
        f"{PROCEDURAL_TAG}: written by `python -m tslib synth` "
        f"(per_class={per_class}, seed={seed}, difficulty={difficulty}).\n"
    )
    return paths


@dataclass
class DataSetup:
    manifest_dir: Path
    report: dict
    intel: Path | None
    landscape: Path | None

    @property
    def procedural(self) -> bool:
        return bool(self.report.get("procedural"))

    @property
    def tag(self) -> str:
        """Label for titles and printouts: says loudly when the data is not real."""
        return PROCEDURAL_TAG if self.procedural else "real data"

    @property
    def classes(self) -> list[str]:
        return self.report["classes"]

    def summary(self) -> str:
        return format_report(self.report)


def _find_or_none(finder, root: Path) -> Path | None:
    try:
        return finder(root)
    except DatasetNotFoundError:
        return None


def setup_data(
    root: Path | str | None = None,
    work: Path | str | None = None,
    smoke: bool = False,
    seed: int = 0,
    official_test: bool = False,
    procedural_per_class: int | None = None,
    procedural_difficulty: str | None = None,
) -> DataSetup:
    """Find Intel and/or Landscape under ``root``; without either, generate the procedural dataset (its
    difficulty: ``procedural_difficulty``, else ``$TSLIB_PROCEDURAL``, else "realistic"). Then prepare (or
    reuse) a manifest for them under ``work/manifests``."""
    root, work = data_root(root), work_root(work)
    intel = _find_or_none(find_intel_root, root) if root.is_dir() else None
    landscape = _find_or_none(find_landscape_root, root) if root.is_dir() else None
    if intel is None and landscape is None:
        # images per class and source: the cpu profile's smaller test split keeps the main job near 21 minutes
        per_class = procedural_per_class or {"smoke": 24, "cpu": 200}.get(run_profile(smoke), 300)
        difficulty = resolve_difficulty(procedural_difficulty)
        synth_dir = work / f"procedural-{difficulty}-{per_class}-s{seed}"
        if not (synth_dir / PROCEDURAL_MARKER).is_file():
            write_procedural(synth_dir, per_class=per_class, seed=seed, difficulty=difficulty)
        intel, landscape = synth_dir / "intel", synth_dir / "landscape"
    key = json.dumps([str(intel and intel.resolve()), str(landscape and landscape.resolve()), seed, official_test])
    manifest_dir = work / "manifests" / hashlib.sha1(key.encode()).hexdigest()[:10]
    report_path = manifest_dir / "report.json"
    if report_path.is_file() and (manifest_dir / "manifest.csv").is_file():
        report = json.loads(report_path.read_text())
    else:
        report = prepare(manifest_dir, intel=intel, landscape=landscape, seed=seed, official_test=official_test).report
    report["procedural"] = report.get("procedural") or any(is_procedural(p) for p in (intel, landscape) if p)
    return DataSetup(manifest_dir, report, intel, landscape)


AERIAL_TAG = "PROCEDURAL AERIAL MAPS (built-in generator, not real orthophotos)"


@dataclass
class LandcoverSetup:
    root: Path
    report: dict
    procedural: bool

    @property
    def tag(self) -> str:
        return AERIAL_TAG if self.procedural else "Landcover.ai v1"

    def orthophoto(self, split: str = "test") -> tuple[Path, float]:
        """The orthophoto with the largest share of ``split`` tiles (Landcover.ai splits by tile, so every whole
        orthophoto mixes splits) and that share."""
        listed = {n.strip() for n in (self.root / f"{split}.txt").read_text().splitlines() if n.strip()}
        best, share = None, -1.0
        for image in sorted((self.root / "images").glob("*.tif")):
            tiles = [t for t in (self.root / "output").glob(f"{image.stem}_*.jpg")]
            s = sum(t.stem in listed for t in tiles) / max(1, len(tiles))
            if s > share:
                best, share = image, s
        if best is None:
            raise DatasetNotFoundError(f"no orthophotos in {self.root / 'images'}")
        return best, share


def setup_landcover(root: Path | str | None = None, work: Path | str | None = None, smoke: bool = False,
                    seed: int = 0, maps: int | None = None,
                    procedural_difficulty: str | None = None) -> LandcoverSetup:
    """Landcover.ai under ``root`` (``python -m tslib download --datasets landcover`` puts it in ``root/landcover``),
    tiled if it is not yet; without it, procedural aerial maps under ``work`` (``maps`` orthophotos of 2048 px,
    default 4, or 3 small ones for ``smoke``; ``procedural_difficulty`` as :func:`resolve_difficulty`), tiled the
    same way."""
    from .aerial import AERIAL_MARKER, write_aerial
    from .landcover import find_landcover_root, prepare_landcover

    root, work = data_root(root), work_root(work)
    found = None
    for candidate in (root / "landcover", root):
        try:
            found = find_landcover_root(candidate) if candidate.is_dir() else None
        except DatasetNotFoundError:
            continue
        if found:
            break
    if found is None:
        maps = maps or (3 if smoke else 4)
        h, w = (1024, 1536) if smoke else (2048, 2048)
        difficulty = resolve_difficulty(procedural_difficulty)
        found = work / f"procedural-aerial-{difficulty}-{maps}x{h}x{w}-s{seed}"
        if not (found / AERIAL_MARKER).is_file():
            write_aerial(found, n_images=maps, height=h, width=w, seed=seed, difficulty=difficulty)
    report = prepare_landcover(found, progress=not smoke)  # skips tiles already written
    return LandcoverSetup(found, report, (found / AERIAL_MARKER).is_file())
