"""Classification's part of the results page (``python -m tslib report``): scores, test confusion, curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...viz import calibration as viz_calibration
from ...viz import classify as viz
from ...viz.page import manifest_tag, part, split_table, table


def data_tag(config: dict) -> tuple[str, str | None]:
    """The data the run was trained on, from its prepared manifest's ``report.json``."""
    return manifest_tag(config)


def plot_curves(run: Path, tag: str | None = None):
    return viz.plot_history(run, tag)


def calibration_table(metrics: dict) -> str:
    """ECE and NLL before and after temperature scaling, and the share marked uncertain, per split."""
    rows = [[s, m["calibration"]["temperature"], m["calibration"]["ece_uncalibrated"], m["calibration"]["ece"],
             m["calibration"]["nll_uncalibrated"], m["calibration"]["nll"], m.get("rejected")]
            for s, m in metrics.items() if isinstance(m, dict) and "calibration" in m and not s.endswith("_tta")]
    if not rows:
        raise ValueError("no calibration in metrics.json (evaluate the run again)")
    return table(["split", "temperature", "ECE raw", "ECE calibrated", "NLL raw", "NLL calibrated",
                  "marked uncertain"], rows)


def ood_table(metrics: dict) -> str:
    """AUROC and false acceptances of every OOD score on the folder of ``evaluate --ood``."""
    ood = metrics["ood"]
    rows = [[k + (" (the run's)" if k == ood["score"] else ""), v["auroc"], v["false_acceptance"], v["false_rejection"]]
            for k, v in ood["by_score"].items()]
    caption = f"<p>{ood['n_ood']} images of {ood['folder']} against {ood['n_id']} {ood['id']} photos</p>"
    return caption + table(["score", "AUROC", "false acceptance", f"false rejection ({ood['id']})"], rows)


def sections(run: Path, info: dict, metrics: dict, tag: str | None, maps: Sequence[Path] = ()) -> list[str]:
    out = [part("scores", lambda: split_table(metrics, ("accuracy", "macro_f1", "n"))),
           part("confusion matrix (test)", lambda: viz.plot_confusion(metrics["test"], info["classes"], tag)),
           part("training curves", lambda: plot_curves(run, tag))]
    if any(isinstance(m, dict) and "calibration" in m for m in metrics.values()):
        out += [part("calibration", lambda: calibration_table(metrics)),
                part("reliability", lambda: viz_calibration.plot_reliability(metrics, tag=tag))]
    if "ood" in metrics:
        out.append(part("not a landscape photo (evaluate --ood)", lambda: ood_table(metrics)))
    return out
