"""Judging a finished generator run: reconstruction or FID on manifest splits (``metrics.json``), and the full
report against trained classifiers (``gen_metrics.json``: FID/KID in the Lite0 space and in each classifier's own
feature space, agreement or class histogram, and which judge is independent of the generator)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...engine import runs
from ...engine.inference import run_batches
from ...utils import atomic_write_text, resolve_device
from .config import GenerateConfig
from .data import run_loader, split_dataset
from .diversity import variety
from .judges import (
    LITE0_ARCHITECTURE,
    ClassifierJudge,
    classifier_inputs,
    independence,
    load_judges,
    trained_against,
)
from .metrics import (
    LITE0_SPACE,
    class_histogram,
    extract,
    fid_kid,
    fid_kid_features,
    inception_fid,
    lite0_features,
    reconstruction_metrics,
)
from .sampling import check_sampler_options, load_generator, sample, sample_classes


def real_images(cfg: GenerateConfig, split: str, classes: list[str], n: int | None = None) -> tuple[Tensor, Tensor]:
    """Up to ``n`` images of a split (spread over the split, deterministic), preprocessed as in training."""
    ds = split_dataset(cfg, split, classes)
    idx = list(range(len(ds))) if n is None or n >= len(ds) else torch.linspace(0, len(ds) - 1, n).long().tolist()
    items = [ds[i] for i in idx]
    return torch.stack([s["image"] for s in items]), torch.tensor([s["label"] for s in items])


def reference_images(cfg: GenerateConfig, classes: list[str], n: int) -> tuple[Tensor, Tensor]:
    """Held-out real photos to score like samples (real vs real): up to ``n`` of the val split, spread over it."""
    return real_images(cfg, "val", classes, n)


@torch.no_grad()
def split_metrics(model: nn.Module, cfg: GenerateConfig, split: str, classes: list[str], device: torch.device,
                  features: nn.Module | None = None) -> dict:
    """Autoencoders: reconstruction metrics over the whole split. DCGAN: FID/KID (Lite0) against it."""
    if model.can_encode:
        loader = run_loader(split_dataset(cfg, split, classes), cfg, device, train=False)
        cond = model.conditional
        originals, recons = [], []
        model.eval().to(device)
        for batch in loader:
            x = batch["image"].to(device)
            labels = batch["label"].to(device) if cond else None
            originals.append(x.cpu())
            recons.append(model.decode(model.encode(x, labels), labels).float().clamp(0, 1).cpu())
        return reconstruction_metrics(torch.cat(originals), torch.cat(recons))
    real, labels = real_images(cfg, split, classes, cfg.eval_samples)
    info = {"classes": classes, "config": runs.to_dict(cfg)}
    # Conditional samples follow the real class mix, so FID compares like with like.
    fake = sample_classes(model, info, labels)[0] if model.conditional else sample(model, info, len(real))[0]
    return {**fid_kid(real, fake, (features or lite0_features()).to(device)), "n": len(real),
            "feature_space": LITE0_SPACE}


def evaluate_run(run_dir: str | Path, splits: Sequence[str] = ("test",), tta: bool | None = None,
                 device: str | None = None) -> dict:
    """Metrics of a generator run on manifest splits, merged into ``metrics.json`` (``tta`` does not apply)."""
    info = runs.read_run_info(run_dir)
    cfg = runs.load_config(run_dir, GenerateConfig)
    dev = resolve_device(device or cfg.train.device)
    model, _ = load_generator(run_dir, str(dev))
    return runs.merge_metrics(run_dir, {s: split_metrics(model, cfg, s, info["classes"], dev) for s in splits})


@torch.no_grad()
def classify_images(classifier: nn.Module, prep: dict, images: Tensor, device: torch.device) -> Tensor:
    """Predicted class indices of [0, 1] images."""
    data = [{"image": classifier_inputs(b, prep)} for b in images.split(64)]
    probs, _ = run_batches(classifier, data, device, fn=lambda x: classifier(x).float().softmax(1))
    return probs.argmax(1)


#: Features and reference scores of real photos, kept for the process: notebook 05 judges six generators against
#: the same test and held-out photos in the same spaces, and each set needs extracting once, not six times.
_REAL_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_REAL_CACHE_SIZE = 32


def _images_key(images: Tensor) -> tuple:
    """What identifies a set of images: its shape and a digest of its pixels (never its memory address)."""
    data = images.detach().cpu().contiguous()
    return tuple(data.shape), hashlib.sha1(data.numpy().tobytes()).hexdigest()


def _space_key(judge: ClassifierJudge | None, device: torch.device) -> tuple:
    """A feature space: Lite0's, or a classifier run's as its model file now is (retrained: a new space)."""
    if judge is None:
        return LITE0_SPACE, str(device)
    weights = Path(judge.run) / "model.pt"
    stat = weights.stat() if weights.is_file() else None
    return str(Path(judge.run).resolve()), stat and (stat.st_mtime_ns, stat.st_size), str(device)


def _cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` in this process (a small LRU)."""
    if key in _REAL_CACHE:
        _REAL_CACHE.move_to_end(key)
        return _REAL_CACHE[key]
    value = _REAL_CACHE[key] = compute()
    while len(_REAL_CACHE) > _REAL_CACHE_SIZE:
        _REAL_CACHE.popitem(last=False)
    return value


