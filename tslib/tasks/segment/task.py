"""``SegmentationTask``: cross-entropy (optional class weights) plus optional soft Dice; mIoU on validation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from ...distributed import sum_over_processes
from ...engine.loop import SupervisedTask
from ...utils import to_device
from .metrics import confusion, segmentation_metrics


def soft_dice_loss(logits: Tensor, target: Tensor, ignore_index: int | None = None) -> Tensor:
    """1 - mean over classes of the soft Dice coefficient; ignored pixels do not count."""
    probs = logits.softmax(1)
    valid = torch.ones_like(target, dtype=torch.bool) if ignore_index is None else target != ignore_index
    onehot = F.one_hot(torch.where(valid, target, 0), logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    w = valid.unsqueeze(1).to(probs.dtype)
    inter = (probs * onehot * w).sum((0, 2, 3))
    denom = ((probs + onehot) * w).sum((0, 2, 3))
    return 1 - ((2 * inter + 1) / (denom + 1)).mean()


def _colourise(index: Tensor, n_classes: int) -> Tensor:
    """Class indices [N, H, W] -> [N, 3, H, W] in matplotlib's tab10 colours (ignored pixels black)."""
    from matplotlib import colormaps

    palette = torch.tensor(colormaps["tab10"].colors[:10], dtype=torch.float32)
    palette = torch.cat([palette[torch.arange(n_classes) % 10], torch.zeros(1, 3)])
    return palette[index.clamp(0, n_classes).cpu()].permute(0, 3, 1, 2)


class SegmentationTask(SupervisedTask):
    monitor = "val_miou"
    mode = "max"

    def __init__(self, classes: list[str], ignore_index: int | None = None, class_weights: Tensor | None = None,
                 dice_weight: float = 0.0) -> None:
        self.classes, self.ignore_index = classes, ignore_index
        self.class_weights, self.dice_weight = class_weights, dice_weight

    def _loss(self, logits: Tensor, mask: Tensor) -> Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(logits.device, torch.float32)
        ignore = -100 if self.ignore_index is None else self.ignore_index
        loss = F.cross_entropy(logits, mask, weight=weight, ignore_index=ignore)
        if self.dice_weight:
            loss = loss + self.dice_weight * soft_dice_loss(logits, mask, self.ignore_index)
        return loss

    def loss(self, model: nn.Module, batch: dict) -> tuple[Tensor, dict]:
        logits = model(batch["image"]).float()
        loss = self._loss(logits, batch["mask"])
        valid = batch["mask"] != (-100 if self.ignore_index is None else self.ignore_index)
        acc = ((logits.argmax(1) == batch["mask"]) & valid).sum() / valid.sum().clamp(min=1)
        return loss, {"pixel_acc": acc.detach()}

    def log_images(self, model: nn.Module, loader: DataLoader, device: torch.device, n: int = 4) -> dict:
        """What ``--log tensorboard`` shows: the first val tiles as image | prediction | truth, side by side."""
        from ...data.transforms import denormalize

        batch = to_device(next(iter(loader)), device)
        x, truth = batch["image"][:n], batch["mask"][:n].long()
        n_classes = len(self.classes)
        truth = torch.where((truth >= 0) & (truth < n_classes), truth, n_classes)  # ignored pixels: black
        pred = model(x).argmax(1)
        rows = [denormalize(x.float()).cpu(), _colourise(pred, n_classes), _colourise(truth, n_classes)]
        return {"predictions": torch.cat(rows, dim=3)}

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
        conf = torch.zeros(len(self.classes), len(self.classes), dtype=torch.long)
        loss_sum, n = 0.0, 0
        for batch in loader:
            batch = to_device(batch, device)
            logits = model(batch["image"]).float()
            loss_sum += self._loss(logits, batch["mask"]).item() * len(logits)
            n += len(logits)
            conf += confusion(logits.argmax(1), batch["mask"], len(self.classes), self.ignore_index)
        conf = sum_over_processes(conf, device)
        loss_sum, n = sum_over_processes(torch.tensor([loss_sum, n], dtype=torch.float64), device).tolist()
        m = segmentation_metrics(conf, self.classes)
        return {"val_loss": loss_sum / max(1, n), "val_miou": m["miou"], "val_pixel_acc": m["pixel_accuracy"]}
