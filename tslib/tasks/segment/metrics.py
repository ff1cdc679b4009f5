"""Segmentation metrics from one confusion matrix (torchmetrics): per-class IoU, macro mIoU (the mean over classes
of their IoU, not the micro IoU over all pixels that background and woodland dominate), pixel accuracy, per-class
F1/Dice. Ignored pixels never count."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.functional.classification import multiclass_confusion_matrix


def confusion(preds: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None) -> Tensor:
    """[C, C] pixel counts (rows = true class) of class-index predictions against a mask."""
    return multiclass_confusion_matrix(preds.flatten(), target.flatten(), num_classes, ignore_index=ignore_index,
                                       validate_args=False).long().cpu()


def segmentation_metrics(conf: Tensor, classes: Sequence[str]) -> dict:
    """mIoU over the classes that occur (in the mask or the prediction), per-class IoU and F1, pixel accuracy."""
    conf = conf.double()
    tp = conf.diag()
    fp, fn = conf.sum(0) - tp, conf.sum(1) - tp
    union = tp + fp + fn
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    f1 = torch.where(union > 0, 2 * tp / (2 * tp + fp + fn).clamp(min=1), torch.full_like(tp, float("nan")))
    present = union > 0
    total = conf.sum()
    return {
        "miou": iou[present].mean().item() if present.any() else float("nan"),
        "pixel_accuracy": (tp.sum() / total).item() if total > 0 else float("nan"),
        "per_class_iou": {c: (None if not present[i] else iou[i].item()) for i, c in enumerate(classes)},
        "per_class_f1": {c: (None if not present[i] else f1[i].item()) for i, c in enumerate(classes)},
        "pixels": int(total.item()),
        "confusion": conf.long().tolist(),
    }
