"""How good generated images are: reconstruction error (PSNR, SSIM), FID/KID in a named feature space
(torchmetrics), and agreement with a trained classifier.

FID needs a feature extractor. Standard FID uses Inception-v3 weights, which need a download; the default here is
the offline ImageNet EfficientNet-Lite0 backbone (pooled 1280-d features), always named with the number, because
FIDs in different feature spaces are not comparable. Classifier judges (:mod:`.judges`) add FID/KID in their own
feature spaces through :func:`fid_kid_features`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

LITE0_SPACE = "Lite0 ImageNet features"
INCEPTION_SPACE = "Inception-v3 pool features (standard FID)"


@functools.lru_cache(maxsize=1)
def lite0_features() -> Lite0Features:
    """One shared instance (loading the weights takes a second)."""
    return Lite0Features()


class Lite0Features(nn.Module):
    """Images in [0, 1] (any size) -> pooled ImageNet EfficientNet-Lite0 features, preprocessed as its weights
    expect (224 px bicubic, mean = std = 0.5)."""

    num_features = 1280
    name = LITE0_SPACE

    def __init__(self) -> None:
        super().__init__()
        from ...models import create_model

        self.backbone = create_model("efficientnet_lite0", 1, pretrained=True).backbone.eval()

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x.float(), size=(224, 224), mode="bicubic", antialias=True, align_corners=False)
        return self.backbone((x.clamp(0, 1) - 0.5) / 0.5)

    def train(self, mode: bool = True) -> Lite0Features:
        return super().train(False)  # a fixed feature space: BatchNorm statistics never change


def _batches(x: Tensor, size: int = 64):
    for i in range(0, len(x), size):
        yield x[i:i + size]


class _Precomputed(nn.Module):
    """Feature vectors pass through: both metrics reuse one extraction per image instead of running the network
    twice."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


@torch.no_grad()
def extract(images: Tensor, features: nn.Module) -> Tensor:
    """Features of [0, 1] images, in batches, on the features module's device; fp64 on the CPU."""
    device = next(features.parameters(), torch.zeros(())).device
    return torch.cat([features(b.to(device)).double().cpu() for b in _batches(images)])


def fid_kid(real: Tensor, fake: Tensor, features: nn.Module, subset_size: int = 100,
            real_features: Tensor | None = None) -> dict[str, float]:
    """FID and KID (mean and std over subsets) between two sets of images in [0, 1], in ``features``' space;
    ``real_features``: the real images' features already extracted (a sweep compares many sets to one)."""
    if len(real) < 2 or len(fake) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    f_real = extract(real, features) if real_features is None else real_features
    return fid_kid_features(f_real, extract(fake, features), subset_size)


def fid_kid_features(f_real: Tensor, f_fake: Tensor, subset_size: int = 100) -> dict[str, float]:
    """FID and KID between two sets of feature vectors (rows) already extracted in one feature space."""
    if len(f_real) < 2 or len(f_fake) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(f_real)} real and {len(f_fake)} generated")
    f_real, f_fake = f_real.double().cpu(), f_fake.double().cpu()
    dim = f_real.shape[1]
    fid = FrechetInceptionDistance(feature=_Precomputed(dim), normalize=True).double()
    # Subsets of at most half of each set, so the KID std over subsets measures something.
    k = max(2, min(subset_size, len(f_real) // 2, len(f_fake) // 2))
    with warnings.catch_warnings():  # "will save all extracted features": a few thousand vectors at most here
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        kid = KernelInceptionDistance(feature=_Precomputed(dim), normalize=True, subset_size=k, subsets=50)
    for metric in (fid, kid):
        metric.update(f_real, real=True)
        metric.update(f_fake, real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global RNG: same sets, same KID
        torch.manual_seed(0)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}


def inception_fid(real: Tensor, fake: Tensor) -> float:
    """Standard FID (Inception-v3, 2048-d); needs torch-fidelity and a weights download (Colab has both)."""
    metric = FrechetInceptionDistance(feature=2048, normalize=True)
    for batch in _batches(real):
        metric.update(batch, real=True)
    for batch in _batches(fake):
        metric.update(batch, real=False)
    return float(metric.compute())


def reconstruction_metrics(originals: Tensor, recons: Tensor) -> dict[str, float]:
    """Per-pixel MSE, MSE summed per image (the study's loss), PSNR and SSIM of images in [0, 1]."""
    err = (recons.float() - originals.float()).pow(2)
    return {"recon_mse": err.mean().item(), "recon_sum": err.flatten(1).sum(1).mean().item(),
            "psnr": peak_signal_noise_ratio(recons, originals, data_range=1.0).item(),
            "ssim": structural_similarity_index_measure(recons, originals, data_range=1.0).item(),
            "n": len(originals)}


def agreement(asked: Sequence[int], predicted: Sequence[int], classes: Sequence[str]) -> dict:
    """Share of samples asked to be class c that the classifier labels c: per class, the mean over classes, the
    overall share, and the "asked vs predicted" confusion matrix (rows asked). A prediction of -1 (a class the
    generator does not know) counts as a miss."""
    a, p = torch.as_tensor(list(asked), dtype=torch.long), torch.as_tensor(list(predicted), dtype=torch.long)
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    ok = p >= 0
    confusion.index_put_((a[ok], p[ok]), torch.ones_like(a[ok]), accumulate=True)
    totals = torch.bincount(a, minlength=n)
    per_class = {c: (confusion[i, i] / totals[i]).item() for i, c in enumerate(classes) if totals[i] > 0}
    return {"mean": sum(per_class.values()) / max(1, len(per_class)), "per_class": per_class,
            "overall": (confusion.diag().sum() / max(1, len(a))).item(), "confusion": confusion.tolist()}


def class_histogram(labels: Sequence[int], classes: Sequence[str]) -> dict[str, float]:
    """Share of each class among ``labels``."""
    t = torch.as_tensor(list(labels))
    counts = torch.bincount(t, minlength=len(classes)).float()
    return {c: (counts[i] / max(1, len(t))).item() for i, c in enumerate(classes)}
