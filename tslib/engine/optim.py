"""Optimizers, lr schedules, and the optimisation step a task calls (one optimizer, or several for a GAN)."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .config import TrainConfig
from .precision import autocast


def build_optimizer(
    model: nn.Module, config: TrainConfig, param_groups: list[dict] | None = None
) -> torch.optim.Optimizer:
    """AdamW or SGD over trainable parameters, or over ``param_groups`` (per-group lr etc.)."""
    if param_groups is None:
        param_groups = [{"params": list(model.parameters())}]
    # Frozen parameters never get an optimizer slot (no wasted Adam state, no weight decay on them).
    groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in param_groups]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("no trainable parameters (all have requires_grad=False)")
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            groups,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> Any | None:
    """Per-step schedule over the whole run; each group keeps its own peak lr."""
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "cosine":
        # Closed form (not CosineAnnealingLR's recursion) so lr depends only on the step count.
        def factor(step: int) -> float:
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if config.schedule == "onecycle":
        max_lr = [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total)
    return None


@dataclass
class Optimization:
    """Named optimizers and their schedulers: ``{"model": ...}`` for most tasks, ``{"d": ..., "g": ...}`` for a
    GAN. The engine checkpoints every one of them."""

    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.optimizers:
            raise ValueError("a task must configure at least one optimizer")
        unknown = set(self.schedulers) - set(self.optimizers)
        if unknown:
            raise ValueError(f"schedulers {sorted(unknown)} have no optimizer of the same name")


def default_optimization(
    model: nn.Module, config: TrainConfig, steps_per_epoch: int, param_groups: list[dict] | None = None
) -> Optimization:
    """One optimizer over the (trainable) model, one schedule: what every single-loss task uses."""
    optimizer = build_optimizer(model, config, param_groups)
    return Optimization({"model": optimizer}, {"model": build_scheduler(optimizer, config, steps_per_epoch)})


class StepContext:
    """What a task's training step gets: autocast for its forward passes and ``step(name, loss)``.

    ``step`` does zero-grad, (scaled) backward, unscale + gradient clipping, optimizer step and scheduler step for
    the optimizer called ``name``.

    The loss-scaler protocol (fp16; a no-op otherwise): ``GradScaler`` allows each optimizer one unscale and one
    step per ``update()``. The scaler is updated once per *round*, a round being at most one step of each
    optimizer: when an optimizer steps a second time in one batch (a GAN's ``d_steps`` > 1), the round closes
    first (``update()``), and the engine closes the last round after the task's step (:meth:`end_batch`). So a
    batch with one step per optimizer updates the scale once, as PyTorch's multi-optimizer recipe does; a step
    whose gradients overflowed is skipped, and the scale backs off before the next round.
    """

    def __init__(self, optim: Optimization, scaler: torch.amp.GradScaler, device: torch.device,
                 amp_dtype: torch.dtype | None, grad_clip: float | None) -> None:
        self.optim, self.scaler, self.device = optim, scaler, device
        self.amp_dtype, self.grad_clip = amp_dtype, grad_clip
        self.lrs: dict[str, float] = {}
        self._round: set[str] = set()  # optimizers stepped since the scaler's last update
        # Where training is (set by the engine before each batch): schedules inside a task, such as a KL
        # warm-up, read these rather than counting calls, so a resumed run sees the same values.
        self.epoch, self.step_in_epoch, self.steps_per_epoch = 1, 0, 1

    @property
    def progress(self) -> float:
        """Epochs completed so far, fractional (0.0 at the first batch)."""
        return self.epoch - 1 + self.step_in_epoch / max(1, self.steps_per_epoch)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device, self.amp_dtype, amp="off")

    def step(self, name: str, loss: Tensor) -> None:
        if name not in self.optim.optimizers:
            raise KeyError(f"no optimizer named {name!r}; this task configured {sorted(self.optim.optimizers)}")
        optimizer = self.optim.optimizers[name]
        if name in self._round:  # a second step of this optimizer in one batch: close the scaler's round first
            self.end_batch()
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        # Under torchrun the backward pass has already averaged the gradients (DDP, engine/parallel.py).
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if self.grad_clip is not None:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
            nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.lrs[name] = optimizer.param_groups[0]["lr"]  # the lr this step actually used
        self.scaler.step(optimizer)
        self._round.add(name)
        scheduler = self.optim.schedulers.get(name)
        if scheduler is not None:
            scheduler.step()

    def end_batch(self) -> None:
        """Close the scaler's round: ``update()`` the loss scale from the steps since the last one (none: nothing
        to update, and ``GradScaler`` would refuse)."""
        if self._round:
            self.scaler.update()
            self._round.clear()
