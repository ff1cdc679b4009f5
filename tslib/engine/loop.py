"""One training loop for every task (classifier, VAE, GAN, UNet): AMP, checkpoints, exact resume, early stop.

What differs between tasks lives in a small :class:`Task` object: what a batch means (``loss``), how a
validation loader becomes metrics (``evaluate``) and, where it must, its own optimisers and optimisation step
(``configure_optimizers`` and ``training_step``, e.g. a GAN updating D then G). :func:`fit` does the rest.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .. import distributed
from ..utils import atomic_write_text, check_stop, resolve_device, seed_everything, to_device
from .budget import TimeBudget
from .checkpoint import check_room, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .optim import Optimization, StepContext, default_optimization
from .parallel import training_view
from .precision import autocast, resolve_amp

Logs = dict[str, Any]


class Task(Protocol):
    """What a batch means. Required: ``monitor``, ``mode``, ``evaluate`` and either ``loss`` (one optimizer,
    the engine steps it) or ``training_step`` (the task steps its own optimizers through ``ctx``)."""

    monitor: str | None  # metric that selects best.pt and drives early stopping (None: the last epoch is best)
    mode: str  # "max" | "min"

    def evaluate(self, model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]: ...


class SupervisedTask:
    """Base for single-loss tasks: subclasses write ``loss(model, batch) -> (loss, logs)`` and ``evaluate``."""

    monitor: str | None = "val_loss"
    mode: str = "min"

    def loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, Logs]:
        raise NotImplementedError

    def configure_optimizers(self, model: nn.Module, config: TrainConfig, steps_per_epoch: int,
                             param_groups: list[dict] | None = None) -> Optimization:
        return default_optimization(model, config, steps_per_epoch, param_groups)

    def training_step(self, model: nn.Module, batch: Any, ctx: StepContext) -> Logs:
        with ctx.autocast():
            loss, logs = self.loss(model, batch)
        ctx.step("model", loss)
        return {"loss": loss, **logs}


@dataclass
class FitResult:
    """What :func:`fit` did: the per-epoch history and why it stopped."""

    history: list[dict]
    stop_reason: str  # "finished" | "early_stopped" | "time_budget" | "interrupted"
    epochs: int  # the epochs asked for
    best_metric: float | None = None
    monitor: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        """Trained to the end, or stopped early on purpose (not interrupted)."""
        return self.stop_reason in ("finished", "early_stopped", "time_budget")


def _configure(task: Any, model: nn.Module, config: TrainConfig, steps: int, groups: list[dict] | None) -> Optimization:
    if hasattr(task, "configure_optimizers"):
        return task.configure_optimizers(model, config, steps, groups)
    return default_optimization(model, config, steps, groups)


def _step_fn(task: Any) -> Callable[[nn.Module, Any, StepContext], Logs]:
    if hasattr(task, "training_step"):
        return task.training_step
    return lambda model, batch, ctx: SupervisedTask.training_step(task, model, batch, ctx)  # duck-typed `loss`


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


def _train_epoch(model: nn.Module, step: Callable, loader: DataLoader, ctx: StepContext,
                 memory_format: torch.memory_format | None, desc: str, progress: bool) -> dict[str, float]:
    model.train()
    sums: dict[str, Tensor | float] = {}
    steps = 0
    ctx.steps_per_epoch = len(loader)
    # The bar only counts (see utils.progress_bar): the DataLoader iterator must not live inside tqdm.
    bar = tqdm(total=len(loader), desc=desc, leave=False, disable=not progress, dynamic_ncols=True)
    for batch in loader:
        check_stop()  # a Ctrl-C/SIGTERM that landed while the loader forked its workers was dropped by Python
        ctx.step_in_epoch = steps
        batch = to_device(batch, ctx.device, non_blocking=True, memory_format=memory_format)
        logs = step(model, batch, ctx)
        ctx.end_batch()  # the loss scaler's update, once the task's optimizers have stepped
        steps += 1
        bar.update()
        # Accumulate on-device; calling .item() every step would stall the GPU pipeline.
        for key, value in logs.items():
            value = value.detach().float() if isinstance(value, Tensor) else float(value)
            sums[key] = sums.get(key, 0.0) + value
        if progress and (steps % 10 == 1 or steps == len(loader)):
            bar.set_postfix({k: f"{float(v) / steps:.4f}" for k, v in sums.items()}, refresh=False)
    bar.close()
    if steps == 0:
        raise ValueError("train_loader produced no batches")
    # Under torchrun each process saw its share of every batch: the epoch's numbers are their mean.
    row = distributed.mean_over_processes({f"train_{k}": float(v) / steps for k, v in sums.items()}, ctx.device)
    bad = [k for k, v in row.items() if "loss" in k and not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"{bad[0]} is {row[bad[0]]}; try a lower lr or grad_clip")
    # One optimizer logs "lr"; several log "lr_<name>" each (a GAN's lr_d and lr_g).
    lrs = {"lr": next(iter(ctx.lrs.values()))} if len(ctx.lrs) == 1 else {f"lr_{k}": v for k, v in ctx.lrs.items()}
    return {**row, **lrs}


def fit(
    model: nn.Module,
    task: Task,
    train_loader: DataLoader,
    val_loader: DataLoader | None,
    config: TrainConfig,
    run_dir: str | Path,
    *,
    param_groups: list[dict] | None = None,
    callbacks: Sequence[Callable[[dict], None]] = (),
    resume: bool = False,
    extra_config: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``model`` for ``config.epochs`` epochs; returns the history and why training stopped.

    Writes ``config.json``, ``history.csv``, ``last.pt`` (every epoch) and ``best.pt`` (when
    ``task.monitor`` improves; every epoch without a monitor) to ``run_dir``. ``resume=True`` continues from
    ``last.pt``; on CPU the result is bit-identical to an uninterrupted run. Ctrl-C, or a callback raising
    KeyboardInterrupt, stops cleanly with ``stop_reason="interrupted"``. ``meta`` is stored in the checkpoints.
    """
    monitor = getattr(task, "monitor", None)
    if task.mode not in ("max", "min"):
        raise ValueError(f"task.mode must be 'max' or 'min', got {task.mode!r}")
    if config.patience is not None and monitor is None:
        raise ValueError("early stopping (patience) needs a task with a monitored metric")
    run_dir = Path(run_dir)
    if distributed.is_main():
        check_room(run_dir, model)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed, config.deterministic)
    device = distributed.setup(resolve_device(config.device))
    progress = config.progress and distributed.is_main()  # one progress bar and one log, from rank 0
    amp_dtype = resolve_amp(config.amp, device)
    memory_format = torch.channels_last if config.channels_last and device.type == "cuda" else None
    model.to(device)
    if memory_format is not None:
        model.to(memory_format=memory_format)
    distributed.broadcast_state(model)  # every process starts from rank 0's weights
    val_loader = None if val_loader is None else distributed.shard_loader(val_loader)  # each validates 1/N
    optim = _configure(task, model, config, len(train_loader), param_groups)
    single = len(optim.optimizers) == 1  # one optimizer: checkpoints keep the plain optimizer/scheduler keys
    opt_arg = next(iter(optim.optimizers.values())) if single else optim.optimizers
    sched_arg = next(iter(optim.schedulers.values()), None) if single else optim.schedulers
    # Loss scaling only matters for fp16; bf16 has fp32's exponent range.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    ctx = StepContext(optim, scaler, device, amp_dtype, config.grad_clip)
    step = _step_fn(task)
    full_config = {**asdict(config), **(extra_config or {})}

    history: list[dict] = []
    best: float | None = None
    bad_epochs, start_epoch = 0, 1
    earlier = 0.0  # seconds of training before this session (a resumed run's budget is the whole run's)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if resume and last_path.is_file():
        # restore_rng: dropout/augmentation draws continue exactly where the saved run stopped.
        ckpt = load_checkpoint(last_path, model, opt_arg, sched_arg, scaler, restore_rng=True)
        history, best = ckpt["history"], ckpt["best_metric"]
        bad_epochs, start_epoch = ckpt["bad_epochs"], ckpt["epoch"] + 1
        earlier = float(ckpt.get("train_seconds", sum(row.get("seconds", 0.0) for row in history)))
    elif resume:
        warnings.warn(f"resume=True but {last_path} does not exist; starting from scratch", stacklevel=2)
    atomic_write_text(run_dir / "config.json", json.dumps(full_config, indent=2, default=str))

    reason = "finished"
    started = time.perf_counter()
    budget = TimeBudget(config.max_minutes, earlier, started, history[-1].get("seconds", 0.0) if history else 0.0)
    parallel = contextlib.ExitStack()  # DDP (torchrun) / torch.compile around the model, undone however it ends
    board = None
    try:  # everything set up inside: a failure while building the log still undoes the parallel view
        step_model = parallel.enter_context(training_view(model, device, config.sync_bn, config.compile))
        if config.log == "tensorboard" and distributed.is_main():
            from .tensorboard import TensorBoardLog

            board = TensorBoardLog(run_dir, full_config, task, config.epochs, start_epoch)
        for epoch in range(start_epoch, config.epochs + 1):
            if config.patience is not None and bad_epochs >= config.patience:
                reason = "early_stopped"
                if progress:
                    tqdm.write(f"early stopping: {monitor} has not improved for {bad_epochs} epochs")
                break
            if history and budget.exhausted(device):
                reason = "time_budget"
                if progress:
                    tqdm.write(f"time budget: stopped after epoch {epoch - 1} ({budget.spent / 60:.1f} of "
                               f"{config.max_minutes:g} minutes; another epoch would take about "
                               f"{budget.epoch / 60:.1f})")
                break
            _reseed_data_order(train_loader, config.seed, epoch)
            ctx.epoch = epoch
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch}
            row |= _train_epoch(step_model, step, train_loader, ctx, memory_format,
                                f"epoch {epoch}/{config.epochs}", progress)
            distributed.broadcast_state(model, buffers_only=True)  # one set of BatchNorm statistics
            if val_loader is not None:
                model.eval()
                with torch.no_grad(), autocast(device, amp_dtype, amp="off"):
                    scores = {k: float(v) for k, v in task.evaluate(model, val_loader, device).items()}
                # the built-in tasks sum their counts over processes, so this changes nothing for them; a task
                # that does not still gets one value on every process (best.pt and early stopping agree)
                row |= distributed.mean_over_processes(scores, device)
            row["seconds"] = round(time.perf_counter() - t0, 3)
            if monitor is not None and monitor not in row:
                raise ValueError(f"monitored metric {monitor!r} not in epoch metrics {sorted(row)}"
                                 + ("; it needs a validation loader" if val_loader is None else ""))
            is_best = monitor is None or _improved(row[monitor], best, task.mode)
            if is_best:
                best, bad_epochs = (row[monitor] if monitor else None), 0
            else:
                bad_epochs += 1
            history.append(row)

            state = dict(model=model, optimizer=opt_arg, scheduler=sched_arg, scaler=scaler, epoch=epoch,
                         best_metric=best, config=full_config, meta=meta,
                         extra={"history": history, "bad_epochs": bad_epochs, "monitor": monitor,
                                "train_seconds": earlier + time.perf_counter() - started})
            if is_best:  # best before last: a crash in between leaves last.pt at the previous epoch
                save_checkpoint(best_path, **state)
            save_checkpoint(last_path, **state)  # RNG states captured here are what resume restores
            _write_history(run_dir / "history.csv", history)
            if progress:
                metrics = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds"))
                star = "  *" if is_best and monitor else ""  # marks a new best.pt
                tqdm.write(f"epoch {epoch}/{config.epochs}  {metrics}  {row['seconds']:.1f}s{star}")
            if board is not None:
                board.epoch(row, model, val_loader, device)
            info = dict(epoch=epoch, history=history, model=model, run_dir=run_dir, row=row, is_best=is_best)
            for callback in callbacks if distributed.is_main() else ():
                callback(info)
    except KeyboardInterrupt:
        reason = "interrupted"
        done = history[-1]["epoch"] if history else 0
        if distributed.is_main():
            print(f"training interrupted after epoch {done}; fit(..., resume=True) continues from {last_path}")
    finally:
        parallel.close()
        if board is not None:
            board.close(history, monitor)
    distributed.barrier()  # rank 0 has written best.pt/last.pt before any process reads them back
    if reason == "finished" and (not history or history[-1]["epoch"] < config.epochs):
        reason = "early_stopped"  # resumed a run that had already stopped early
    return FitResult(history, reason, config.epochs, best, monitor)
