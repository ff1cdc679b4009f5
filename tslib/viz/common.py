"""What every figure shares: a title that names the data it shows, and a grid of images."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt


def title(fig, text: str, tag: str | None) -> None:
    """Figure title with the data tag underneath, so procedural-data figures say so."""
    fig.suptitle(f"{text}\n[{tag}]" if tag else text, fontsize=11)


def image_grid(items: Sequence[Any], cols: int, draw: Callable[[Any, Any], None], tag: str | None, text: str):
    """``draw(item, ax)`` for each item on a grid of ``cols`` columns, titled ``text`` with the data ``tag``."""
    rows = max(1, math.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(max(2.4 * cols, 6), 2.9 * rows), squeeze=False,
                             layout="constrained")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(items):
            draw(items[k], ax)
    if not items:
        axes[0, 0].text(0.5, 0.5, "nothing to show", ha="center", fontsize=12)
    title(fig, text, tag)
    return fig
