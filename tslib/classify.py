"""Landscape classification end to end: data, model, (cached-feature) training, fine-tuning, evaluation.

``train_classifier`` writes a run folder: ``run.json`` (what was trained, on what), ``config.json``/``history.csv``/
``last.pt``/``best.pt`` from the engine, ``model.pt`` (the full best model, self-contained for prediction) and
``metrics.json`` (``{"val": {...}, "test": {...}}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .checkpoint import load_checkpoint
from .datasets import LandscapeDataset, resolve_manifest
from .engine import ClassificationTask, TrainConfig, fit
from .evaluate import evaluate_loader
from .features import cache_key, cached_features
from .models import Classifier, create_model
from .sampling import make_weighted_sampler
from .transforms import transforms_for
from .utils import atomic_save, atomic_write_text, resolve_device, seed_everything


@dataclass
class ClassifyConfig:
    """Everything a classification run depends on; saved as ``run.json`` and restored by ``--resume``."""

    manifest: str
    model: str = "cnn"
    pretrained: bool = False
    freeze: bool = False
    weights_path: str | None = None
    epochs: int = 10
    unfreeze_after: int | None = None  # head-only epochs, then fine-tune the last backbone stages
    unfreeze_stages: int = 2
    finetune_lr_scale: float = 0.1  # backbone lr = lr * this while fine-tuning
    img_size: int | None = None  # default: the model's own input size
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 256
    dropout: float = 0.3
    label_smoothing: float = 0.0
    limit_per_class: int | None = None  # train and val only; the test set is always complete
    weighted_sampler: bool = True
    augment: bool = True  # the study's augmentation pipeline on training images
    feature_cache: bool | None = None  # default: on whenever the backbone is frozen
    cache_views: int = 1  # view 0 is clean, later views augmented
    tta: bool = False
    num_workers: int = 2
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    patience: int | None = None
    progress: bool = True

    @property
    def frozen_phase(self) -> bool:
        """The backbone is frozen at first: for the whole run (``freeze``) or until ``unfreeze_after``."""
        return self.freeze or bool(self.unfreeze_after)

    @property
    def use_cache(self) -> bool:
        return self.frozen_phase if self.feature_cache is None else self.feature_cache and self.frozen_phase


#: Settings that may change between an interrupted run and its resumption.
RUNTIME_FIELDS = frozenset({"progress", "num_workers", "device", "amp", "tta"})


def _check_resumable(cfg: ClassifyConfig, run_dir: Path) -> None:
    """Refuse to resume a run folder trained with another config: the result would silently mix two runs."""
    path = run_dir / "run.json"
    saved = json.loads(path.read_text())["config"] if path.is_file() else {}
    diff = {k: (saved.get(k), v) for k, v in asdict(cfg).items() if k not in RUNTIME_FIELDS and saved.get(k) != v}
    if diff:
        raise ValueError(f"{run_dir} holds a run with another config {diff} (saved, now); use another run folder, "
                         "delete this one, or resume it with its own config (`python -m tslib train --resume`)")


class TrainingInterrupted(RuntimeError):
    """Training stopped before its last epoch (Ctrl-C, a callback, a crash); ``last.pt`` holds the progress."""


def _check_finished(history: list[dict], epochs: int, patience: int | None, run_dir: Path) -> None:
    """Raise unless the run trained all epochs or stopped early on purpose: an interrupted run must not be
    evaluated and exported as if it were done."""
    if len(history) >= epochs:
        return
    if patience is not None and history:
        scores = [row["val_acc"] for row in history]
        if len(scores) - 1 - scores.index(max(scores)) >= patience:
            return
    raise TrainingInterrupted(
        f"training stopped after epoch {len(history)} of {epochs}; continue with "
        f"`python -m tslib train --resume {run_dir}` (or train_classifier(..., resume=True))"
    )


def preprocessing(model: Classifier, img_size: int | None = None) -> dict:
    """The model's own input size and normalisation, optionally rescaled to ``img_size``."""
    dc = model.data_config
    size = img_size or dc["input_size"]
    resize = round(size * dc["resize_size"] / dc["input_size"])
    return {"size": size, "resize_size": resize, "mean": list(dc["mean"]), "std": list(dc["std"]),
            "interpolation": dc.get("interpolation", "bilinear")}


