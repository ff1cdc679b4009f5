"""``ClassificationTask``: what a classification batch means to the engine."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ...distributed import sum_over_processes
from ...engine.loop import SupervisedTask
from ...utils import to_device


class ClassificationTask(SupervisedTask):
    """Cross-entropy classification on ``{"image": [B,3,H,W] float, "label": [B] long}`` batches."""

    monitor = "val_acc"
    mode = "max"

    def __init__(self, label_smoothing: float = 0.0, class_weights: Tensor | None = None) -> None:
        self.label_smoothing = label_smoothing
        self.class_weights = class_weights

    def loss(self, model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = model(batch["image"]).float()  # loss in fp32 even under autocast
        labels = batch["label"]
        weight = None if self.class_weights is None else self.class_weights.to(logits.device, torch.float32)
        loss = F.cross_entropy(logits, labels, weight=weight, label_smoothing=self.label_smoothing)
        # Logged as a tensor: the engine averages it without a GPU sync per step.
        return loss, {"acc": (logits.argmax(1) == labels).float().mean().detach()}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        """Plain (unsmoothed, unweighted) mean cross-entropy and micro accuracy over the loader."""
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        count = 0
        for batch in loader:
            batch = to_device(batch, device)
            logits = model(batch["image"]).float()
            loss_sum += F.cross_entropy(logits, batch["label"], reduction="sum")
            correct += (logits.argmax(1) == batch["label"]).sum()
            count += batch["label"].numel()
        totals = torch.stack([loss_sum.double(), correct.double(), torch.tensor(count, device=device).double()])
        loss_sum, correct, count = sum_over_processes(totals, device).tolist()  # over processes under torchrun
        if count == 0:
            raise ValueError("validation loader is empty")
        return {"val_loss": loss_sum / count, "val_acc": correct / count}
