"""Procedural landscape generator: the offline default dataset and the learnable data for tests.

Every image is drawn with numpy only (fractal value noise, gradients, masks) from its own RNG,
``np.random.default_rng([seed, class_index, index, stream])``, so a picture never depends on call order,
on how many images are written or on global random state. :func:`write_synthetic` lays the images out
exactly like the two real Kaggle downloads (Intel Image Classification and Landscape Recognition).

``difficulty`` picks how hard the classes are to tell apart. "realistic" (the default) makes them confusable the
way the real photos are: shared elements (facades in streets, roads before buildings, snow-clad peaks behind
glaciers, rock in glacier scenes, mountains and cliffs behind the sea, rocky hills behind dunes), dusk, overcast,
haze, foreground poles and trees, and ~3% label noise (an image painted as a neighbouring class, see
:data:`tslib.data.scenes.NEIGHBOURS`). "easy" gives every class its own look: a learnable signal for tests.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import check_out_dir
from .classes import CANONICAL_CLASSES, INTEL_CLASSES, LANDSCAPE_CLASSES
from .manifest import allocate
from .scenes import F32, NEIGHBOURS, PAINTERS, RENDER_MAX
from .scenes_kit import clutter, light

#: Index streams, so the two sources (and Intel's unlabelled seg_pred) never share an image.
STREAM_INTEL, STREAM_LANDSCAPE, STREAM_PRED = 0, 1, 2
INTEL_SIZE, LANDSCAPE_SIZE = 150, 224
LANDSCAPE_ROOT = ("Landscape Classification", "Landscape Classification")
LANDSCAPE_SPLITS = (("Training Data", "Train"), ("Validation Data", "Valid"), ("Testing Data", "Test"))
#: Difficulty name -> painter hardness (0: every class its own look; 1: the real sets' look-alikes).
DIFFICULTIES = {"easy": 0.0, "realistic": 1.0}


def resolve_difficulty(difficulty: str | None = None) -> str:
    """``difficulty``, else ``$TSLIB_PROCEDURAL``, else "realistic": how confusable the procedural classes are
    ("realistic": like the real photos; "easy": every class its own look, a learnable signal for tests)."""
    env = os.environ.get("TSLIB_PROCEDURAL", "").strip().lower()
    if not difficulty and env and env not in DIFFICULTIES:
        raise ValueError(f"$TSLIB_PROCEDURAL={env!r} is not a difficulty; valid: {sorted(DIFFICULTIES)}")
    if difficulty and difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty {difficulty!r} is not one of {sorted(DIFFICULTIES)}")
    return difficulty or env or "realistic"


#: Share of realistic images painted as a neighbouring class but labelled as their own (seeded).
LABEL_NOISE = 0.03


def hardness(difficulty: str) -> float:
    """The painter hardness of a difficulty name; raises ValueError for an unknown one."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; valid: {sorted(DIFFICULTIES)}")
    return DIFFICULTIES[difficulty]


def generate_image(
    cls: str, size: int = 150, seed: int = 0, index: int = 0, *, stream: int = 0, difficulty: str = "realistic"
) -> np.ndarray:
    """HxWx3 uint8 image of class `cls`; the same (cls, size, seed, index, stream, difficulty) always gives the
    same pixels.

    ``stream`` picks one of several independent image sequences per class (one per dataset source), so the
    same index in two streams gives two different pictures. Sizes above ``RENDER_MAX`` are drawn at
    ``RENDER_MAX`` and enlarged (bicubic). ``difficulty``: "realistic" (confusable classes, lighting, clutter,
    ~3% label noise) or "easy" (every class its own look), see the module docstring.
    """
    if cls not in PAINTERS:
        raise ValueError(f"unknown class {cls!r}; valid classes: {list(CANONICAL_CLASSES)}")
    if int(size) < 32:
        raise ValueError(f"size must be >= 32, got {size}")
    h = hardness(difficulty)
    size, r = int(size), min(int(size), RENDER_MAX)
    rng = np.random.default_rng([seed, CANONICAL_CLASSES.index(cls), index, stream])
    painted = cls
    if rng.random() < LABEL_NOISE * h:  # label noise: a neighbouring class's picture under this label
        painted = NEIGHBOURS[cls][int(rng.integers(len(NEIGHBOURS[cls])))]
    img = PAINTERS[painted](rng, r, h)
    clutter(rng, img, h)
    light(rng, img, h)
    if rng.random() < 0.5:
        img = np.ascontiguousarray(img[:, ::-1])
    img *= (rng.uniform(0.85, 1.15) * rng.uniform(0.94 - 0.06 * h, 1.06 + 0.06 * h, 3)).astype(F32)
    grain = rng.random((r, r, 1), F32)
    grain -= F32(0.5)
    grain *= F32(rng.uniform(4, 14))
    img += grain  # film grain
    out = np.clip(img, 0, 255, out=img).astype(np.uint8)
    if r < size:
        out = np.asarray(Image.fromarray(out).resize((size, size), Image.Resampling.BICUBIC))
    return out


