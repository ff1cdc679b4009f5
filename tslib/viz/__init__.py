"""Figures: ``viz.generate`` (samples, reconstructions, metrics, agreement, latent explorer), ``viz.data`` (dataset
composition, sampling, sizes, augmentation; re-exported here, as notebooks 01-02 use them), ``viz.classify``
(training curves, confusion, mistakes, predictions), ``viz.segment`` (class shares, tiles and masks, IoU tables,
whole maps), ``viz.common`` (titles, grids)."""

from . import classify, common, data, generate, segment
from .data import (
    duplicates_frame,
    manifest_frame,
    plot_augmentations,
    plot_class_counts,
    plot_class_grid,
    plot_conflicts,
    plot_image_sizes,
    plot_sampling_balance,
    size_table,
)

__all__ = [
    "classify",
    "common",
    "data",
    "generate",
    "segment",
    "duplicates_frame",
    "manifest_frame",
    "plot_augmentations",
    "plot_class_counts",
    "plot_class_grid",
    "plot_conflicts",
    "plot_image_sizes",
    "plot_sampling_balance",
    "size_table",
]
