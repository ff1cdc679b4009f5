"""Calibrated probabilities: temperature scaling fitted on the validation split, ECE, NLL and reliability bins.

A network trained with cross-entropy is usually over-confident: among the images it calls "95% sea", fewer than 95%
are sea. Temperature scaling (Guo et al. 2017) divides the logits by one scalar ``T`` fitted on held-out data by
minimising the negative log-likelihood; it never changes which class wins, only how sure the model says it is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics.functional.classification import multiclass_calibration_error

#: the number of equal-width confidence bins of the expected calibration error (Guo et al.'s 15)
ECE_BINS = 15
#: temperatures outside this range mean the logits carry no usable scale (or a bug): refuse them
T_RANGE = (0.05, 20.0)


def refit(run: str = "RUN") -> str:
    """How to re-fit a run's temperature and OOD thresholds: the one spelling every damaged-file error uses."""
    return f"re-fit it with `python -m tslib evaluate --run {run} --recalibrate`"


REFIT = refit()


def fit_temperature(logits: Tensor, labels: Tensor, max_iter: int = 100) -> float:
    """The temperature minimising the NLL of ``softmax(logits / T)`` on (validation) ``labels``.

    Optimised over ``log T`` with L-BFGS (one convex scalar problem; positive by construction)."""
    logits, labels = logits.detach().float().cpu(), labels.detach().long().cpu()
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    if labels.numel() < 2:
        raise ValueError(f"temperature scaling needs at least 2 labelled validation images, got {labels.numel()}")
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    if not math.isfinite(t):
        return 1.0
    return min(max(t, T_RANGE[0]), T_RANGE[1])


def check_temperature(value: object, where: str = "run.json") -> float:
    """``value`` as a temperature, or one clear error (a hand-edited or damaged ``run.json``)."""
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        t = float("nan")
    if isinstance(value, bool) or not (T_RANGE[0] <= t <= T_RANGE[1]):
        raise ValueError(f"{where}: calibration temperature {value!r} is not a number in {T_RANGE[0]}..{T_RANGE[1]}"
                         f"; {REFIT}, or pass --no-calibrate")
    return t


def calibration_metrics(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> dict:
    """ECE (15 bins, L1) and mean negative log-likelihood of ``softmax(logits / temperature)``."""
    logits, labels = logits.float().cpu(), labels.long().cpu()
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    if labels.numel() == 0:
        raise ValueError("no labelled samples to measure calibration on")
    scaled = logits / temperature
    probs = scaled.softmax(1)
    ece = multiclass_calibration_error(probs, labels, num_classes=logits.shape[1], n_bins=ECE_BINS, norm="l1")
    return {"ece": float(ece), "nll": float(F.cross_entropy(scaled, labels))}


def calibration_report(logits: Tensor, labels: Tensor, temperature: float) -> dict:
    """Before and after temperature scaling, side by side (what ``metrics.json`` stores per split)."""
    before, after = calibration_metrics(logits, labels), calibration_metrics(logits, labels, temperature)
    return {"temperature": temperature, "ece": after["ece"], "nll": after["nll"],
            "ece_uncalibrated": before["ece"], "nll_uncalibrated": before["nll"]}


def reliability_bins(probs: Tensor, labels: Tensor, n_bins: int = ECE_BINS) -> dict[str, list[float]]:
    """Per confidence bin: mean confidence, accuracy and count (empty bins have count 0 and NaN means): the data of
    a reliability diagram. Uses the same equal-width bins as the ECE."""
    probs, labels = probs.float().cpu(), labels.long().cpu()
    keep = labels >= 0
    conf, pred = probs[keep].max(1)
    right = (pred == labels[keep]).float()
    edges = torch.linspace(0, 1, n_bins + 1)
    idx = torch.bucketize(conf, edges[1:-1], right=True)  # bin i holds (edges[i], edges[i+1]]
    count = torch.bincount(idx, minlength=n_bins).float()
    mean = lambda v: (torch.bincount(idx, weights=v, minlength=n_bins) / count).tolist()  # noqa: E731
    return {"edges": edges.tolist(), "confidence": mean(conf), "accuracy": mean(right), "count": count.tolist()}
