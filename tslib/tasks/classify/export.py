"""What ``export`` writes for a classification run: the calibrated classifier with its out-of-distribution score
(:class:`~.trust.TrustedClassifier`, the module ``predict`` uses) and the preprocessing a user must repeat."""

from __future__ import annotations

from pathlib import Path

import torch

from ...export import Exportable

OUTPUTS = (
    {"name": "probs", "shape": ["N", "C"], "meaning": "calibrated probabilities: softmax(logits / temperature)"},
    {"name": "logits", "shape": ["N", "C"], "meaning": "the network's raw class scores"},
    {"name": "score", "shape": ["N"], "meaning": "out-of-distribution score, higher = more like the training "
                                                 "photos; below ood.threshold the image is uncertain (not a "
                                                 "landscape photo)"},
)


def exportable(run_dir: str | Path) -> Exportable:
    """The run's trusted classifier on the CPU, exported for any batch size at the run's input size."""
    from .trust import load_trusted

    module, info = load_trusted(run_dir, "cpu")
    prep, classes = info["preprocessing"], list(info["classes"])
    size = int(prep["size"])
    ood = None
    if module.threshold is not None:
        ood = {"score": module.score_name, "threshold": module.threshold,
               "false_rejection": (info.get("ood") or {}).get("false_rejection")}
    preprocess = {
        "task": "classify",
        "model": info["model"]["name"] if isinstance(info.get("model"), dict) else None,
        "input": {"size": size, "resize_size": int(prep["resize_size"]), "mean": list(prep["mean"]),
                  "std": list(prep["std"]), "interpolation": prep.get("interpolation", "bilinear"),
                  "resize": "shorter side to resize_size (antialiased), then a centre crop of size x size",
                  "layout": "NCHW", "dtype": "float32", "range": "0..1 then normalised", "channels": "RGB"},
        "classes": classes,
        "temperature": float(module.temperature),
        "ood": ood,
        "outputs": [dict(o) for o in OUTPUTS],
    }
    g = torch.Generator().manual_seed(0)
    mean, std = (torch.tensor(prep[k], dtype=torch.float32).view(1, 3, 1, 1) for k in ("mean", "std"))
    # Photos' pixel range, normalised as the model expects; two batch sizes prove the batch axis is dynamic.
    examples = tuple((torch.rand(n, 3, size, size, generator=g) - mean) / std for n in (2, 3))
    return Exportable(module=module, examples=examples, outputs=tuple(o["name"] for o in OUTPUTS),
                      dynamic={0: "batch"}, preprocess=preprocess, checked=("probs",))
