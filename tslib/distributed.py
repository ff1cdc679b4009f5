"""Data-parallel training across processes started by ``torchrun`` (nccl on GPUs, gloo on CPU).

``torchrun --nproc_per_node=N -m tslib train ...`` starts N copies of the command; :func:`setup` (called by every
task's ``start_run``) joins them into one process group. Each process then takes its share of every global batch
(:class:`ShardedSampler`: the single-process order, split), gradients are averaged across processes during the
backward pass by ``DistributedDataParallel`` (``tslib.engine.parallel``: one per network, so tasks owning
several optimizers, a GAN, work unchanged), BatchNorm statistics are broadcast from rank 0 after each epoch (or
synchronised every batch with ``--sync-bn``), and
only rank 0 writes files and shows progress. Validation and the frozen-backbone feature cache are sharded too
(:func:`shard_loader`): each process takes every N-th sample, tasks sum their counts across processes
(:func:`sum_over_processes`), cached features are gathered back in order (:func:`gather_rows`). Without
``torchrun`` (``WORLD_SIZE`` unset or 1) nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler, Subset


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True in the process that writes files and prints (the only one without torchrun)."""
    return rank() == 0


def launched() -> bool:
    """Started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> torch.device:
    """Join the process group once (when launched by torchrun) and return this process's device: on CUDA the
    GPU of its ``LOCAL_RANK``."""
    if not launched():
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def broadcast_state(module: nn.Module, buffers_only: bool = False) -> None:
    """Make every process hold rank 0's parameters (unless ``buffers_only``) and buffers (BatchNorm statistics)."""
    if world_size() == 1:
        return
    tensors = list(module.buffers()) if buffers_only else [*module.parameters(), *module.buffers()]
    for t in tensors:
        dist.broadcast(t.data, src=0)


def mean_over_processes(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """The mean of each value over processes (per-process training losses -> one number)."""
    if world_size() == 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, (t / world_size()).tolist()))


def sum_over_processes(t: Tensor, device: torch.device) -> Tensor:
    """``t`` summed over processes (counts, loss sums, confusion matrices), on ``t``'s device."""
    if world_size() == 1:
        return t
    total = t.detach().to(device, copy=True)
    dist.all_reduce(total)
    return total.to(t.device)


def shard_loader(loader: DataLoader) -> DataLoader:
    """This process's share of an evaluation loader (samples rank, rank + N, ...), with the same batch size,
    workers and collate; the loader itself when there is one process."""
    if world_size() == 1:
        return loader
    part = Subset(loader.dataset, range(rank(), len(loader.dataset), world_size()))
    workers = loader.num_workers
    return DataLoader(part, batch_size=loader.batch_size, shuffle=False, num_workers=workers,
                      collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
                      generator=loader.generator, persistent_workers=loader.persistent_workers and workers > 0,
                      prefetch_factor=loader.prefetch_factor if workers else None)


def gather_rows(t: Tensor, total: int, device: torch.device) -> Tensor:
    """The rows each process computed from :func:`shard_loader`'s share (process r: rows r, r + N, ...) put back
    into one ``total``-row tensor, in the original order, on every process (on the CPU)."""
    world = world_size()
    if world == 1:
        return t
    per = -(-total // world)
    mine = torch.zeros(per, *t.shape[1:], dtype=t.dtype, device=device)
    mine[:len(t)] = t.to(device)
    parts = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine)
    # row i of process r is sample i * world + r: interleave
    return torch.stack(parts, 1).reshape(per * world, *t.shape[1:])[:total].cpu()


class ShardedSampler(Sampler[int]):
    """This process's share of ``base``'s order: each global batch of ``batch_size`` indices is cut into
    ``world`` equal slices, slice ``rank`` here. The epoch's order is padded (repeating its start) to whole global
    batches, so every process runs the same number of steps. ``base`` is re-seeded per epoch by the engine (its
    ``generator``), so weighted sampling and exact resume behave as in one process."""

    def __init__(self, base: Sampler, batch_size: int, rank: int, world: int) -> None:
        if batch_size % world:
            raise ValueError(f"--batch-size {batch_size} is the global batch: it must divide by the {world} "
                             "processes (each takes an equal share)")
        self.base, self.batch, self.rank, self.world = base, batch_size, rank, world
        self.per_rank = batch_size // world

    @property
    def generator(self) -> torch.Generator | None:
        return getattr(self.base, "generator", None)

    def __len__(self) -> int:
        n = len(self.base)
        return -(-n // self.batch) * self.per_rank

    def __iter__(self) -> Iterator[int]:
        order = list(self.base)
        total = -(-len(order) // self.batch) * self.batch
        order += (order * (total // max(1, len(order)) + 1))[: total - len(order)]
        for start in range(0, total, self.batch):
            lo = start + self.rank * self.per_rank
            yield from order[lo:lo + self.per_rank]
