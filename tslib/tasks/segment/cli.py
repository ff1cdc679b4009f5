"""What the command line shows of segmentation: mIoU first on each line, the test mIoU last."""

from __future__ import annotations


def format_metrics(metrics: dict) -> list[str]:
    lines, last = [], None
    for split in ("val", "val_tta", "test", "test_tta"):
        m = metrics.get(split)
        if not m:
            continue
        per = "  ".join(f"{c} {v:.3f}" for c, v in m["per_class_iou"].items() if v is not None)
        lines.append(f"{split}: mIoU {m['miou']:.4f}  pixel accuracy {m['pixel_accuracy']:.4f}  IoU: {per}")
        last = f"{split} mIoU: {m['miou']:.4f}"
    return lines + ([last] if last else [])


def add_commands(sub) -> None:
    """Segmentation adds no verb yet (whole-image `segment` comes with sliding-window inference)."""
