"""PyTorch's DistributedDataParallel and ``torch.compile`` under the engine, for every task, with the checkpoint
format unchanged (state dicts of the plain model: no ``module.`` or ``_orig_mod.`` prefixes).

DDP all-reduces gradients in buckets while the backward pass is still running, but only for a network whose
``forward`` it ran. A model that trains as one network (classifiers, UNets, VAEs) is wrapped whole and its task
gets a :class:`ParallelView` that calls through DDP and reads every other attribute from the model. A model whose
parts train separately names them in ``parallel_networks`` (a GAN: ``("generator", "discriminator")``; the
diffusion model: ``("unet",)``): each part gets its own DDP, shadowing the attribute on the instance while
training (``model.__dict__``), so the model's own methods (``decode``, ``discriminate``, ``loss``) call through DDP
while its module tree, ``state_dict`` keys and checkpoints stay what one process writes. A task's step is
unchanged: it calls ``ctx.step(name, loss)``, whose backward now syncs the gradients.

``sync_bn``: BatchNorm layers become ``SyncBatchNorm`` (statistics over the global batch, not each process's
share) for the run and are turned back into ordinary BatchNorm afterwards, keeping their parameters and running
statistics. PyTorch implements it for GPUs only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from .. import distributed


class ParallelView:
    """``model`` as its task sees it under DDP or ``torch.compile``: calls go through the wrapper, attributes come
    from ``model``."""

    def __init__(self, model: nn.Module, ddp: Any) -> None:
        self._model, self._ddp = model, ddp

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._ddp(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _trainable(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def _wrap(module: nn.Module, device: torch.device) -> DDP:
    # Buffers (BatchNorm statistics) are not broadcast every forward: the engine makes them one set each epoch,
    # and SyncBatchNorm, when asked for, computes them over the global batch.
    return DDP(module, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False,
               gradient_as_bucket_view=True)


def convert_sync_batchnorm(model: nn.Module) -> dict[str, type]:
    """BatchNorm -> SyncBatchNorm in place (below ``model``), the same parameter and statistics tensors; returns
    each converted layer's original class for :func:`revert_sync_batchnorm`."""
    kinds = {name: type(m) for name, m in model.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and name}
    for name, child in model.named_children():
        setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return kinds


def revert_sync_batchnorm(module: nn.Module, kinds: dict[str, type], prefix: str = "") -> None:
    """SyncBatchNorm -> the BatchNorm class it was, in place, keeping the parameter and statistics tensors."""
    for name, child in list(module.named_children()):
        path = f"{prefix}{name}"
        if isinstance(child, nn.SyncBatchNorm):
            bn = kinds.get(path, nn.BatchNorm2d)(child.num_features, child.eps, child.momentum, child.affine,
                                                 child.track_running_stats)
            for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                if getattr(child, key, None) is not None:
                    setattr(bn, key, getattr(child, key))
            bn.train(child.training)
            setattr(module, name, bn)
        else:
            revert_sync_batchnorm(child, kinds, f"{path}.")


def check_sync_bn(device: torch.device) -> None:
    """``--sync-bn`` acts only under torchrun on GPUs: refused in one line anywhere else, never ignored."""
    if distributed.world_size() < 2:
        raise ValueError("--sync-bn averages BatchNorm statistics over torchrun's processes, and this is one process: "
                         "drop it, or launch with `torchrun --nproc-per-node N -m tslib train ...` on N GPUs")
    if device.type != "cuda":
        raise ValueError("--sync-bn needs GPUs (PyTorch's SyncBatchNorm runs on CUDA only); on CPU processes leave "
                         "it off: the engine makes BatchNorm statistics one set after every epoch")


@contextlib.contextmanager
def training_view(model: nn.Module, device: torch.device, sync_bn: bool = False,
                  compile: bool = False) -> Iterator[Any]:
    """Yield what the task's training step should receive, undone on exit (also after an error or Ctrl-C):
    ``model`` itself in one process without ``compile``; otherwise the view described in the module docstring,
    each network DDP-wrapped under torchrun and compiled (``torch.compile``, of the DDP wrapper so that its
    buckets and the graph breaks line up) with ``compile``. Weights and checkpoints are the plain model's."""
    parallel = distributed.world_size() > 1
    if sync_bn:
        check_sync_bn(device)
    if not parallel and not compile:
        yield model
        return
    kinds = None
    if sync_bn:
        kinds = convert_sync_batchnorm(model)

    def wrap(module: nn.Module) -> Any:
        net = _wrap(module, device) if parallel else module
        return torch.compile(net) if compile else net

    names = [n for n in getattr(model, "parallel_networks", ()) if _trainable(getattr(model, n))]
    try:
        if names:
            for name in names:
                model.__dict__[name] = wrap(getattr(model, name))
            yield model
        else:
            yield ParallelView(model, wrap(model))
    finally:
        for name in names:
            model.__dict__.pop(name, None)
        if kinds is not None:
            revert_sync_batchnorm(model, kinds)
