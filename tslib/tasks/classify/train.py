"""Landscape classification end to end: data, model, (cached-feature) training, fine-tuning, calibration, export.

``train_classifier`` writes a run folder (:mod:`tslib.engine.runs`): ``run.json``, the engine's files, ``model.pt``
and ``metrics.json`` (``{"val": {...}, "test": {...}}``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from torch.utils.data import DataLoader

from ...data.datasets import LandscapeDataset, resolve_manifest
from ...engine import fit, runs
from ...models import create_model
from .config import ClassifyConfig
from .data import preprocessing, run_datasets, run_loader, train_loader
from .evaluate import evaluate_run, fit_run_trust
from .features import cache_key, cached_features
from .task import ClassificationTask

#: Phases of a run, as ``run.json`` lists them: the head (or whole model) in the run folder, fine-tuning below it.
HEAD_PHASE = {"name": "head", "dir": "."}
FINETUNE_PHASE = {"name": "fine-tune", "dir": "finetune"}


def _train_head_on_cache(model, cfg: ClassifyConfig, prep, data, device, run_dir: Path, fit_kw):
    """Train only the head on cached backbone features (same loop, feature vectors as 'images')."""
    key = cache_key(model=cfg.model, pretrained=cfg.pretrained, weights=cfg.weights_path, prep=prep,
                    manifest=str(resolve_manifest(cfg.manifest).resolve()), limit=cfg.limit_per_class,
                    views=cfg.cache_views, seed=cfg.train.seed, augment=cfg.augment)
    # View 0 is the clean (eval-transform) view; later views are augmented.
    clean = copy.copy(data["train"])
    clean.transforms = data["val"].transforms

    def train_view(view: int) -> DataLoader:
        ds = clean if view == 0 else data["train"]
        return run_loader(ds, cfg, device, train=False, seed_offset=cfg.train.seed * 999 + view)

    train_f = cached_features(run_dir / "features" / f"train-{key}.pt", model.backbone, train_view,
                              cfg.cache_views, device, cfg.train.progress)
    val_f = cached_features(run_dir / "features" / f"val-{key}.pt", model.backbone,
                            lambda _: run_loader(data["val"], cfg, device, train=False), 1, device, cfg.train.progress)
    # Feature tensors are indexed in memory: worker processes would only add start-up time each epoch.
    n = len(clean)  # rows [0, n) are view 0, the clean one: what the OOD scores compare new photos with
    clean_f = (train_f.features[:n], train_f.labels[:n])
    return clean_f, fit(model.head, ClassificationTask(cfg.label_smoothing),
                        run_loader(train_f, cfg, device, True, workers=0),
               run_loader(val_f, cfg, device, False, workers=0), run_dir=run_dir, **fit_kw)


@runs.training_run
def train_classifier(
    cfg: ClassifyConfig, run_dir: str | Path, resume: bool | str = False,
    callbacks: Sequence[Callable[[dict], None]] = (),
) -> dict:
    """Train, pick the best epoch on val, evaluate it on val and test; returns the metrics dict.

    ``resume``: True continues from ``run_dir/last.pt``; "auto" does so when it exists (what a notebook cell
    that may be re-run wants). Resuming checks that the run folder was trained with the same config.
    """
    run_dir, resume, device = runs.start_run(run_dir, cfg, resume)
    classes = LandscapeDataset(cfg.manifest, "train").classes
    model = create_model(cfg.model, len(classes), pretrained=cfg.pretrained, freeze=cfg.frozen_phase,
                         hidden=cfg.hidden, dropout=cfg.dropout, weights_path=cfg.weights_path)
    prep = preprocessing(model, cfg.img_size)
    data = run_datasets(cfg, prep, classes, device)
    finetune = bool(cfg.unfreeze_after)
    runs.write_run_info(run_dir, "classify", cfg, model=model, classes=classes, preprocessing=prep,
                        trained="head" if cfg.freeze and not finetune else "model",
                        phases=[HEAD_PHASE, FINETUNE_PHASE] if finetune else [HEAD_PHASE])

    head_cfg = replace(cfg.train, epochs=cfg.unfreeze_after or cfg.train.epochs)
    fit_kw = dict(config=head_cfg, callbacks=callbacks, resume=resume, meta={"classes": classes},
                  extra_config={"classify": runs.to_dict(cfg)})
    task = ClassificationTask(cfg.label_smoothing)
    clean_features = None
    if cfg.use_cache:
        clean_features, result = _train_head_on_cache(model, cfg, prep, data, device, run_dir, fit_kw)
        runs.restore_best(result, run_dir, model.head)
    else:
        result = fit(model, task, train_loader(data["train"], cfg, device),
                     run_loader(data["val"], cfg, device, False), run_dir=run_dir, **fit_kw)
        runs.restore_best(result, run_dir, model)

    if finetune:
        # Discriminative fine-tuning: the last stages learn at a fraction of the head's lr.
        backbone_params = model.unfreeze_last(cfg.unfreeze_stages)
        groups = [{"params": list(model.head.parameters()), "lr": cfg.train.lr},
                  {"params": backbone_params, "lr": cfg.train.lr * cfg.finetune_lr_scale}]
        ft_dir = run_dir / FINETUNE_PHASE["dir"]
        ft_cfg = replace(cfg.train, epochs=cfg.train.epochs - cfg.unfreeze_after)
        ft_resume = resume and (ft_dir / "last.pt").is_file()  # phase 2 may not have started
        result = fit(model, task, train_loader(data["train"], cfg, device),
                     run_loader(data["val"], cfg, device, False), run_dir=ft_dir, param_groups=groups,
                     **{**fit_kw, "config": ft_cfg, "resume": ft_resume})
        runs.restore_best(result, ft_dir, model)

    runs.save_model(run_dir, model, classes=classes, preprocessing=prep)
    # Temperature and OOD thresholds on val; fine-tuning changed the backbone, so its cached features are stale.
    fit_run_trust(run_dir, model, cfg, {"preprocessing": prep, "classes": classes}, device, data,
                  train_features=None if finetune else clean_features)
    return evaluate_run(run_dir, splits=[s for s in ("val", "test") if s in data], model=model, tta=cfg.tta)