def _space_scores(f_real: Tensor, real_labels: Tensor, f_fake: Tensor, asked: Tensor | None, f_ref: Tensor,
                  ref_labels: Tensor, classes: list[str]) -> dict:
    """FID/KID and variety (PRDC, duplicates) of the samples in one feature space, and ``reference``: the same
    numbers for held-out real photos (``f_ref``) against the real test photos: what real photos score."""
    ref_asked = ref_labels if asked is not None else None
    reference = _cached(("reference", _images_key(f_real), _images_key(f_ref), ref_asked is not None, tuple(classes)),
                        lambda: {**fid_kid_features(f_real, f_ref),
                                 **variety(f_real, real_labels, f_ref, ref_asked, classes)})
    return {**fid_kid_features(f_real, f_fake), **variety(f_real, real_labels, f_fake, asked, classes),
            "reference": copy.deepcopy(reference)}  # a caller editing its report must not edit the cache


def _lite0_judge(scores: dict, against: list[str]) -> dict:
    """The Lite0 scores as a judge entry (no agreement: no classifier head)."""
    independent, why = independence(LITE0_ARCHITECTURE, against)
    return {"name": LITE0_SPACE, "run": None, "architecture": LITE0_ARCHITECTURE, "feature_space": LITE0_SPACE,
            **scores, "agreement": None, "independent": independent, "why": why}


def _classifier_judge(judge: ClassifierJudge, real: Tensor, real_labels: Tensor, fake: Tensor, asked: Tensor | None,
                      ref: Tensor, ref_labels: Tensor, classes: list[str], against: list[str]) -> dict:
    """One classifier's verdict: FID/KID and variety in its own feature space, agreement (or the class
    histogram), its accuracy on the real test images (the ceiling agreement can reach), the real-photo reference
    of every number, and whether it is independent."""
    space = _space_key(judge, next(judge.model.parameters()).device)
    # each image set once per feature space; the real ones once per process (the same for every generator)
    f_real, p_real = _cached((space, _images_key(real)), lambda: judge.features_and_predictions(real))
    f_fake, p_fake = judge.features_and_predictions(fake)
    f_ref, _ = _cached((space, _images_key(ref)), lambda: judge.features_and_predictions(ref))
    independent, why = independence(judge.architecture, against)
    entry = {"name": judge.name, "run": str(judge.run), "architecture": judge.architecture,
             "feature_space": judge.feature_space,
             **_space_scores(f_real, real_labels, f_fake, asked, f_ref, ref_labels, classes),
             "real_agreement": judge.agreement(real_labels.tolist(), p_real, classes)["mean"]}
    if asked is not None:
        agree = judge.agreement(asked.tolist(), p_fake, classes)
        entry["agreement"] = {k: agree[k] for k in ("mean", "per_class", "overall")}
        entry["agreement_confusion"] = {"classes": judge.shared, "rows": "asked", "matrix": agree["confusion"]}
    else:
        names = judge.info["classes"]
        real_hist = class_histogram([names.index(classes[int(y)]) for y in real_labels if classes[int(y)] in names],
                                    names)
        entry["agreement"] = None
        entry["class_histogram"] = {"generated": judge.histogram(p_fake), "real": real_hist}
    return entry | {"independent": independent, "why": why}