def _loader(ds: Dataset, cfg: ClassifyConfig, device: torch.device, train: bool, seed_offset: int = 0,
            workers: int | None = None) -> DataLoader:
    generator = torch.Generator().manual_seed(cfg.seed + seed_offset)
    sampler = make_weighted_sampler(ds.targets, seed=cfg.seed + seed_offset) if train and cfg.weighted_sampler else None
    return DataLoader(
        ds, batch_size=cfg.batch_size, shuffle=train and sampler is None, sampler=sampler, generator=generator,
        # Not persistent: workers are re-seeded from the per-epoch generator, which exact resume relies on.
        num_workers=cfg.num_workers if workers is None else workers, pin_memory=device.type == "cuda",
        persistent_workers=False,
        drop_last=False,
    )


def _datasets(cfg: ClassifyConfig, prep: dict, classes: list[str] | None = None) -> dict[str, LandscapeDataset]:
    ev = transforms_for(prep)
    tr = transforms_for(prep, train=True) if cfg.augment else ev
    out = {}
    for split, tf, limit in (("train", tr, cfg.limit_per_class), ("val", ev, cfg.limit_per_class), ("test", ev, None)):
        try:
            out[split] = LandscapeDataset(cfg.manifest, split, tf, classes=classes, limit_per_class=limit, seed=cfg.seed)
        except ValueError as e:
            if split != "test" or "is empty" not in str(e):
                raise
        classes = classes or out["train"].classes
    return out


def _train_head_on_cache(model, cfg, prep, data, device, run_dir, fit_kw) -> list[dict]:
    """Train only the head on cached backbone features (same loop, feature vectors as 'images')."""
    key = cache_key(model=cfg.model, pretrained=cfg.pretrained, weights=cfg.weights_path, prep=prep,
                    manifest=str(resolve_manifest(cfg.manifest).resolve()), limit=cfg.limit_per_class,
                    views=cfg.cache_views, seed=cfg.seed, augment=cfg.augment)
    clean = LandscapeDataset(cfg.manifest, "train", transforms_for(prep), classes=data["train"].classes,
                             limit_per_class=cfg.limit_per_class, seed=cfg.seed)

    def train_view(view: int) -> DataLoader:
        ds = clean if view == 0 else data["train"]
        return DataLoader(ds, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                          generator=torch.Generator().manual_seed(cfg.seed * 1000 + view),
                          pin_memory=device.type == "cuda")

    train_f = cached_features(run_dir / "features" / f"train-{key}.pt", model.backbone, train_view,
                              cfg.cache_views, device, cfg.progress)
    val_f = cached_features(run_dir / "features" / f"val-{key}.pt", model.backbone,
                            lambda _: _loader(data["val"], cfg, device, train=False), 1, device, cfg.progress)
    # Feature tensors are indexed in memory: worker processes would only add start-up time each epoch.
    return fit(model.head, ClassificationTask(cfg.label_smoothing), _loader(train_f, cfg, device, True, workers=0),
               _loader(val_f, cfg, device, False, workers=0), run_dir=run_dir, **fit_kw)


