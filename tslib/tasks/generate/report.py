"""Generation's part of the results page: reconstruction/FID scores, ``gen_metrics.json`` (written by
``evaluate-generator``) with the classifier's agreement, 16 samples drawn from the run, curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...viz import generate as viz
from ...viz.page import manifest_tag, part, read_json, split_table, table

SCORES = ("recon_mse", "psnr", "ssim", "fid", "kid", "kid_std", "feature_space", "n")


def data_tag(config: dict) -> tuple[str, str | None]:
    """The data the run was trained on, from its prepared manifest's ``report.json``."""
    return manifest_tag(config)


def plot_curves(run: Path, tag: str | None = None):
    return viz.plot_generator_history(run, tag=tag)


def _gen_metrics_table(gm: dict) -> str:
    agree = gm.get("agreement") or {}
    return table(["gen_metrics.json", "value"], [[k, v] for k, v in gm.items() if isinstance(v, int | float | str)]
                 + [[f"agreement {k}", agree[k]] for k in ("mean", "overall") if k in agree])


def _of_possible(value, possible) -> str:
    """"0.41 of 0.97": a sample score beside what held-out real photos score on the same judge."""
    if value is None:
        return ""
    return f"{value:.3g}" if possible is None else f"{value:.3g} of {possible:.3g}"


def _judges_table(gm: dict) -> str:
    """Every judge of ``gen_metrics.json``: its feature space, FID/KID there, agreement, precision, recall,
    coverage and duplicates, each beside what held-out real photos score on the same judge, and whether it is
    independent of the generator (FIDs in different feature spaces are not comparable)."""
    rows = []
    for j in gm.get("judges", []):
        agree, ref = j.get("agreement") or {}, j.get("reference") or {}
        mine, real = j.get("prdc") or {}, ref.get("prdc") or {}
        rows.append([j["name"], j["architecture"], _of_possible(j["fid"], ref.get("fid")), f"{j['kid']:.3g}",
                     _of_possible(agree.get("mean"), j.get("real_agreement")),
                     *(_of_possible(mine.get(k), real.get(k)) for k in ("precision", "recall", "coverage")),
                     _of_possible(j.get("duplicates"), ref.get("duplicates")),
                     "yes" if j["independent"] else "NO", j["why"]])
    return table(["judge", "architecture", "FID (real photos' own)", "KID", "agreement (of real photos')",
                  "precision", "recall", "coverage", "duplicates", "independent", "why"], rows) if rows else ""


def _samples(run: Path, tag: str | None):
    from .sampling import load_generator, sample

    model, info = load_generator(run)
    images, labels = sample(model, info, 16, seed=0)
    captions = None if labels is None else [info["classes"][i] for i in labels.tolist()]
    return viz.plot_images(images, captions, cols=8, title="16 samples (seed 0)", tag=tag)


def sections(run: Path, info: dict, metrics: dict, tag: str | None, maps: Sequence[Path] = ()) -> list[str]:
    gm = run / "gen_metrics.json"
    return [part("scores", lambda: split_table(metrics, SCORES)),
            part("gen_metrics.json", lambda: _gen_metrics_table(read_json(gm)) if gm.is_file() else ""),
            part("judges", lambda: _judges_table(read_json(gm)) if gm.is_file() else ""),
            part("agreement per class", lambda: viz.plot_agreement(read_json(gm), tag=tag)
                 if gm.is_file() and "agreement_confusion" in read_json(gm) else ""),
            part("samples", lambda: _samples(run, tag)),
            part("training curves", lambda: plot_curves(run, tag))]
