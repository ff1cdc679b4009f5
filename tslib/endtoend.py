"""The study's end-to-end test, done properly: generated landscapes judged by the trained classifier.

:func:`judge_images` classifies any batch of [0, 1] images against the classes they were asked to be (agreement,
"asked vs predicted" confusion, each image's probability of its asked class); :func:`judge_generator` samples a
generator run class by class first (conditional models; unconditional ones are only classified);
:func:`sampling_sweep` shows how agreement, FID and coverage move with the sampling temperature or, for diffusion,
the guidance weight and the number of steps, and :func:`balanced_choice` picks the value to sample with.
:func:`ensure_run` is
how notebook 07 reuses the runs of notebooks 04-06, or trains a small stand-in when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from .engine.inference import run_batches
from .tasks.classify.trust import load_trusted
from .tasks.generate.evaluate import real_images
from .tasks.generate.judges import classifier_inputs
from .tasks.generate.metrics import LITE0_SPACE, agreement, extract, fid_kid, lite0_features
from .tasks.generate.sampling import load_generator, sample, sample_classes
from .utils import resolve_device


def ensure_run(preferred: str | Path, fallback: str | Path, train: Callable[[Path], object],
               what: str) -> tuple[Path, bool]:
    """``preferred`` if it holds a finished run (``model.pt``), else ``fallback``, trained first by
    ``train(fallback)`` unless an earlier call finished it; says so. Returns the folder and whether it is the
    stand-in."""
    preferred, fallback = Path(preferred), Path(fallback)
    if (preferred / "model.pt").is_file():
        return preferred, False
    print(f"{preferred} has no finished {what} run: using a small stand-in in {fallback} (run its notebook for "
          "the real one)")
    if not (fallback / "model.pt").is_file():
        train(fallback)
    return fallback, True


@torch.no_grad()
def judge_images(images: Tensor, asked: Sequence[str] | None, classifier_run: str | Path,
                 device: str = "auto") -> dict:
    """What the classifier of ``classifier_run`` sees in [0, 1] ``images`` asked to be the class names ``asked``
    (None: nothing asked). Returns the predicted names, each image's probability of its asked class
    (``asked_prob``), and ``agreement`` (mean/per class/overall) with its confusion (rows asked), over the classes
    the classifier knows."""
    dev = resolve_device(device)
    classifier, info = load_trusted(classifier_run, dev)  # calibrated probabilities and the run's OOD threshold
    names = info["classes"]
    data = [{"image": classifier_inputs(b, info["preprocessing"])} for b in images.split(64)]
    packed, _ = run_batches(classifier, data, dev, fn=lambda x: torch.cat([o.float().reshape(len(x), -1)
                                                                           for o in classifier(x)], 1))
    probs, score = packed[:, : len(names)], packed[:, -1]
    pred = probs.argmax(1)
    out = {"classes": names, "predicted": [names[int(p)] for p in pred], "probs": probs,
           "confidence": probs.max(1).values}
    if classifier.threshold is not None:  # generated images the classifier finds unlike any training photo
        out["uncertain"] = score < classifier.threshold
    if asked is not None:
        known = [a in names for a in asked]
        idx = torch.tensor([names.index(a) if k else 0 for a, k in zip(asked, known)])
        out["asked"] = list(asked)
        out["asked_prob"] = torch.where(torch.tensor(known), probs[torch.arange(len(idx)), idx], torch.zeros(()))
        shared = [c for c in names if c in set(asked)]
        a = [shared.index(x) for x, k in zip(asked, known) if k]
        p = [shared.index(names[int(q)]) if names[int(q)] in shared else -1 for q, k in zip(pred, known) if k]
        agree = agreement(a, p, shared)
        out["agreement"] = {k: agree[k] for k in ("mean", "per_class", "overall")}
        out["agreement_confusion"] = {"classes": shared, "rows": "asked", "matrix": agree["confusion"]}
    return out


@torch.no_grad()
def judge_generator(generator_run: str | Path, classifier_run: str | Path, n_per_class: int = 16,
                    temperature: float = 1.0, seed: int = 0, device: str = "auto", **opts) -> dict:
    """Sample ``n_per_class`` images of every class (conditional models; an unconditional one gives
    ``n_per_class`` x classes unasked samples) and judge them; the result also holds the ``images``. ``opts``:
    sampler options of diffusion models (``steps``, ``guidance``, ``sampler``)."""
    dev = resolve_device(device)
    model, info = load_generator(generator_run, str(dev))
    classes = info["classes"]
    n = n_per_class * len(classes)
    if model.conditional:
        images, labels = sample_classes(model, info, torch.arange(n) % len(classes), seed, temperature, **opts)
        asked = [classes[int(y)] for y in labels]
    else:
        images, asked = sample(model, info, n, seed=seed, temperature=temperature, **opts)[0], None
    return {"images": images, "conditional": bool(model.conditional),
            **judge_images(images, asked, classifier_run, device)}


def convincing(result: dict, k: int = 8, most: bool = True) -> tuple[Tensor, list[str]]:
    """The ``k`` most (or least) convincing images of a judged set, with captions: by the probability of the
    asked class, or by the classifier's confidence when nothing was asked."""
    score = result.get("asked_prob", result["confidence"])
    order = score.argsort(descending=most)[:k]
    label = result.get("asked", result["predicted"])
    caps = [f"{label[i]} p={score[i]:.2f}" + ("" if "asked" not in result else f"\nsees {result['predicted'][i]}")
            for i in order.tolist()]
    return result["images"][order], caps


