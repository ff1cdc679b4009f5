"""The training time budget (``--max-minutes``) of a whole run, its resumed sessions included."""

from __future__ import annotations

import time

import torch

from .. import distributed


class TimeBudget:
    """``--max-minutes`` over the whole run, earlier sessions included: training stops before an epoch that would
    end past the budget, judged by the last epoch's wall time (training, validation, checkpoints, callbacks)."""

    def __init__(self, minutes: float | None, earlier: float, started: float, last_epoch: float) -> None:
        self.minutes, self.earlier, self.started = minutes, earlier, started
        self.epoch, self._mark, self.spent = last_epoch, started, earlier

    def exhausted(self, device: torch.device) -> bool:
        now = time.perf_counter()
        if self._mark != self.started or self.epoch == 0:  # this session has timed an epoch: the best estimate
            self.epoch = now - self._mark
        self._mark = now
        if self.minutes is None:
            return False
        spent = {"spent": self.earlier + now - self.started, "epoch": self.epoch}
        # under torchrun the processes' clocks differ a little: all stop on their mean, never some of them
        spent = distributed.mean_over_processes(spent, device)
        self.spent, self.epoch = spent["spent"], spent["epoch"]
        return self.spent + self.epoch > 60 * self.minutes
