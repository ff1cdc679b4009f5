"""Fixtures shared by the task tests: one tiny trained segmentation run for every test of whole-image output."""

from __future__ import annotations

import pytest

from tslib.cli import main
from tslib.data.aerial import write_aerial
from tslib.data.landcover import prepare_landcover


@pytest.fixture(scope="session")
def seg_run(tmp_path_factory):
    """(Landcover.ai-layout root of procedural maps, a finished 1-epoch UNet run on it)."""
    root = write_aerial(tmp_path_factory.mktemp("aer") / "landcover", n_images=3, height=1024, width=1280, seed=2)
    prepare_landcover(root, progress=False)
    run = tmp_path_factory.mktemp("runs") / "unet"
    assert main(["train", "--task", "segment", "--landcover", str(root), "--epochs", "1", "--img-size", "64",
                 "--depth", "2", "--width", "4", "--workers", "0", "--no-progress", "--limit-tiles", "4",
                 "--out", str(run)]) == 0
    return root, run