@torch.no_grad()
def sampling_sweep(generator_run: str | Path, classifier_run: str | Path, setting: str, values: Sequence[float],
                   n_per_class: int = 16, seed: int = 0, device: str = "auto") -> list[dict]:
    """For each value of one sampling ``setting`` (``temperature`` for every generator, or a sampler option of
    diffusion models: ``guidance``, ``steps``): agreement (conditional models), FID/KID and precision, recall,
    density, coverage and duplicates against real test images (Lite0 features), with the real-photo reference
    in every row: ``real_agreement`` (the classifier on the test photos) and ``real_coverage``, ``real_fid``
    (held-out val photos against them). The same seed at every value: only the setting changes."""
    from .engine import runs
    from .tasks.generate.config import GenerateConfig
    from .tasks.generate.diversity import variety
    from .tasks.generate.evaluate import reference_images
    from .tasks.generate.metrics import fid_kid_features

    dev = resolve_device(device)
    _, info = load_generator(generator_run, "cpu")
    classes = info["classes"]
    cfg = runs.load_config(generator_run, GenerateConfig)
    real, real_labels = real_images(cfg, "test", classes, n_per_class * len(classes))
    ref, ref_labels = reference_images(cfg, classes, len(real))
    features = lite0_features().to(dev)
    f_real, f_ref = extract(real, features), extract(ref, features)  # once for the whole sweep
    ref_variety = variety(f_real, real_labels, f_ref, ref_labels, classes)
    reference = {"real_fid": fid_kid_features(f_real, f_ref)["fid"],
                 "real_coverage": (ref_variety["prdc"] or {}).get("coverage")}
    real_judged = judge_images(real, [classes[int(y)] for y in real_labels], classifier_run, device)
    reference["real_agreement"] = real_judged["agreement"]["mean"]
    rows = []
    for v in values:
        kw = {"temperature": v} if setting == "temperature" else {setting: v}
        r = judge_generator(generator_run, classifier_run, n_per_class, seed=seed, device=device, **kw)
        f_fake = extract(r["images"], features)
        asked = torch.tensor([classes.index(a) for a in r["asked"]]) if "asked" in r else None
        var = variety(f_real, real_labels, f_fake, asked, classes)
        row = {setting: v, "setting": setting, **fid_kid(real, r["images"], features, real_features=f_real),
               **(var["prdc"] or {}), "duplicates": var["duplicates"], "feature_space": LITE0_SPACE, **reference}
        if "agreement" in r:
            row["agreement"] = r["agreement"]["mean"]
        rows.append(row)
    return rows


def balanced_choice(rows: Sequence[dict]) -> dict:
    """The row of a :func:`sampling_sweep` (e.g. over guidance) to sample with: among the values whose agreement
    reaches the real photos' own (``real_agreement``), the one that keeps the most coverage (then the lower FID);
    when none reaches it, the highest agreement (then the most coverage). Agreement alone would reward
    caricature: past the real-photo level, more guidance only exaggerates class cues and loses variety."""
    if not rows or any("agreement" not in r for r in rows):
        raise ValueError("balanced_choice needs the rows of a sweep of a conditional generator (with agreement)")
    reached = [r for r in rows if r["agreement"] >= r["real_agreement"]]
    if reached:
        return max(reached, key=lambda r: (r.get("coverage") or 0.0, -r["fid"]))
    return max(rows, key=lambda r: (r["agreement"], r.get("coverage") or 0.0))


def temperature_sweep(generator_run: str | Path, classifier_run: str | Path, temperatures: Sequence[float],
                      n_per_class: int = 16, seed: int = 0, device: str = "auto") -> list[dict]:
    """:func:`sampling_sweep` over the sampling temperature."""
    return sampling_sweep(generator_run, classifier_run, "temperature", temperatures, n_per_class, seed, device)


@torch.no_grad()
def variety_report(judged: dict[str, dict], real: Tensor, real_labels: Tensor, reference: Tensor,
                   reference_labels: Tensor, classes: Sequence[str], device: str = "auto") -> dict[str, dict]:
    """Precision, recall, density, coverage and duplicates (Lite0 features, against the real test images
    ``real``) of every judged set of :func:`judge_generator` (``{name: result}``), with agreement where classes
    were asked, and first the row ``"real photos (held-out)"``: ``reference`` (other real photos) scored the same
    way, what a generator can hope for."""
    from .tasks.generate.diversity import variety

    features = lite0_features().to(resolve_device(device))
    f_real = extract(real, features)

    def scores(images: Tensor, labels: Tensor | None) -> dict:
        v = variety(f_real, real_labels, extract(images, features), labels, classes)
        return {**(v["prdc"] or {}), "duplicates": v["duplicates"]}

    out = {"real photos (held-out)": scores(reference, reference_labels)}
    for name, r in judged.items():
        asked = torch.tensor([list(classes).index(a) for a in r["asked"]]) if r.get("asked") else None
        out[name] = {**scores(r["images"], asked), "agreement": (r.get("agreement") or {}).get("mean")}
    return out
