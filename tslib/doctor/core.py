"""The doctor's bookkeeping: one row per path, run in isolation, timed, with its peak GPU memory."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Row:
    """One path: ``ok`` True/False, or None when this machine does not have it (``note`` says why)."""

    path: str
    ok: bool | None
    seconds: float = 0.0
    peak_mib: float | None = None
    note: str = ""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None


class Doctor:
    """Runs the paths in order, each isolated: one that fails is reported and the next still runs."""

    def __init__(self, out: Path, device: torch.device, progress: bool = True) -> None:
        self.out, self.device, self.progress = out, device, progress
        self.rows: list[Row] = []
        self.state: dict = {}
        self.only: list[str] | None = None  # run only the paths whose name holds one of these words

    def run(self, path: str, fn: Callable[[], str | None], skip: str | None = None) -> Row | None:
        if self.only and not any(word in path for word in self.only):
            return None
        if skip:
            row = Row(path, None, note=skip)
        else:
            _peak_reset(self.device)
            start = time.perf_counter()
            try:
                note = fn() or ""
                sync(self.device)
                row = Row(path, True, time.perf_counter() - start, _peak_mib(self.device), note)
            except Exception as e:  # noqa: BLE001 - a failing path is the doctor's finding, not its end
                last = traceback.format_exception_only(type(e), e)[-1].strip()
                row = Row(path, False, time.perf_counter() - start, _peak_mib(self.device), last[:200])
        self.rows.append(row)
        if self.progress:
            print(format_row(row), flush=True)
        return row


def format_row(row: Row) -> str:
    status = {True: "ok", False: "FAILED", None: "skipped"}[row.ok]
    peak = f"{row.peak_mib:8.0f}" if row.peak_mib is not None else "       -"
    return f"{row.path:44s} {status:8s} {row.seconds:7.1f} {peak}  {row.note}"


def table(rows: list[Row]) -> str:
    head = f"{'path':44s} {'ok':8s} {'seconds':>7s} {'peak MiB':>8s}  note"
    return "\n".join([head, "-" * len(head), *map(format_row, rows)])


