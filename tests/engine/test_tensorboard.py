"""--log tensorboard: event files read back with the tensorboard package hold every epoch's numbers, the learning
rate, the config, generator samples and segmentation predictions; history.csv is written as before."""

from __future__ import annotations

import csv

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from tslib.engine import TrainConfig, fit
from tslib.models import create_model
from tslib.tasks.segment.task import SegmentationTask

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _events(run_dir):
    acc = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    return acc


class Tiles(Dataset):
    def __init__(self, n=8):
        g = torch.Generator().manual_seed(0)
        self.mask = torch.randint(0, 3, (n, 16, 16), generator=g)
        self.image = self.mask[:, None].float().expand(-1, 3, -1, -1) + 0.1 * torch.randn(n, 3, 16, 16, generator=g)

    def __len__(self):
        return len(self.mask)

    def __getitem__(self, i):
        return {"image": self.image[i], "mask": self.mask[i]}


def test_segmentation_run_logs_scalars_lr_config_and_predictions(tmp_path):
    loader = DataLoader(Tiles(), batch_size=4)
    cfg = TrainConfig(epochs=3, batch_size=4, lr=1e-2, device="cpu", num_workers=0, progress=False, log="tensorboard")
    fit(create_model("unet", task="segment", num_classes=3, depth=2, width=4), SegmentationTask(["a", "b", "c"]),
        loader, loader, cfg, tmp_path / "run", extra_config={"model": "unet"})
    acc = _events(tmp_path / "run")
    tags = acc.Tags()
    assert {"train/loss", "val/loss", "val/miou", "lr/lr", "time/epoch_seconds"} <= set(tags["scalars"])
    with open(tmp_path / "run" / "history.csv") as f:
        history = list(csv.DictReader(f))
    logged = acc.Scalars("val/miou")
    assert [e.step for e in logged] == [1, 2, 3]
    assert [e.value for e in logged] == pytest.approx([float(r["val_miou"]) for r in history])
    assert [e.value for e in acc.Scalars("lr/lr")] == pytest.approx([float(r["lr"]) for r in history])
    assert "config/text_summary" in tags["tensors"]
    images = acc.Images("predictions")
    assert images and images[-1].step == 3
    assert (images[-1].width, images[-1].height) == (4 * 3 * 16, 16)  # 4 tiles of image | prediction | truth


def test_generator_cli_logs_samples_and_reconstructions(tmp_path, intel_root, capsys):
    from tslib.cli import main

    assert main(["prepare", "--intel", str(intel_root), "--out", str(tmp_path / "prep"), "--quiet"]) == 0
    assert main(["train", "--task", "generate", "--model", "vae", "--manifest", str(tmp_path / "prep"),
                 "--img-size", "32", "--epochs", "2", "--workers", "0", "--no-progress", "--log", "tensorboard",
                 "--out", str(tmp_path / "vae")]) == 0
    acc = _events(tmp_path / "vae")
    assert {"train/loss", "val/loss"} <= set(acc.Tags()["scalars"])
    assert {"samples", "reconstructions"} <= set(acc.Tags()["images"])
    assert acc.Images("samples")[-1].step == 2
    assert (tmp_path / "vae" / "history.csv").is_file()
    capsys.readouterr()
    assert main(["train", "--task", "generate", "--model", "vae", "--manifest", str(tmp_path / "prep"),
                 "--log", "wandb", "--out", str(tmp_path / "x")]) == 2
    assert "tensorboard" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_a_log_that_cannot_start_still_undoes_the_parallel_view(tmp_path, monkeypatch):
    """The parallel view (DDP / compile) is entered before the log is built; a failing log must not leak it."""
    import contextlib

    import tslib.engine.loop as loop
    import tslib.engine.tensorboard as tb

    exited = []

    @contextlib.contextmanager
    def view(model, *args):
        yield model
        exited.append(True)

    def broken(*args, **kwargs):
        raise OSError("log folder not writable")

    monkeypatch.setattr(loop, "training_view", view)
    monkeypatch.setattr(tb, "TensorBoardLog", broken)
    loader = DataLoader(Tiles(4), batch_size=4)
    cfg = TrainConfig(epochs=1, batch_size=4, device="cpu", num_workers=0, progress=False, log="tensorboard")
    with pytest.raises(OSError, match="not writable"):
        fit(create_model("unet", task="segment", num_classes=3, depth=2, width=4), SegmentationTask(["a", "b", "c"]),
            loader, loader, cfg, tmp_path / "run")
    assert exited == [True]
