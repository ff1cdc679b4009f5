"""One training loop for every task (classifier, VAE, UNet): AMP, checkpoints, exact resume, early stop.

The model-specific part lives in a small :class:`Task` object that turns a batch into a loss and a
validation loader into metrics; :func:`fit` does everything else.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .utils import atomic_write_text, resolve_device, seed_everything, to_device


@dataclass
class TrainConfig:
    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"  # "adamw" | "sgd"
    momentum: float = 0.9  # SGD only (Nesterov)
    schedule: str = "cosine"  # "cosine" | "onecycle" | "none"; stepped once per batch
    grad_clip: float | None = 1.0  # max global grad norm; None disables clipping
    amp: str = "auto"  # "auto" (bf16/fp16 on cuda, off elsewhere) | "bf16" | "fp16" | "off"
    device: str = "auto"
    channels_last: bool = True  # applied only on cuda, where conv kernels are faster in NHWC
    patience: int | None = None  # early stop after this many epochs without improvement
    seed: int = 0
    progress: bool = True  # tqdm bars with live loss

    def __post_init__(self) -> None:
        # Fail at construction, not after the first epoch has run.
        for name, value, allowed in (
            ("optimizer", self.optimizer, ("adamw", "sgd")),
            ("schedule", self.schedule, ("cosine", "onecycle", "none")),
            ("amp", self.amp, ("auto", "bf16", "fp16", "off")),
        ):
            if value not in allowed:
                raise ValueError(f"TrainConfig.{name}={value!r}; expected one of {allowed}")


class Task(Protocol):
    """What a batch means. ``loss`` gets a batch already on the device, inside autocast."""

    monitor: str  # validation metric to select best.pt / early-stop on, e.g. "val_acc"
    mode: str  # "max" | "min"

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, float | Tensor]]: ...

    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]: ...


class ClassificationTask:
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
        if count == 0:
            raise ValueError("validation loader is empty")
        return {"val_loss": loss_sum.item() / count, "val_acc": correct.item() / count}


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` on ``device``, or None for full fp32.

    bf16 on CPU is allowed (torch autocasts matmuls/convs on CPU); fp16 on CPU is rejected because
    it needs loss scaling and CPU fp16 kernels are slow or missing.
    """
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(
                "amp='bf16' but this GPU has no bf16 support (pre-Ampere); use amp='fp16' or 'auto'"
            )
        return torch.bfloat16
    if amp == "fp16":
        if device.type == "cpu":
            raise ValueError("amp='fp16' needs a GPU; on CPU use amp='bf16' or amp='off'")
        return torch.float16
    raise ValueError(f"unknown amp mode {amp!r}; expected 'auto', 'bf16', 'fp16' or 'off'")


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


