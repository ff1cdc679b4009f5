"""The engine every task trains with: ``fit`` + a ``Task``, its config, checkpoints, run folders and inference."""

from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .inference import flip_tta, run_batches
from .loop import FitResult, SupervisedTask, Task, fit
from .optim import Optimization, StepContext, build_optimizer, build_scheduler, default_optimization
from .precision import autocast, resolve_amp

__all__ = [
    "FitResult",
    "Optimization",
    "StepContext",
    "SupervisedTask",
    "Task",
    "TrainConfig",
    "autocast",
    "build_optimizer",
    "build_scheduler",
    "default_optimization",
    "fit",
    "flip_tta",
    "load_checkpoint",
    "resolve_amp",
    "run_batches",
    "save_checkpoint",
]