def train_classifier(
    cfg: ClassifyConfig, run_dir: str | Path, resume: bool | str = False,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> dict:
    """Train, pick the best epoch on val, evaluate it on val and test; returns the metrics dict.

    ``resume``: True continues from ``run_dir/last.pt``; "auto" does so when it exists (what a notebook cell
    that may be re-run wants). Resuming checks that the run folder was trained with the same config.
    """
    run_dir = Path(run_dir)
    if resume == "auto":
        resume = (run_dir / "last.pt").is_file()
    if resume:
        _check_resumable(cfg, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    classes = LandscapeDataset(cfg.manifest, "train").classes
    model = create_model(cfg.model, len(classes), pretrained=cfg.pretrained, freeze=cfg.frozen_phase,
                         hidden=cfg.hidden, dropout=cfg.dropout, weights_path=cfg.weights_path)
    prep = preprocessing(model, cfg.img_size)
    data = _datasets(cfg, prep, classes)
    info = {"config": asdict(cfg), "classes": classes, "preprocessing": prep, "trained": "head" if cfg.freeze and not cfg.unfreeze_after else "model"}
    atomic_write_text(run_dir / "run.json", json.dumps(info, indent=2))

    head_epochs = cfg.unfreeze_after or cfg.epochs
    train_cfg = TrainConfig(epochs=head_epochs, lr=cfg.lr, weight_decay=cfg.weight_decay, device=cfg.device,
                            amp=cfg.amp, patience=cfg.patience, seed=cfg.seed, progress=cfg.progress)
    fit_kw = dict(config=train_cfg, classes=classes, callbacks=callbacks, resume=resume, extra_config={"classify": asdict(cfg)})
    if cfg.use_cache:
        history = _train_head_on_cache(model, cfg, prep, data, device, run_dir, fit_kw)
        _check_finished(history, head_epochs, cfg.patience, run_dir)
        model.head.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
    else:
        history = fit(model, ClassificationTask(cfg.label_smoothing), _loader(data["train"], cfg, device, True),
                      _loader(data["val"], cfg, device, False), run_dir=run_dir, **fit_kw)
        _check_finished(history, head_epochs, cfg.patience, run_dir)
        model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])

    if cfg.unfreeze_after and cfg.epochs > cfg.unfreeze_after:
        # Discriminative fine-tuning: the last stages learn at a fraction of the head's lr.
        backbone_params = model.unfreeze_last(cfg.unfreeze_stages)
        groups = [{"params": list(model.head.parameters()), "lr": cfg.lr},
                  {"params": backbone_params, "lr": cfg.lr * cfg.finetune_lr_scale}]
        ft_cfg = TrainConfig(**{**asdict(train_cfg), "epochs": cfg.epochs - cfg.unfreeze_after})
        ft_resume = resume and (run_dir / "finetune" / "last.pt").is_file()  # phase 2 may not have started
        history = fit(model, ClassificationTask(cfg.label_smoothing), _loader(data["train"], cfg, device, True),
                      _loader(data["val"], cfg, device, False), run_dir=run_dir / "finetune", param_groups=groups,
                      **{**fit_kw, "config": ft_cfg, "resume": ft_resume})
        _check_finished(history, ft_cfg.epochs, cfg.patience, run_dir)
        model.load_state_dict(load_checkpoint(run_dir / "finetune" / "best.pt")["model"])

    atomic_save({"model": model.state_dict(), "name": cfg.model, "classes": classes, "preprocessing": prep,
                 "hidden": cfg.hidden, "dropout": cfg.dropout}, run_dir / "model.pt")
    return evaluate_run(run_dir, splits=[s for s in ("val", "test") if s in data], model=model, tta=cfg.tta)


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Classifier, dict]:
    """The trained model of a run folder (from ``model.pt``: no pretrained download needed) and its run info."""
    run_dir = Path(run_dir)
    path = run_dir / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a finished run? (resume it with --resume)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model(saved["name"], len(saved["classes"]), hidden=saved["hidden"], dropout=saved["dropout"])
    model.load_state_dict(saved["model"])
    info = json.loads((run_dir / "run.json").read_text())
    return model.to(resolve_device(device)).eval(), info


def evaluate_run(run_dir: str | Path, splits: Sequence[str] = ("test",), model: Classifier | None = None,
                 tta: bool | None = None, device: str | None = None) -> dict:
    """Evaluate a run's model on manifest splits; merges the results into ``run_dir/metrics.json``.

    With ``tta`` (default: the run's config) each split is also evaluated with flip TTA, stored as
    ``"<split>_tta"``, so the plain numbers stay comparable."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    cfg = ClassifyConfig(**{k: v for k, v in info["config"].items() if k in {f.name for f in fields(ClassifyConfig)}})
    dev = resolve_device(device or cfg.device)
    if model is None:
        model, _ = load_run(run_dir, str(dev))
    prep = info["preprocessing"]
    tf = transforms_for(prep)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    use_tta = cfg.tta if tta is None else tta
    for split in splits:
        limit = cfg.limit_per_class if split != "test" else None
        ds = LandscapeDataset(cfg.manifest, split, tf, classes=info["classes"], limit_per_class=limit, seed=cfg.seed)
        loader = _loader(ds, cfg, dev, train=False)
        for key, flip in ((split, False), (f"{split}_tta", True))[: 2 if use_tta else 1]:
            metrics[key] = evaluate_loader(model, loader, info["classes"], dev, tta=flip, progress=cfg.progress)
    atomic_write_text(metrics_path, json.dumps(metrics, indent=2))
    return metrics