def autocast(device: torch.device, dtype: torch.dtype | None = None, amp: str = "auto") -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` (default: what ``amp`` resolves to on ``device``), or a no-op for full fp32."""
    dtype = dtype if dtype is not None else resolve_amp(amp, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _reseed_data_order(loader: DataLoader, seed: int, epoch: int) -> None:
    """Make epoch ``epoch``'s shuffling a function of (seed, epoch) only, so resumed runs match."""
    gen = getattr(loader, "generator", None)
    if isinstance(gen, torch.Generator):
        gen.manual_seed(seed + epoch)
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = (getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None))
    samplers = {id(s): s for s in candidates if s is not None}
    for sampler in samplers.values():
        sampler_gen = getattr(sampler, "generator", None)
        if isinstance(sampler_gen, torch.Generator) and sampler_gen is not gen:
            sampler_gen.manual_seed(seed + epoch)
        if callable(getattr(sampler, "set_epoch", None)):  # DistributedSampler
            sampler.set_epoch(epoch)


def _improved(value: float, best: float | None, mode: str) -> bool:
    if math.isnan(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


def _write_history(path: Path, history: list[dict]) -> None:
    fields: dict[str, None] = {}  # union of keys in first-seen order (tasks may add metrics later)
    for row in history:
        fields.update(dict.fromkeys(row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), restval="")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buf.getvalue())


def _train_epoch(
    model: nn.Module,
    task: Task,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    amp_dtype: torch.dtype | None,
    memory_format: torch.memory_format | None,
    grad_clip: float | None,
    desc: str,
    progress: bool,
) -> dict[str, float]:
    model.train()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    sums: dict[str, Tensor | float] = {}
    lr = optimizer.param_groups[0]["lr"]
    steps = 0
    # The bar only counts (see utils.progress_bar): the DataLoader iterator must not live inside tqdm.
    bar = tqdm(total=len(loader), desc=desc, leave=False, disable=not progress, dynamic_ncols=True)
    for batch in loader:
        batch = to_device(batch, device, non_blocking=True, memory_format=memory_format)
        with autocast(device, amp_dtype, amp="off"):
            loss, logs = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)  # clip the true gradients, not the fp16-scaled ones
            nn.utils.clip_grad_norm_(params, grad_clip)
        lr = optimizer.param_groups[0]["lr"]  # the lr this step actually used
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        steps += 1
        bar.update()
        # Accumulate on-device; calling .item() every step would stall the GPU pipeline.
        for key, value in {"loss": loss, **logs}.items():
            value = value.detach().float() if isinstance(value, Tensor) else float(value)
            sums[key] = sums.get(key, 0.0) + value
        if progress and (steps % 10 == 1 or steps == len(loader)):
            bar.set_postfix({k: f"{float(v) / steps:.4f}" for k, v in sums.items()}, refresh=False)
    bar.close()
    if steps == 0:
        raise ValueError("train_loader produced no batches")
    row = {f"train_{k}": float(v) / steps for k, v in sums.items()}
    if not math.isfinite(row["train_loss"]):
        raise FloatingPointError(f"train loss is {row['train_loss']}; try a lower lr or grad_clip")
    return {**row, "lr": lr}


def fit(
    model: nn.Module,
    task: Task,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    param_groups: list[dict] | None = None,
    classes: list[str] | None = None,
    callbacks: Sequence[Callable[[dict], None]] = (),
    resume: bool = False,
    extra_config: dict[str, Any] | None = None,
) -> list[dict]:
    """Train ``model`` for ``config.epochs`` epochs and return the per-epoch history.

    Writes ``config.json``, ``history.csv``, ``last.pt`` (every epoch) and ``best.pt`` (when
    ``task.monitor`` improves) to ``run_dir``. ``resume=True`` continues from ``last.pt``; on CPU
    the result is bit-identical to an uninterrupted run (resuming with more epochs also works, but
    re-stretches the lr schedule over the new total). Ctrl-C, or a callback raising
    KeyboardInterrupt, stops cleanly and returns the history of completed epochs.
    """
    if task.mode not in ("max", "min"):
        raise ValueError(f"task.mode must be 'max' or 'min', got {task.mode!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    amp_dtype = resolve_amp(config.amp, device)
    memory_format = torch.channels_last if config.channels_last and device.type == "cuda" else None
    model.to(device)
    if memory_format is not None:
        model.to(memory_format=memory_format)
    optimizer = build_optimizer(model, config, param_groups)
    scheduler = build_scheduler(optimizer, config, len(train_loader))
    # Loss scaling only matters for fp16; bf16 has fp32's exponent range.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    full_config = {**asdict(config), **(extra_config or {})}

    history: list[dict] = []
    best: float | None = None
    bad_epochs, start_epoch = 0, 1
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume and last_path.is_file():
        # restore_rng: dropout/augmentation draws continue exactly where the saved run stopped.
        ckpt = load_checkpoint(last_path, model, optimizer, scheduler, scaler, restore_rng=True)
        history, best = ckpt["history"], ckpt["best_metric"]
        bad_epochs, start_epoch = ckpt["bad_epochs"], ckpt["epoch"] + 1
    elif resume:
        warnings.warn(f"resume=True but {last_path} does not exist; starting from scratch", stacklevel=2)
    atomic_write_text(run_dir / "config.json", json.dumps(full_config, indent=2, default=str))

    try:
        for epoch in range(start_epoch, config.epochs + 1):
            if config.patience is not None and bad_epochs >= config.patience:
                if config.progress:
                    tqdm.write(f"early stopping: {task.monitor} has not improved for {bad_epochs} epochs")
                break
            _reseed_data_order(train_loader, config.seed, epoch)
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch}
            row |= _train_epoch(
                model,
                task,
                train_loader,
                optimizer,
                scheduler,
                scaler,
                device,
                amp_dtype,
                memory_format,
                config.grad_clip,
                f"epoch {epoch}/{config.epochs}",
                config.progress,
            )
            if val_loader is not None:
                model.eval()
                with torch.no_grad(), autocast(device, amp_dtype, amp="off"):
                    row |= {k: float(v) for k, v in task.evaluate(model, val_loader, device).items()}
            row["seconds"] = round(time.perf_counter() - t0, 3)
            if task.monitor not in row:
                raise KeyError(f"monitored metric {task.monitor!r} not in epoch metrics {sorted(row)}")
            is_best = _improved(row[task.monitor], best, task.mode)
            if is_best:
                best, bad_epochs = row[task.monitor], 0
            else:
                bad_epochs += 1
            history.append(row)

            state = dict(
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                scaler=scaler,
                epoch=epoch,
                best_metric=best,
                config=full_config,
                classes=classes,
                extra={"history": history, "bad_epochs": bad_epochs, "monitor": task.monitor},
            )
            if is_best:  # best before last: a crash in between leaves last.pt at the previous epoch
                save_checkpoint(best_path, **state)
            save_checkpoint(last_path, **state)  # RNG states captured here are what resume restores
            _write_history(run_dir / "history.csv", history)
            if config.progress:
                metrics = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
                star = "  *" if is_best else ""  # marks a new best.pt
                tqdm.write(f"epoch {epoch}/{config.epochs}  {metrics}  {row['seconds']:.1f}s{star}")
            info = dict(epoch=epoch, history=history, model=model, run_dir=run_dir, row=row, is_best=is_best)
            for callback in callbacks:
                callback(info)
    except KeyboardInterrupt:
        done = history[-1]["epoch"] if history else 0
        print(f"training interrupted after epoch {done}; fit(..., resume=True) continues from {last_path}")
    return history
