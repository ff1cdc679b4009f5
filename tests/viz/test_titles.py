"""Figure titles (with their data tag) never overlap the panels under them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tslib.viz import classify, data, segment  # noqa: E402

TAG = "PROCEDURAL DATA (built-in generator, not real photos)"


def _overlaps(fig) -> list[str]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    hits = [ax.get_title() or "axes" for ax in fig.axes if ax.get_visible() and ax.axison
            and ax.get_tightbbox(renderer).overlaps(title)]
    plt.close(fig)
    return hits


def test_titles_sit_above_the_panels():
    rng = np.random.default_rng(0)
    images = [torch.from_numpy(rng.integers(0, 255, (3, 150, 150), dtype=np.uint8)) for _ in range(3)]
    confusion = {"confusion": [[5, 1], [2, 4]], "accuracy": 0.75, "n": 12}
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5, "val_acc": 0.6}
               for e in range(1, 4)]
    seg = {"miou": 0.5, "per_class_iou": {"a": 0.4, "b": 0.6}, "confusion": [[8, 2], [1, 9]]}
    figures = {
        "augmentation": data.plot_augmentations(images, size=64, draws=2, tag=TAG),
        "confusion": classify.plot_confusion(confusion, ["a", "b"], TAG),
        "history": classify.plot_history(history, TAG),
        "segment confusion": segment.plot_confusion(seg, TAG),
        "explanations": classify.plot_explanations(np.zeros((2, 32, 32, 3), np.uint8), torch.rand(2, 32, 32),
                                                   torch.tensor([[0.7, 0.3], [0.4, 0.6]]), ["a", "b"], tag=TAG),
    }
    for name, fig in figures.items():
        assert _overlaps(fig) == [], name
    # the check can fail: a title pushed into the panels is caught
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    fig.suptitle("a title\n[tag]", y=0.9)
    assert _overlaps(fig)
