"""A finished classification run: load its model, evaluate it on manifest splits (accuracy, F1, calibration, OOD
rejections) and on a folder of non-landscape images, merge into ``metrics.json``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ... import distributed
from ...engine import runs
from ...engine.inference import run_batches
from ...errors import RunFolderError
from ...models import Classifier
from ...utils import resolve_device
from .. import load_run as load_task_run
from .. import read_run
from .calibration import calibration_report, refit, reliability_bins
from .config import ClassifyConfig
from .data import run_datasets, run_loader, split_dataset
from .metrics import classification_metrics


def load_run(run_dir: str | Path, device: str = "cpu") -> tuple[Classifier, dict]:
    """The trained model of a classification run and its run info (:func:`tslib.tasks.load_run`)."""
    return load_task_run(run_dir, "classify", device)


def _packed(trusted, x: Tensor) -> Tensor:
    probs, logits, score = trusted(x)
    return torch.cat([probs, logits, score[:, None].float()], 1)


def _unpack(out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    c = (out.shape[1] - 1) // 2
    return out[:, :c], out[:, c:2 * c], out[:, -1]


def trusted_outputs(trusted, loader, device, tta: bool = False, progress: bool = False,
                    desc: str = "evaluating") -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """Calibrated probabilities, logits, OOD scores and labels of a :class:`~.trust.TrustedClassifier` over a
    loader; ``tta`` averages all three with the horizontal flip's."""
    if tta:
        return plain_and_tta_outputs(trusted, loader, device, progress, desc)[1]
    out, labels = run_batches(trusted, loader, device, lambda x: _packed(trusted, x), progress, desc)
    return (*_unpack(out), labels)


def plain_and_tta_outputs(trusted, loader, device, progress: bool = False,
                          desc: str = "evaluating (plain and flip TTA)") -> tuple[tuple, tuple]:
    """:func:`trusted_outputs` without and with flip TTA from one pass over the loader: the unflipped half of
    TTA is the plain output, so evaluating both costs two forward passes a batch, not three."""
    def both(x: Tensor) -> Tensor:
        return torch.cat([_packed(trusted, x), _packed(trusted, x.flip(-1))], 1)

    out, labels = run_batches(trusted, loader, device, both, progress, desc)
    plain, flipped = out.chunk(2, dim=1)
    return (*_unpack(plain), labels), (*_unpack((plain + flipped) / 2), labels)


def fit_run_trust(run_dir: str | Path, model: Classifier, cfg: ClassifyConfig, info: dict, device,
                  datasets: dict | None = None, train_features=None) -> dict:
    """Fit the run's temperature and OOD thresholds on its val split (see :func:`~.trust.fit_trust`)."""
    from .trust import clean_train_loader, fit_trust

    data = datasets or run_datasets(cfg, info["preprocessing"], info["classes"])
    def loader(ds):
        return run_loader(ds, cfg, device, train=False)
    return fit_trust(run_dir, model, loader(data["val"]), None if train_features else clean_train_loader(data, loader),
                     device, calibrate=cfg.calibrate, score=cfg.ood_score, false_rejection=cfg.false_rejection,
                     train_features=train_features, seed=cfg.train.seed, progress=cfg.train.progress)


