"""Land-cover segmentation: Landcover.ai tiles or your own image/mask folders, the UNet, mIoU.

Names are imported on first use (PEP 562), so the CLI starts quickly.
"""

from __future__ import annotations

from .. import TaskSpec, lazy_exports
from .config import SegmentConfig

_LAZY = {
    "SegmentationDataset": "data",
    "SegmentationTask": "task",
    "evaluate_run": "evaluate",
    "load_segmenter": "evaluate",
    "segmentation_metrics": "metrics",
    "train_segmenter": "train",
}

__all__ = ["SPEC", "SegmentConfig", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)

SPEC = TaskSpec.of_package(__name__, "segment", "segmentation", SegmentConfig, train_fn="train_segmenter")