def _render(job: tuple[str, int, int, int, int, str, Path]) -> None:
    cls, size, seed, index, stream, difficulty, path = job
    img = generate_image(cls, size, seed, index, stream=stream, difficulty=difficulty)
    Image.fromarray(img).save(path, format="JPEG", quality=90)


def write_synthetic(
    out: str | Path, per_class: int = 60, size: int | None = None, seed: int = 0, workers: int | None = None,
    difficulty: str = "realistic",
) -> dict[str, Path]:
    """Write out/intel and out/landscape in the real Kaggle layouts; return {"intel": ..., "landscape": ...}.

    Intel (150 px by default): ``seg_train/seg_train/<class>/<n>.jpg`` (~80% of ``per_class``),
    ``seg_test/seg_test/<class>/<n>.jpg`` (~20%) and a few unlabelled ``seg_pred/seg_pred/<n>.jpg``.
    Landscape (224 px by default): ``Landscape Classification/Landscape Classification/{Training,Validation,
    Testing} Data/<Class>/<Class>-{Train,Valid,Test} (<k>).jpeg`` (~70/15/15). ``size`` overrides both.
    Files of the same names are overwritten, nothing is deleted. ``workers`` threads draw the images
    (default: up to 4); the files do not depend on it. ``difficulty``: "realistic" or "easy" (module docstring).
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    hardness(difficulty)
    out = check_out_dir(out)
    intel, land = out / "intel", out / "landscape"
    isize, lsize = (size, size) if size is not None else (INTEL_SIZE, LANDSCAPE_SIZE)

    n_train, _ = allocate(per_class, (0.8, 0.2), at_least=1)
    labelled = [(cls, i) for cls in INTEL_CLASSES for i in range(per_class)]
    pick = np.random.default_rng([seed, len(CANONICAL_CLASSES), 0, STREAM_PRED])
    pred = [INTEL_CLASSES[str(c)] for c in pick.choice(list(INTEL_CLASSES), max(2, per_class // 5))]
    # Integer file names like Intel's, unique across the whole intel tree, in no telling order.
    namer = np.random.default_rng([seed, len(CANONICAL_CLASSES), 1, STREAM_PRED])
    names = namer.permutation(4 * (len(labelled) + len(pred)))
    jobs: list[tuple[str, int, int, int, int, str, Path]] = []
    for (folder, i), name in zip(labelled, names):
        split = "seg_train" if i < n_train else "seg_test"
        path = intel / split / split / folder / f"{name}.jpg"
        jobs.append((INTEL_CLASSES[folder], isize, seed, i, STREAM_INTEL, difficulty, path))
    for k, (cls, name) in enumerate(zip(pred, names[len(labelled) :])):
        jobs.append((cls, isize, seed, k, STREAM_PRED, difficulty, intel / "seg_pred" / "seg_pred" / f"{name}.jpg"))

    root = land.joinpath(*LANDSCAPE_ROOT)
    counts = allocate(per_class, (0.7, 0.15, 0.15), at_least=1)
    for folder, cls in LANDSCAPE_CLASSES.items():
        i = 0
        for (split_dir, tag), count in zip(LANDSCAPE_SPLITS, counts):
            for k in range(1, count + 1):
                path = root / split_dir / folder / f"{folder}-{tag} ({k}).jpeg"
                jobs.append((cls, lsize, seed, i, STREAM_LANDSCAPE, difficulty, path))
                i += 1

    for parent in sorted({job[-1].parent for job in jobs}):
        parent.mkdir(parents=True, exist_ok=True)
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    if workers <= 1:
        for job in jobs:
            _render(job)
    else:
        with ThreadPoolExecutor(workers) as pool:  # numpy and Pillow release the GIL for the heavy parts
            list(pool.map(_render, jobs))
    return {"intel": intel, "landscape": land}