def evaluate_generator(run_dir: str | Path, classifier_run: str | Path | Sequence[str | Path], n: int = 500,
                       device: str = "auto", inception: bool = False, seed: int = 0,
                       sampler: dict | None = None) -> dict:
    """The generator's report card, written to ``run_dir/gen_metrics.json``: reconstruction on the test split
    (autoencoders), FID/KID against up to ``n`` test images in the Lite0 feature space (and the standard
    Inception FID with ``inception``, when its weights can be had), and for each classifier run (a path or a
    list): per-class agreement of ``n`` samples (conditional) or their class histogram, and FID/KID in that
    classifier's own feature space. In every space also precision, recall, density, coverage (overall and per
    class) and the duplicate rate (:mod:`.diversity`), and beside each number its ``reference``: the same score of
    held-out real photos (the val split) against the test photos, with ``real_agreement`` for agreement.
    ``judges`` lists every judge with whether it is independent of the
    generator (see :mod:`.judges`); the top-level ``agreement`` is the first classifier's. ``sampler``: keyword
    options for the generator's sampler (diffusion ``steps``, ``guidance``, ``sampler``), recorded as given."""
    dev = resolve_device(device)
    model, info = load_generator(run_dir, str(dev))
    cfg = runs.load_config(run_dir, GenerateConfig)
    classes = info["classes"]
    judges = load_judges(classifier_run, classes, dev)  # every bad run fails before any sampling
    against = trained_against(model)
    opts = check_sampler_options(model, dict(sampler or {}))  # a clear error before any work, not after
    real, real_labels = real_images(cfg, "test", classes, n)
    ref, ref_labels = reference_images(cfg, classes, len(real))
    if model.conditional:
        # every class, as evenly as n allows
        fake, asked = sample_classes(model, info, torch.arange(len(real)) % len(classes), seed, **opts)
    else:
        fake, asked = sample(model, info, len(real), seed=seed, **opts)[0], None
    out: dict = {"n": len(real), "feature_space": LITE0_SPACE, "model": cfg.model, "classifier": str(judges[0].run),
                 "classifiers": [str(j.run) for j in judges], "trained_against": against}
    if opts:
        out["sampler"] = opts
    if model.can_encode:
        out |= {k: v for k, v in split_metrics(model, cfg, "test", classes, dev).items() if k != "n"}
    lite0_net = lite0_features().to(dev)
    space = _space_key(None, dev)
    f_real, f_ref = (_cached((space, _images_key(x)), lambda x=x: extract(x, lite0_net)) for x in (real, ref))
    f_fake = extract(fake, lite0_net)
    lite0 = _space_scores(f_real, real_labels, f_fake, asked, f_ref, ref_labels, classes)
    out |= {k: lite0[k] for k in ("fid", "kid", "kid_std")}
    if inception:
        try:
            out["fid_inception"] = inception_fid(real, fake)
        except Exception as e:  # no torch-fidelity, or no network for its weights
            out["fid_inception"] = None
            out["fid_inception_unavailable"] = str(e).splitlines()[0][:200]
    entries = [_classifier_judge(j, real, real_labels, fake, asked, ref, ref_labels, classes, against)
               for j in judges]
    first = entries[0]  # notebooks 05/07 and the report read the first classifier's verdict at the top level
    out |= {k: first[k] for k in ("agreement", "agreement_confusion", "class_histogram", "prdc", "duplicates",
                                  "reference", "real_agreement") if first.get(k) is not None}
    out["judges"] = [_lite0_judge(lite0, against), *entries]
    atomic_write_text(Path(run_dir) / "gen_metrics.json", json.dumps(out, indent=2))
    return out
