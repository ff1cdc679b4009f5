"""``--log tensorboard``: every epoch's numbers, the learning rate, images a task shows, the config as
hyper-parameters, written as TensorBoard event files in ``<run>/tensorboard`` (``%tensorboard --logdir runs`` in
Colab, ``tensorboard --logdir runs`` elsewhere). ``history.csv`` stays the record the project reads back; this is
for watching runs.

Scalars come from the epoch's row (``train_loss`` -> ``train/loss``, ``val_miou`` -> ``val/miou``, ``lr`` and
``lr_<name>`` -> ``lr/...``, ``seconds`` -> ``time/epoch_seconds``), so every task's metrics appear without the
task doing anything. A task that has pictures to show defines ``log_images(model, val_loader, device)`` returning
``{name: float [N, 3, H, W] in [0, 1]}`` (generators: fixed-seed samples and reconstructions; segmenters:
image | prediction | truth): they are logged every ``every`` epochs and at the last one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

LOG_DIR = "tensorboard"


def scalar_name(key: str) -> str:
    """The TensorBoard tag of a history column (grouped into sections by their prefix)."""
    for prefix in ("train", "val"):
        if key.startswith(prefix + "_"):
            return f"{prefix}/{key[len(prefix) + 1:]}"
    if key == "lr" or key.startswith("lr_"):
        return f"lr/{key}"
    return "time/epoch_seconds" if key == "seconds" else f"other/{key}"


def _hparams(config: dict, prefix: str = "") -> dict[str, Any]:
    """The config flattened to the scalar types TensorBoard's HParams take (lists and the rest as text)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out |= _hparams(v, f"{prefix}{k}.")
        else:
            out[prefix + k] = v if isinstance(v, int | float | str | bool) else str(v)
    return out


class TensorBoardLog:
    """One run's event writer (rank 0 only); ``epoch`` per finished epoch, ``close`` at the end."""

    def __init__(self, run_dir: str | Path, config: dict, task: Any, epochs: int, start_epoch: int = 1) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a resumed run drops the events of epochs it is about to train again
        self.writer = SummaryWriter(str(Path(run_dir) / LOG_DIR), purge_step=start_epoch)
        self.config, self.task, self.epochs = config, task, epochs
        self.every = max(1, epochs // 5)  # about five image snapshots a run, and the last epoch
        if start_epoch == 1:
            self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def epoch(self, row: dict, model: nn.Module, val_loader: Any, device: torch.device) -> None:
        step = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch" and isinstance(value, int | float) and math.isfinite(value):
                self.writer.add_scalar(scalar_name(key), value, step)
        show = getattr(self.task, "log_images", None)
        if show is not None and val_loader is not None and (step % self.every == 0 or step == self.epochs):
            was = model.training
            model.eval()
            with torch.no_grad():
                for name, images in show(model, val_loader, device).items():
                    self.writer.add_images(name, images.float().clamp(0, 1).cpu(), step)
            model.train(was)
        self.writer.flush()

    def close(self, history: list[dict], monitor: str | None) -> None:
        """The config as hyper-parameters beside the run's final numbers (TensorBoard's HParams tab)."""
        if history:
            last = history[-1]
            metrics = {f"hparam/{k}": v for k, v in last.items()
                       if k.startswith("val_") and isinstance(v, int | float) and math.isfinite(v)}
            if monitor and monitor in last and not metrics:
                metrics = {f"hparam/{monitor}": last[monitor]}
            if metrics:
                self.writer.add_hparams(_hparams(self.config), metrics, run_name=".")
        self.writer.close()
