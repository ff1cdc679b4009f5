"""The engine's settings, shared by every task (each task's config nests one as ``train``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import setting, validate


@dataclass
class TrainConfig:
    """How to optimise, on what device, and how to load batches: the same for every task."""

    epochs: int = setting(10, "training epochs", min=1)
    batch_size: int = setting(64, "images per batch", min=1)
    lr: float | None = setting(1e-3, "peak learning rate (none: the model's own, where it has one)", min=0.0)
    weight_decay: float = setting(1e-4, "decoupled weight decay (AdamW) / L2 (SGD)", min=0.0)
    optimizer: str = setting("adamw", "optimizer", choices=("adamw", "sgd"))
    momentum: float = setting(0.9, "SGD momentum (Nesterov)", min=0.0, max=1.0)
    schedule: str = setting("cosine", "lr schedule, stepped per batch", choices=("cosine", "onecycle", "none"))
    grad_clip: float | None = setting(1.0, "max global gradient norm ('none' disables)", min=0.0)
    amp: str = setting("auto", "mixed precision: auto = bf16/fp16 on a GPU, off on CPU",
                       choices=("auto", "bf16", "fp16", "off"), runtime=True)
    device: str = setting("auto", "auto | cuda | cuda:N | mps | cpu", runtime=True)
    channels_last: bool = setting(True, "NHWC memory format on CUDA (faster convolutions)", runtime=True)
    patience: int | None = setting(None, "early-stopping patience in epochs", min=1)
    max_minutes: float | None = setting(None, "a time budget for the whole run (resumed sessions included): no "
                                        "epoch starts that would end past it, judged by the last epoch's time; "
                                        "at least one epoch runs; epochs stay the ceiling", min=0.0, runtime=True)
    seed: int = setting(0, "seed of every random choice (data order, init, augmentation)", min=0)
    deterministic: bool = setting(False, "deterministic kernels on GPUs (cuDNN autotuning off; slower); CPU "
                                  "training is deterministic anyway", runtime=True)
    num_workers: int = setting(2, "DataLoader worker processes", min=0, flags=("--workers", "--num-workers"),
                               runtime=True)
    progress: bool = setting(True, "progress bars and per-epoch lines", runtime=True)
    log: str = setting("none", "also log to TensorBoard (<run>/tensorboard: scalars, lr, images, config); "
                       "history.csv is always written", choices=("none", "tensorboard"), runtime=True)
    compile: bool = setting(False, "torch.compile the model's networks for training (minutes of compiling first; "
                            "pays off on GPUs over long runs)", runtime=True)
    sync_bn: bool = setting(False, "torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm; "
                            "for small per-GPU batches)", runtime=True)

    def __post_init__(self) -> None:
        # Fail at construction, not after the first epoch has run.
        validate(self)
