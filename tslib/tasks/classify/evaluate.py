"""A finished classification run: load its model, evaluate it on manifest splits, merge into ``metrics.json``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...engine import runs
from ...errors import RunFolderError
from ...models import Classifier
from ...utils import resolve_device
from .config import ClassifyConfig
from .data import run_loader, split_dataset
from .metrics import evaluate_loader


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Classifier, dict]:
    """The trained model of a run folder (from ``model.pt``: no pretrained download needed) and its run info."""
    info = runs.read_run_info(run_dir)
    if info["task"] != "classify":
        raise RunFolderError(f"{run_dir} is a {info['task']} run, not a classification run")
    model, _ = runs.load_model(run_dir, device)
    return model, info


def evaluate_run(run_dir: str | Path, splits: Sequence[str] = ("test",), model: Classifier | None = None,
                 tta: bool | None = None, device: str | None = None) -> dict:
    """Evaluate a run's model on manifest splits; merges the results into ``run_dir/metrics.json``.

    With ``tta`` (default: the run's config) each split is also evaluated with flip TTA, stored as
    ``"<split>_tta"``, so the plain numbers stay comparable."""
    run_dir = Path(run_dir)
    info = runs.read_run_info(run_dir)
    cfg = runs.load_config(run_dir, ClassifyConfig)
    dev = resolve_device(device or cfg.train.device)
    if model is None:
        model, _ = load_run(run_dir, str(dev))
    use_tta = cfg.tta if tta is None else tta
    new = {}
    for split in splits:
        ds = split_dataset(cfg, split, info["preprocessing"], info["classes"])
        ds.check_files()
        loader = run_loader(ds, cfg, dev, train=False)
        for key, flip in ((split, False), (f"{split}_tta", True))[: 2 if use_tta else 1]:
            new[key] = evaluate_loader(model, loader, info["classes"], dev, tta=flip, progress=cfg.train.progress)
    return runs.merge_metrics(run_dir, new)
