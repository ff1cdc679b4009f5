"""Land-cover segmentation: Landcover.ai tiles or your own image/mask folders, the UNet, mIoU.

Names are imported on first use (PEP 562), so the CLI starts quickly.
"""

from __future__ import annotations

from .. import TaskSpec, lazy, lazy_exports
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

SPEC = TaskSpec(name="segment", help="land-cover segmentation (UNet)", config_cls=SegmentConfig,
                train=lazy(f"{__name__}.train", "train_segmenter"), evaluate=lazy(f"{__name__}.evaluate", "evaluate_run"),
                format_metrics=lazy(f"{__name__}.cli", "format_metrics"),
                add_commands=lazy(f"{__name__}.cli", "add_commands"))
