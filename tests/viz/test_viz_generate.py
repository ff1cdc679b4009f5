"""The generation notebook's figures and explorer (CPU, tiny models, seconds)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from tslib.models import create_model  # noqa: E402
from tslib.viz import generate as vg  # noqa: E402


def test_grids_and_reconstructions():
    images = torch.rand(5, 3, 16, 16)
    fig = vg.plot_images(images, ["a", "b", "c", "d", "e"], cols=3, title="Samples", tag="PROCEDURAL DATA")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and shown[1].get_title() == "b" and "PROCEDURAL DATA" in fig._suptitle.get_text()
    fig = vg.plot_reconstructions(images[:3], images[:3].flip(-1))
    assert sum(bool(ax.images) for ax in fig.axes) == 6


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_history_panels(tmp_path, kind):
    cols = (["train_recon_mse", "val_recon_mse", "train_kl", "val_kl"] if kind == "vae"
            else ["train_loss_d", "train_loss_g", "train_d_real", "train_d_fake", "val_d_real", "val_d_fake"])
    rows = ["epoch," + ",".join(cols)] + [f"{e}," + ",".join(str(0.1 * e + i) for i in range(len(cols)))
                                          for e in (1, 2, 3)]
    (tmp_path / "history.csv").write_text("\n".join(rows) + "\n")
    fig = vg.plot_generator_history(tmp_path, "curves")
    assert len(fig.axes) == 2 and all(len(ax.get_lines()) >= 2 for ax in fig.axes)
    with pytest.raises(FileNotFoundError):
        vg.plot_generator_history(tmp_path / "empty")


def test_metrics_table_and_agreement_figure():
    cvae = {"recon_mse": 0.01, "psnr": 20.0, "ssim": 0.5, "fid": 100.0, "kid": 0.1,
            "agreement": {"mean": 0.6, "per_class": {"sea": 0.8, "forest": 0.4}, "overall": 0.6},
            "agreement_confusion": {"classes": ["sea", "forest"], "rows": "asked", "matrix": [[4, 1], [3, 2]]}}
    gan = {"fid": 80.0, "kid": 0.05, "fid_inception": 50.0, "class_histogram": {"generated": {}, "real": {}}}
    table = vg.metrics_table({"cvae": cvae, "dcgan": gan})
    assert list(table.index) == ["study: AE / VAE (reported)", "cvae", "dcgan"]
    assert table.loc["cvae", "agreement"] == 0.6 and table.loc["dcgan", "FID (Inception, standard)"] == 50.0
    assert "FID (Lite0 ImageNet features)" in table.columns  # the feature space is in the column name
    fig = vg.plot_agreement(cvae)
    assert [p.get_height() for p in fig.axes[0].patches] == [0.8, 0.4]
    json.dumps(cvae)  # what evaluate_generator writes is plain JSON


def test_latent_explorer_updates_with_its_controls():
    torch.manual_seed(0)
    model = create_model("cvae", task="generate", num_classes=3, img_size=16, latent_dim=6, width=4).eval()
    info = {"classes": ["sea", "forest", "desert"]}
    images, labels = torch.rand(8, 3, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    var = vg.latent_variance(model, images, labels)
    assert var.shape == (6,) and (var >= 0).all()
    box = vg.latent_explorer(model, info, images, labels, k=4)
    controls = box.children[0].children
    assert len(controls) == 4 + 2 and controls[-1].options == ("sea", "forest", "desert")
    controls[0].value = 2.0  # a slider move and a class change re-render without error
    controls[-1].value = "desert"
    gan = create_model("dcgan", task="generate", img_size=16, latent_dim=5, width=4)
    assert torch.equal(vg.latent_variance(gan, images), torch.ones(5))
