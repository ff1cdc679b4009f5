"""DataLoader construction shared by every task: seeded order, optional sampler, pinned memory on GPU."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from .. import distributed


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    device: torch.device | str = "cpu",
    sampler: Sampler | None = None,
) -> DataLoader:
    """A loader whose order depends only on ``seed`` (the engine re-seeds its generator every epoch).

    ``train`` shuffles unless a ``sampler`` is given; workers are not persistent on purpose: exact resume relies
    on re-seeding them each epoch. Under torchrun a training loader yields this process's share of each global
    batch of ``batch_size`` (:class:`~tslib.distributed.ShardedSampler`); evaluation loaders see everything.
    """
    generator = torch.Generator().manual_seed(seed)
    if train and distributed.world_size() > 1:
        base = sampler or RandomSampler(dataset, generator=generator)  # the single-process order, then split
        sampler = distributed.ShardedSampler(base, batch_size, distributed.rank(), distributed.world_size())
        batch_size = sampler.per_rank
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=train and sampler is None, sampler=sampler,
        generator=generator, num_workers=num_workers,
        pin_memory=torch.device(device).type == "cuda", persistent_workers=False, drop_last=False,
    )
