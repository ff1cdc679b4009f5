"""Predict classes of image files with a trained run: calibrated probabilities, and ``uncertain`` for photos unlike
the training ones; unreadable files are reported, never fatal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from ...data.fastaug import transforms_for
from ...data.imageio import ImageReadError, is_hidden, is_image_name, load_rgb, to_rgb
from ...engine.precision import autocast
from ...models import Classifier
from .trust import TrustedClassifier, load_trusted


def collect_images(paths: Iterable[str | Path]) -> tuple[list[Path], list[dict]]:
    """Expand folders (recursively, hidden files skipped) into image files; missing paths are reported."""
    files: list[Path] = []
    problems: list[dict] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and is_image_name(f)
                            and not is_hidden(f.relative_to(p)))
        elif p.is_file():
            files.append(p)
        else:
            problems.append({"path": str(p), "error": "no such file or folder"})
    return files, problems


def image_batches(files: Sequence[Path], preprocessing: dict, batch_size: int = 32,
                  errors: list[dict] | None = None) -> Iterator[dict]:
    """``{"image": [B, 3, H, W], "path": [...]}`` batches of the readable ``files`` under the run's eval transform;
    an unreadable file is appended to ``errors`` as ``{"path", "error"}`` and skipped."""
    tf = transforms_for(preprocessing)
    batch: list[tuple[Path, Tensor]] = []
    for f in files:
        try:
            batch.append((f, tf(tv_tensors.Image(F.pil_to_tensor(load_rgb(f))))))
        except ImageReadError as e:
            if errors is not None:
                errors.append({"path": str(f), "error": str(e).removeprefix(f"{f}: ")})
        if len(batch) == batch_size:
            yield _stack(batch)
            batch = []
    if batch:
        yield _stack(batch)


def _stack(batch: list[tuple[Path, Tensor]]) -> dict:
    return {"image": torch.stack([x for _, x in batch]), "path": [str(p) for p, _ in batch]}


def _results(trusted: TrustedClassifier, x: Tensor, classes: list[str], tta: bool, top_k: int) -> list[dict]:
    """One dict per image of batch ``x``: class, calibrated probability, top-k, OOD score and ``uncertain``.
    The forward pass runs under the same autocast as ``evaluate`` (:func:`~tslib.engine.inference.run_batches`),
    the scores in fp32, so both mark the same images uncertain."""
    with autocast(x.device):
        probs, _, score = trusted(x)
        if tta:  # the class probabilities average with the mirror image's; the OOD score stays the plain image's
            probs = (probs + trusted(x.flip(-1))[0]) / 2
    top = probs.topk(min(top_k, len(classes)), dim=1)
    out = []
    for v, i, s in zip(top.values.cpu(), top.indices.cpu(), score.cpu()):
        r = {"class": classes[int(i[0])], "prob": float(v[0]),
             "top": [(classes[int(j)], float(q)) for q, j in zip(v, i)], "score": float(s)}
        if trusted.threshold is not None:
            r["uncertain"] = bool(s < trusted.threshold)
        out.append(r)
    return out


def as_trusted(model: Classifier | TrustedClassifier) -> TrustedClassifier:
    """A plain classifier as a :class:`TrustedClassifier` with temperature 1 and no rejection."""
    return model if isinstance(model, TrustedClassifier) else TrustedClassifier(model)


@torch.no_grad()
def predict_images(model: Classifier | TrustedClassifier, images: list[Image.Image], preprocessing: dict,
                   classes: list[str], tta: bool = False, top_k: int = 1) -> list[dict]:
    """Class and probability for PIL images (e.g. from an upload widget); a :class:`TrustedClassifier` (from
    :func:`~.trust.load_trusted`) adds calibrated probabilities and ``uncertain``."""
    trusted = as_trusted(model).eval()
    device = next(trusted.parameters()).device
    tf = transforms_for(preprocessing)
    x = torch.stack([tf(tv_tensors.Image(F.pil_to_tensor(to_rgb(im)))) for im in images]).to(device)
    return _results(trusted, x, classes, tta, top_k)


@torch.no_grad()
def score_files(trusted: TrustedClassifier, paths: Iterable[str | Path], preprocessing: dict, classes: list[str],
                batch_size: int = 32, tta: bool = False, top_k: int = 1) -> list[dict]:
    """:func:`predict`'s results for image files and folders, in input order; unreadable ones as ``{"path",
    "error"}``."""
    files, results = collect_images(paths)
    trusted.eval()
    device = next(trusted.parameters()).device
    for batch in image_batches(files, preprocessing, batch_size, results):
        preds = _results(trusted, batch["image"].to(device), classes, tta, top_k)
        results.extend({"path": p, **r} for p, r in zip(batch["path"], preds))
    order = {str(f): i for i, f in enumerate(files)}
    return sorted(results, key=lambda r: order.get(r["path"], -1))


def predict(run_or_model, paths: Iterable[str | Path], batch_size: int = 32, tta: bool = False,
            device: str = "cpu", info: dict | None = None, calibrate: bool = True, reject: bool = True,
            top_k: int = 1) -> list[dict]:
    """One dict per input file: ``{"path", "class", "prob", "top", "score"[, "uncertain"]}``, or ``{"path",
    "error"}`` for unreadable files.

    ``run_or_model``: a run folder (its fitted temperature applies unless ``calibrate=False``; its OOD threshold
    marks photos ``uncertain`` unless ``reject=False``), or a model (or :class:`TrustedClassifier`) together with
    ``info`` (``{"classes", "preprocessing"}``).
    """
    if isinstance(run_or_model, str | Path):
        trusted, info = load_trusted(run_or_model, device, calibrate=calibrate, reject=reject)
    else:
        trusted = as_trusted(run_or_model)
        if info is None:
            raise ValueError("pass info={'classes': ..., 'preprocessing': ...} with a model")
    return score_files(trusted, paths, info["preprocessing"], info["classes"], batch_size, tta, top_k)