def evaluate_run(run_dir: str | Path, splits: Sequence[str] = ("test",), model: Classifier | None = None,
                 tta: bool | None = None, device: str | None = None, calibrate: bool = True,
                 recalibrate: bool = False, ood: str | Path | None = None) -> dict:
    """Evaluate a run's model on manifest splits; merges the results into ``run_dir/metrics.json``.

    Probabilities are temperature-scaled (``calibrate``, the temperature fitted on val after training; fitted now
    when the run has none, or again with ``recalibrate``); each split reports ECE and NLL before and after, and the
    share of its images the OOD threshold rejects; ``reliability.png`` shows both. With ``tta`` (default: the
    run's config) each split is also evaluated with flip TTA as ``"<split>_tta"``. ``ood``: a folder of images
    that are not landscape photos, scored against the test split (see :func:`evaluate_ood`)."""
    from .trust import load_trusted

    run_dir = Path(run_dir)
    info = read_run(run_dir, "classify")
    cfg = runs.load_config(run_dir, ClassifyConfig)
    dev = resolve_device(device or cfg.train.device)
    if ood is not None:
        ood = _check_ood_folder(ood)
    if recalibrate or (calibrate and "calibration" not in info):
        fit_run_trust(run_dir, model if model is not None else load_run(run_dir, str(dev))[0], cfg, info, dev)
    trusted, info = load_trusted(run_dir, dev, calibrate=calibrate)
    if model is not None:
        trusted.model = model.to(dev).eval()
    use_tta = cfg.tta if tta is None else tta
    new = {}
    for split in splits:
        ds = split_dataset(cfg, split, info["preprocessing"], info["classes"])
        ds.check_files()
        loader = run_loader(ds, cfg, dev, train=False)
        if use_tta:
            passes = zip((split, f"{split}_tta"), (False, True),
                         plain_and_tta_outputs(trusted, loader, dev, cfg.train.progress))
        else:
            passes = [(split, False, trusted_outputs(trusted, loader, dev, False, cfg.train.progress))]
        for key, flip, (probs, logits, score, labels) in passes:
            m = classification_metrics(probs, labels, info["classes"])
            m["calibration"] = calibration_report(logits, labels, float(trusted.temperature))
            m["calibration"]["reliability"] = reliability_bins(probs, labels)
            m["calibration"]["reliability_uncalibrated"] = reliability_bins(logits.softmax(1), labels)
            if trusted.threshold is not None and not flip:
                m["rejected"] = float((score < trusted.threshold).float().mean())
            new[key] = m
    if ood is not None:
        new["ood"] = evaluate_ood(run_dir, ood, device=str(dev))
    metrics = runs.merge_metrics(run_dir, new)
    if any(k != "ood" for k in new) and distributed.is_main():
        from ...viz.calibration import save_reliability

        save_reliability(run_dir)
    return metrics


def _check_ood_folder(folder: str | Path) -> Path:
    from .prediction import collect_images

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--ood {folder}: no such folder (give a folder of images that are not landscape "
                                "photos)")
    if not collect_images([folder])[0]:
        raise ValueError(f"--ood {folder}: the folder holds no images (.jpg/.png/...)")
    return folder


def evaluate_ood(run_dir: str | Path, folder: str | Path, device: str = "cpu", batch_size: int = 32) -> dict:
    """How well the run tells its own photos (the test split, else val) from the images in ``folder``: AUROC and
    the false-acceptance rate at the run's threshold, for the run's OOD score (top level) and every fitted one
    (``by_score``). Unreadable files in ``folder`` are counted and skipped."""
    from .ood import ood_metrics
    from .prediction import collect_images, image_batches
    from .trust import features_and_logits, load_scorers

    run_dir, folder = Path(run_dir), _check_ood_folder(folder)
    model, info = load_run(run_dir, device)
    if not isinstance(info.get("ood"), dict) or not isinstance(info["ood"].get("thresholds"), dict):
        raise RunFolderError(f"{run_dir} has no fitted OOD score; {refit(run_dir)}")
    cfg = runs.load_config(run_dir, ClassifyConfig)
    dev = resolve_device(device)
    for split in ("test", "val"):
        try:
            ds = split_dataset(cfg, split, info["preprocessing"], info["classes"])
            break
        except ValueError:  # no such split in the manifest
            continue
    else:
        raise RunFolderError(f"{run_dir}'s manifest has no test or val split to compare with")
    ds.check_files()
    id_f, id_logits, _ = features_and_logits(model, run_loader(ds, cfg, dev, train=False), dev)
    errors: list[dict] = []
    files = collect_images([folder])[0]
    try:
        ood_f, ood_logits, _ = features_and_logits(model, image_batches(files, info["preprocessing"], batch_size,
                                                                       errors), dev)
    except ValueError as e:
        raise ValueError(f"--ood {folder}: none of its {len(files)} images could be read "
                         f"({errors[0]['error'] if errors else e})") from e
    out: dict = {"folder": str(folder), "score": info["ood"]["score"], "id": split, "n_id": len(id_f),
                 "n_ood": len(ood_f), "unreadable": len(errors), "by_score": {}}
    thresholds = info["ood"]["thresholds"]
    with torch.no_grad():
        for kind, scorer in load_scorers(run_dir).items():
            if kind in thresholds:
                out["by_score"][kind] = ood_metrics(scorer(id_f, id_logits), scorer(ood_f, ood_logits),
                                                    float(thresholds[kind]))
    if out["score"] not in out["by_score"]:
        raise RunFolderError(f"{run_dir}: the run's OOD score {out['score']!r} was not fitted; {refit(run_dir)}")
    out.update(out["by_score"][out["score"]])
    return out
