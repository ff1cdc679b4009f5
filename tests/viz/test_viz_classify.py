"""Tests for the classification notebooks' figures and helpers (CPU, no training, seconds)."""

from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from tslib.models import create_model  # noqa: E402
from tslib.tasks.classify import preprocessing  # noqa: E402
from tslib.tasks.classify.review import predict_uploads  # noqa: E402
from tslib.viz import classify as vc  # noqa: E402

CLASSES = ["buildings", "forest", "sea"]


def _history(epochs: int, start_acc: float = 0.3) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.5 / e, "train_acc": start_acc + 0.1 * e, "lr": 1e-3,
             "val_loss": 1.6 / e, "val_acc": start_acc + 0.05 * e, "seconds": 0.1} for e in range(1, epochs + 1)]


def _write_csv(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(rows[0])] + [",".join(str(v) for v in r.values()) for r in rows]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_history_from_list():
    fig = vc.plot_history(_history(3), tag="PROCEDURAL DATA")
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in acc_ax.get_lines()] == ["train", "val"]
    assert list(acc_ax.get_lines()[1].get_xdata()) == [1, 2, 3]
    assert "PROCEDURAL DATA" in fig._suptitle.get_text()
    assert "45.0%" in fig._suptitle.get_text()  # best val acc


def test_plot_history_run_folder_with_finetune(tmp_path):
    phases = [{"name": "head", "dir": "."}, {"name": "fine-tune", "dir": "finetune"}]
    (tmp_path / "run.json").write_text(json.dumps({"task": "classify", "config": {}, "phases": phases}))
    _write_csv(tmp_path / "history.csv", _history(2))
    _write_csv(tmp_path / "finetune" / "history.csv", _history(3, start_acc=0.6))
    rows = vc.load_history(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["phase"] for r in rows] == ["head"] * 2 + ["fine-tune"] * 3
    fig = vc.plot_history(tmp_path, tag="real data")
    acc_ax = fig.axes[1]
    train_line = acc_ax.get_lines()[0]
    assert list(train_line.get_xdata()) == [1, 2, 3, 4, 5]
    labels = [line.get_label() for line in acc_ax.get_lines()]
    assert "fine-tune starts" in labels
    marker = acc_ax.get_lines()[labels.index("fine-tune starts")]
    assert marker.get_xdata()[0] == pytest.approx(2.5)


def test_plot_history_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="history.csv"):
        vc.plot_history(tmp_path)


def test_plot_confusion_shape_and_normalisation():
    metrics = {"accuracy": 0.5, "n": 6, "confusion": [[2, 0, 0], [1, 1, 0], [0, 2, 0]]}
    fig = vc.plot_confusion(metrics, CLASSES, tag="real data")
    ax = fig.axes[0]
    values = ax.collections[0].get_array().reshape(3, 3)
    assert values.shape == (3, 3)
    assert values[0, 0] == pytest.approx(1.0) and values[1, 0] == pytest.approx(0.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert "n=6" in fig._suptitle.get_text() and "[real data]" in fig._suptitle.get_text()
    empty_row = {"accuracy": 0.0, "n": 1, "confusion": [[0, 1, 0], [0, 0, 0], [0, 0, 0]]}
    raw = vc.plot_confusion(empty_row, CLASSES, normalize=False).axes[0].collections[0].get_array()
    assert raw.reshape(3, 3)[0, 1] == 1  # counts; a class without support gives zeros, not NaN
    assert not torch.tensor(vc.plot_confusion(empty_row, CLASSES).axes[0].collections[0].get_array()).isnan().any()


def test_results_table_against_study():
    df = vc.results_table([{"run": "cnn", "accuracy": 0.74, "macro_f1": 0.7, "n": 100, "tta": False,
                            "per_class": {}, "confusion": []}], tag="real data")
    assert list(df.index) == ["study: simple CNN (reported)", "study: EfficientNetV2-L, frozen (reported)", "cnn"]
    assert df.loc["study: simple CNN (reported)", "test accuracy %"] == 69.0
    assert df.loc["study: EfficientNetV2-L, frozen (reported)", "test accuracy %"] == 77.0
    row = df.loc["cnn"]
    assert row["test accuracy %"] == 74.0 and row["macro F1 %"] == 70.0 and row["test images"] == 100
    assert row["vs study CNN (pp)"] == 5.0 and row["vs study EffNetV2-L (pp)"] == -3.0
    assert row["data"] == "real data"
    assert "per_class" not in df.columns


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (20, 60, 200)).save(buf, "PNG")
    return buf.getvalue()


def test_upload_handler_reports_bad_bytes():
    model = create_model("cnn", len(CLASSES)).eval()
    info = {"classes": CLASSES, "preprocessing": preprocessing(model, 32)}
    value = ({"name": "broken.jpg", "type": "image/jpeg", "size": 9, "content": memoryview(b"not a jpg")},
             {"name": "empty.png", "type": "image/png", "size": 0, "content": memoryview(b"")},
             {"name": "sea.png", "type": "image/png", "size": 1, "content": memoryview(_png_bytes())})
    out = predict_uploads(value, model, info, top_k=3)
    assert [r["name"] for r in out] == ["broken.jpg", "empty.png", "sea.png"]
    assert "error" in out[0] and "not a readable image" in out[0]["error"]
    assert "empty" in out[1]["error"]
    assert len(out[2]["top"]) == 3 and {c for c, _ in out[2]["top"]} == set(CLASSES)
    assert sum(p for _, p in out[2]["top"]) == pytest.approx(1.0, abs=1e-5)
    # ipywidgets 7 format: dict name -> {"content": bytes}
    legacy = predict_uploads({"x.jpg": {"metadata": {}, "content": b"\xff\xd8junk"}}, model, info)
    assert "error" in legacy[0]


def test_plot_explanations_rows_of_image_heat_map_and_top_k():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 24, 24, 3), dtype=np.uint8)
    heats = torch.rand(2, 24, 24)
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    fig = vc.plot_explanations(images, heats, probs, CLASSES, k=2, labels=[0, 1], tag="PROCEDURAL DATA")
    assert len(fig.axes) == 6  # image | overlay | top-k, per row
    bars = fig.axes[2]
    assert [t.get_text() for t in bars.get_yticklabels()] == ["buildings", "forest"]
    assert [round(p.get_width(), 2) for p in bars.patches] == [0.7, 0.2]
    assert fig.axes[4].get_title() == "gradcam: sea" and fig.axes[4].title.get_color() == "firebrick"  # a mistake
    assert fig.axes[1].title.get_color() == "black"  # right
    overlay = fig.axes[1].get_images()[0].get_array()
    assert overlay.shape == (24, 24, 3) and not np.array_equal(overlay, images[0])
    assert "[PROCEDURAL DATA]" in fig._suptitle.get_text() and "(2 shown)" in fig._suptitle.get_text()
    empty = vc.plot_explanations(np.zeros((0, 8, 8, 3), np.uint8), torch.zeros(0, 8, 8), torch.zeros(0, 3), CLASSES)
    assert "(0 shown)" in empty._suptitle.get_text()
