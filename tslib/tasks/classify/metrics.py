"""Classification metrics from class probabilities and labels (torchmetrics)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)


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
