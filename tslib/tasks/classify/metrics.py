"""Classification metrics (torchmetrics) and class probabilities over a loader, with optional flip TTA."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from ...engine.inference import flip_tta, run_batches


def softmax_probs(model: nn.Module, x: Tensor, tta: bool = False) -> Tensor:
    """Class probabilities for a batch; ``tta`` averages them with the horizontal flip's."""
    def probs(t: Tensor) -> Tensor:
        return model(t).float().softmax(1)

    return flip_tta(probs, x) if tta and x.ndim == 4 else probs(x)


def predict_probs(
    model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu", tta: bool = False,
    progress: bool = False, desc: str = "predicting",
) -> tuple[Tensor, Tensor]:
    """Softmax probabilities [N, C] and labels [N] over a loader of ``{"image", "label"}`` batches."""
    probs, labels = run_batches(model, loader, device, lambda x: softmax_probs(model, x, tta), progress, desc)
    if labels is None:
        raise ValueError("the loader's batches have no 'label'")
    return probs, labels


def classification_metrics(probs: Tensor, labels: Tensor, classes: Sequence[str]) -> dict:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix (rows = true)."""
    keep = labels >= 0  # unlabelled samples carry -1
    probs, labels = probs[keep], labels[keep]
    if labels.numel() == 0:
        raise ValueError("no labelled samples to evaluate")
    n = len(classes)
    kw = {"num_classes": n, "average": None, "validate_args": False}
    precision, recall, f1 = (fn(probs, labels, **kw) for fn in (multiclass_precision, multiclass_recall,
                                                                multiclass_f1_score))
    support = torch.bincount(labels, minlength=n)
    return {
        "accuracy": multiclass_accuracy(probs, labels, num_classes=n, average="micro").item(),
        "macro_f1": f1[support > 0].mean().item(),
        "n": int(labels.numel()),
        "per_class": {
            c: {"precision": precision[i].item(), "recall": recall[i].item(), "f1": f1[i].item(),
                "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion": multiclass_confusion_matrix(probs, labels, num_classes=n).tolist(),
    }


def evaluate_loader(
    model: nn.Module, loader: DataLoader, classes: Sequence[str], device: torch.device | str = "cpu",
    tta: bool = False, progress: bool = False,
) -> dict:
    """Metrics of ``model`` on ``loader`` (see :func:`classification_metrics`)."""
    probs, labels = predict_probs(model, loader, device, tta=tta, progress=progress, desc="evaluating")
    return classification_metrics(probs, labels, classes)
