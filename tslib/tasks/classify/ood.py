""""Not a landscape photo": scores that say how much an image looks like the training photos, and their threshold.

Every score is *higher for in-distribution* images, so one rule serves them all: an image is ``uncertain`` when its
score falls below a threshold chosen on the validation split for a stated false-rejection rate. Scores:

- ``msp``: the maximum (calibrated) softmax probability (Hendrycks & Gimpel 2017), the baseline;
- ``energy``: ``T * logsumexp(logits / T)`` (Liu et al. 2020), the same logits without softmax's saturation;
- ``knn``: cosine similarity of the L2-normalised backbone features to their k-th nearest training image
  (Sun et al. 2022);
- ``mahalanobis``: minus the smallest class-conditional Mahalanobis distance of the normalised features, with one
  shared, shrunk covariance (Lee et al. 2018).

The feature-space scores see what the head never learned to reject (a document, an aerial map) and are measured
against the softmax ones on the results page (docs/results.md). Each scorer is an ``nn.Module`` of buffers, so
it exports to ONNX with the
model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SCORES: tuple[str, ...] = ("msp", "energy", "knn", "mahalanobis")
#: the score ``predict`` uses unless told otherwise (measured best in the OOD table of docs/results.md)
DEFAULT_SCORE = "knn"
#: the share of validation (in-distribution) images the threshold may reject
DEFAULT_FALSE_REJECTION = 0.05
#: at most this many training feature vectors are kept for ``knn`` (a seeded subset beyond it)
MAX_BANK = 10_000


class OODScorer(nn.Module):
    """``score(features, logits) -> [N]``, higher = more like the training photos, for one score ``kind``."""

    def __init__(self, kind: str, temperature: float = 1.0, k: int = 5, bank: Tensor | None = None,
                 means: Tensor | None = None, precision: Tensor | None = None) -> None:
        super().__init__()
        if kind not in SCORES:
            raise ValueError(f"unknown OOD score {kind!r}; valid: {', '.join(SCORES)}")
        self.kind, self.k = kind, int(k)
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.register_buffer("bank", bank if bank is not None else torch.zeros(0))
        self.register_buffer("means", means if means is not None else torch.zeros(0))
        self.register_buffer("precision", precision if precision is not None else torch.zeros(0))

    def forward(self, features: Tensor, logits: Tensor) -> Tensor:
        scaled = logits.float() / self.temperature
        if self.kind == "msp":
            return scaled.softmax(1).amax(1)
        if self.kind == "energy":
            return self.temperature * torch.logsumexp(scaled, 1)
        f = F.normalize(features.float(), dim=1)
        if self.kind == "knn":
            sims = f @ self.bank.T
            return sims.topk(min(self.k, self.bank.shape[0]), dim=1).values[:, -1]
        # (f - mu)^T P (f - mu) for every class mean mu, expanded so it is two matrix products (exports to ONNX)
        fp = f @ self.precision
        d = (fp * f).sum(1, keepdim=True) - 2 * fp @ self.means.T + ((self.means @ self.precision) * self.means).sum(1)
        return -d.amin(1)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, k={self.k}"


def fit_scorer(kind: str, features: Tensor, labels: Tensor, num_classes: int, temperature: float = 1.0,
               k: int = 5, seed: int = 0) -> OODScorer:
    """The ``kind`` scorer fitted on training ``features`` [N, D] and ``labels`` [N] (backbone features)."""
    if kind in ("msp", "energy"):
        return OODScorer(kind, temperature)
    f = F.normalize(features.float().cpu(), dim=1)
    labels = labels.long().cpu()
    if len(f) == 0:
        raise ValueError("no training features to fit a feature-space OOD score on")
    if kind == "knn":
        if len(f) > MAX_BANK:  # a seeded subset: the bank is saved with the run and exported with the model
            f = f[torch.randperm(len(f), generator=torch.Generator().manual_seed(seed))[:MAX_BANK]]
        return OODScorer(kind, temperature, k=k, bank=f.contiguous())
    if kind != "mahalanobis":
        raise ValueError(f"unknown OOD score {kind!r}; valid: {', '.join(SCORES)}")
    means = torch.stack([f[labels == c].mean(0) if (labels == c).any() else f.mean(0) for c in range(num_classes)])
    centred = f - means[labels]
    cov = centred.T @ centred / max(len(f) - 1, 1)
    # Shrinkage towards a scaled identity: with fewer images than feature dimensions the covariance is singular.
    shrink = 0.1 * cov.diagonal().mean().clamp_min(1e-8)
    precision = torch.linalg.inv(cov.double() + shrink.double() * torch.eye(len(cov), dtype=torch.float64)).float()
    return OODScorer(kind, temperature, means=means.contiguous(), precision=precision.contiguous())


def scorer_from_state(state: dict) -> OODScorer:
    """Rebuild a scorer saved by :func:`scorer_state`."""
    shapes = {n: state["buffers"][n] for n in ("bank", "means", "precision")}
    scorer = OODScorer(state["kind"], float(state["buffers"]["temperature"]), k=state.get("k", 5), **shapes)
    return scorer


def scorer_state(scorer: OODScorer) -> dict:
    return {"kind": scorer.kind, "k": scorer.k, "buffers": {n: b.cpu() for n, b in scorer.named_buffers()}}


def choose_threshold(val_scores: Tensor, false_rejection: float = DEFAULT_FALSE_REJECTION) -> float:
    """The score below which ``false_rejection`` of the validation images fall."""
    if not 0.0 <= false_rejection < 1.0:
        raise ValueError(f"false-rejection rate must be in [0, 1), got {false_rejection}")
    if val_scores.numel() == 0:
        raise ValueError("no validation scores to choose an OOD threshold on")
    return float(torch.quantile(val_scores.double().cpu(), false_rejection, interpolation="lower"))


def auroc(id_scores: Tensor, ood_scores: Tensor) -> float:
    """P(score of an in-distribution image > score of an OOD one), ties counting half (Mann-Whitney). Exact on raw
    scores of any scale (a sigmoid first, as AUROC helpers do for logits, ties large energies at 1.0)."""
    a, b = id_scores.double().flatten().cpu(), ood_scores.double().flatten().cpu()
    wins = sum(float((c[:, None] > b).sum() + 0.5 * (c[:, None] == b).sum()) for c in a.split(4096))
    return wins / (len(a) * len(b))


def ood_metrics(id_scores: Tensor, ood_scores: Tensor, threshold: float) -> dict:
    """AUROC (in-distribution = positive), and the shares of each set on the wrong side of ``threshold``."""
    if ood_scores.numel() == 0 or id_scores.numel() == 0:
        raise ValueError("OOD metrics need scores of both in-distribution and out-of-distribution images")
    return {"auroc": auroc(id_scores, ood_scores),
            "false_acceptance": float((ood_scores >= threshold).double().mean()),
            "false_rejection": float((id_scores < threshold).double().mean()),
            "threshold": threshold}
