"""TerraSculpt library: landscape classification, generation and land-cover segmentation in PyTorch."""

from .classes import CANONICAL_CLASSES
from .datasets import LandscapeDataset
from .prepare import prepare
from .sampling import make_weighted_sampler
from .transforms import eval_transform, train_transform
from .workspace import setup_data

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_CLASSES",
    "LandscapeDataset",
    "eval_transform",
    "make_weighted_sampler",
    "prepare",
    "setup_data",
    "train_transform",
]
