"""Predict classes of image files with a trained run; unreadable files are reported, never fatal."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from ...data.imageio import ImageReadError, is_hidden, is_image_name, load_rgb, to_rgb
from ...data.transforms import transforms_for
from .metrics import softmax_probs


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


@torch.no_grad()
def predict_images(model, images: list[Image.Image], preprocessing: dict, classes: list[str],
                   tta: bool = False, top_k: int = 1) -> list[dict]:
    """Class and probability for PIL images (e.g. from an upload widget)."""
    device = next(model.parameters()).device
    tf = transforms_for(preprocessing)
    x = torch.stack([tf(tv_tensors.Image(F.pil_to_tensor(to_rgb(im)))) for im in images]).to(device)
    model.eval()
    probs = softmax_probs(model, x, tta)
    top = probs.topk(min(top_k, len(classes)), dim=1)
    return [
        {"class": classes[int(i[0])], "prob": float(v[0]),
         "top": [(classes[int(j)], float(q)) for q, j in zip(v, i)]}
        for v, i in zip(top.values.cpu(), top.indices.cpu())
    ]


def predict(run_or_model, paths: Iterable[str | Path], batch_size: int = 32, tta: bool = False,
            device: str = "cpu", info: dict | None = None) -> list[dict]:
    """One dict per input file: ``{"path", "class", "prob"}`` or ``{"path", "error"}`` for unreadable files.

    ``run_or_model``: a run folder, or a model together with ``info`` (``{"classes", "preprocessing"}``).
    """
    if isinstance(run_or_model, str | Path):
        from .evaluate import load_run

        model, info = load_run(run_or_model, device)
    else:
        model = run_or_model
        if info is None:
            raise ValueError("pass info={'classes': ..., 'preprocessing': ...} with a model")
    files, results = collect_images(paths)
    batch: list[tuple[Path, Image.Image]] = []

    def flush() -> None:
        preds = predict_images(model, [im for _, im in batch], info["preprocessing"], info["classes"], tta)
        results.extend({"path": str(p), **pred} for (p, _), pred in zip(batch, preds))
        batch.clear()

    for f in files:
        try:
            batch.append((f, load_rgb(f)))
        except ImageReadError as e:
            results.append({"path": str(f), "error": str(e).removeprefix(f"{f}: ")})
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    order = {str(f): i for i, f in enumerate(files)}
    return sorted(results, key=lambda r: order.get(r["path"], -1))
