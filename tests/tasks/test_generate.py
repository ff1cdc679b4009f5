"""Generation end to end: the VAE learns, cVAE samples are recognised by a classifier, FID/KID and agreement
behave, the DCGAN steps both networks and resumes exactly, and the CLI writes and judges samples."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader

from tslib.cli import main
from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.engine import StepContext, TrainConfig, default_optimization, fit, load_checkpoint
from tslib.models import create_model
from tslib.tasks.classify import ClassifyConfig, train_classifier
from tslib.tasks.generate import GenerateConfig, evaluate_generator, load_generator, sample, train_generator
from tslib.tasks.generate.evaluate import classify_images, real_images
from tslib.tasks.generate.metrics import Lite0Features, agreement, fid_kid
from tslib.tasks.generate.task import GANTask
from tslib.utils import seed_everything


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Procedural data, a CNN classifier at 32 px, and a conditional VAE trained on the same data."""
    root = tmp_path_factory.mktemp("gen")
    write_procedural(root / "data", per_class=30, size=48, seed=2, difficulty="easy")  # a learnable signal
    prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape", progress=False)
    engine = dict(num_workers=0, progress=False)
    train_classifier(ClassifyConfig(manifest=str(root / "prep"), img_size=32, augment=False,
                                    train=TrainConfig(epochs=6, lr=3e-3, batch_size=32, **engine)), root / "cls")
    cfg = GenerateConfig(manifest=str(root / "prep"), model="cvae", img_size=32, latent_dim=16,
                         train=TrainConfig(epochs=8, batch_size=16, lr=3e-3, schedule="none", **engine))
    metrics = train_generator(cfg, root / "cvae")
    return root, metrics


def test_cvae_learns_and_writes_a_run_folder(world):
    root, metrics = world
    run = root / "cvae"
    for name in ("run.json", "config.json", "history.csv", "last.pt", "best.pt", "model.pt", "metrics.json"):
        assert (run / name).is_file(), name
    info = json.loads((run / "run.json").read_text())
    assert info["task"] == "generate" and info["model"]["name"] == "cvae" and info["conditional"]
    history = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    col = history[0].index("val_recon_mse")
    first, last = float(history[1][col]), float(min(r[col] for r in history[1:]))
    assert last < 0.7 * first, (first, last)  # reconstruction error falls clearly
    assert set(metrics) == {"val", "test"} and 0 < metrics["test"]["recon_mse"] < 0.1
    assert metrics["test"]["psnr"] > 10 and -1 <= metrics["test"]["ssim"] <= 1


def test_cvae_samples_are_recognised_by_the_classifier(world):
    root, _ = world
    out = evaluate_generator(root / "cvae", root / "cls", n=70, device="cpu")
    assert out["agreement"]["mean"] > 0.4, out["agreement"]  # chance is 1/7
    assert out["feature_space"] == "Lite0 ImageNet features" and 30 < out["n"] <= 70  # the whole test split
    assert all(torch.isfinite(torch.tensor(out[k])) for k in ("fid", "kid", "kid_std", "recon_mse"))
    # variety beside recognisability, each beside what held-out real photos score on the same judge
    assert set(out["prdc"]) == {"precision", "recall", "density", "coverage"} and 0 <= out["duplicates"] <= 1
    lite0 = out["judges"][0]
    assert lite0["reference"]["fid"] < lite0["fid"] and lite0["reference"]["prdc"]["coverage"] > 0.5
    assert out["real_agreement"] > 0.5 and set(out["judges"][1]["prdc_per_class"]) <= set(out["agreement"]["per_class"])
    saved = json.loads((root / "cvae" / "gen_metrics.json").read_text())
    assert saved["agreement"] == out["agreement"] and len(saved["agreement_confusion"]["matrix"]) == 7


def test_agreement_is_one_for_real_images_and_chance_for_noise(world):
    root, _ = world
    from tslib.tasks.classify import load_run

    clf, info = load_run(root / "cls")
    cfg = GenerateConfig.from_dict({"manifest": str(root / "prep"), "img_size": 32})
    images, labels = real_images(cfg, "test", info["classes"])
    pred = classify_images(clf, info["preprocessing"], images, torch.device("cpu"))
    assert agreement(labels.tolist(), pred.tolist(), info["classes"])["mean"] > 0.85
    noise = classify_images(clf, info["preprocessing"], torch.rand(140, 3, 32, 32, generator=torch.Generator()
                                                                    .manual_seed(0)), torch.device("cpu"))
    asked = torch.arange(7).repeat_interleave(20)
    assert agreement(asked.tolist(), noise.tolist(), info["classes"])["mean"] < 0.35
    perfect = agreement([0, 1, 2, 2], [0, 1, 2, 2], ["a", "b", "c"])
    assert perfect["mean"] == 1.0 and perfect["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    assert agreement([0, 0, 1], [0, -1, 0], ["a", "b"])["per_class"] == {"a": 0.5, "b": 0.0}


def test_fid_and_kid_are_zero_for_a_set_against_itself_and_grow_with_noise():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(16, 3, 8, 8, generator=g)
    images = torch.nn.functional.interpolate(base, size=32, mode="bilinear")  # smooth, image-like
    features = Lite0Features()
    same = fid_kid(images, images.clone(), features, subset_size=8)
    noisy = [fid_kid(images, (images + s * torch.randn(images.shape, generator=g)).clamp(0, 1), features,
                     subset_size=8) for s in (0.05, 0.5)]
    assert abs(same["fid"]) < 1.0 and abs(same["kid"]) < 0.05  # KID's unbiased estimate is ~0, either sign
    assert same["fid"] < noisy[0]["fid"] < noisy[1]["fid"] and noisy[1]["fid"] > 10
    assert same["kid"] < noisy[0]["kid"] < noisy[1]["kid"]


def _gan_loaders(n: int = 24):
    g = torch.Generator().manual_seed(0)
    data = [{"image": torch.rand(3, 16, 16, generator=g), "label": torch.tensor(i % 3)} for i in range(n)]
    train = DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(1))
    return train, DataLoader(data[:8], batch_size=8)


def test_gan_step_changes_both_networks():
    seed_everything(0)
    model = create_model("dcgan", task="generate", img_size=16, latent_dim=8, width=4, num_classes=3)
    task = GANTask(lr=1e-3)
    optim = task.configure_optimizers(model, TrainConfig(), 3)
    ctx = StepContext(optim, torch.amp.GradScaler("cpu", enabled=False), torch.device("cpu"), None, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logs = task.training_step(model.train(), next(iter(_gan_loaders()[0])), ctx)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"generator", "discriminator"} and set(ctx.lrs) == {"d", "g"}
    assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
    assert default_optimization  # the single-optimizer path stays available to other tasks


def test_gan_resume_equals_an_uninterrupted_run(tmp_path):
    config = TrainConfig(epochs=3, progress=False, device="cpu")

    def build():
        return create_model("dcgan", task="generate", img_size=16, latent_dim=8, width=4, num_classes=3)

    seed_everything(0)
    full_model = build()
    full = fit(full_model, GANTask(1e-3), *_gan_loaders(), config, tmp_path / "full")

    def stop(info):
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    seed_everything(0)
    assert fit(build(), GANTask(1e-3), *_gan_loaders(), config, tmp_path / "cut", callbacks=[stop]).stop_reason \
        == "interrupted"
    seed_everything(5)
    resumed_model = build()
    resumed = fit(resumed_model, GANTask(1e-3), *_gan_loaders(), config, tmp_path / "cut", resume=True)
    assert [r["train_loss_d"] for r in resumed.history] == [r["train_loss_d"] for r in full.history]
    for k, v in full_model.state_dict().items():
        assert torch.equal(v, resumed_model.state_dict()[k]), k
    assert set(load_checkpoint(tmp_path / "cut" / "last.pt")["optimizer"]) == {"d", "g"}


def test_generate_cli(world, tmp_path, capsys):
    root, _ = world
    rc = main(["train", "--task", "generate", "--model", "ae", "--manifest", str(root / "prep"), "--img-size", "32",
               "--epochs", "1", "--workers", "0", "--no-progress", "--out", str(tmp_path / "ae")])
    assert rc == 0 and capsys.readouterr().out.strip().splitlines()[-1].startswith("test reconstruction MSE: ")
    assert main(["generate", "--run", str(root / "cvae"), "--n", "6", "--class", "forest", "--seed", "3",
                 "--out", str(tmp_path / "a")]) == 0
    assert main(["generate", "--run", str(root / "cvae"), "--n", "6", "--class", "forest", "--seed", "3",
                 "--out", str(tmp_path / "b")]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == [f"sample_{i:03d}.png" for i in range(6)] + ["sample_grid.png"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    imgs = sorted((root / "data" / "intel" / "seg_test" / "seg_test" / "sea").glob("*.jpg"))[:2]
    assert main(["generate", "--run", str(tmp_path / "ae"), "--reconstruct", *map(str, imgs),
                 "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / f"{imgs[0].stem}_recon.png").is_file()
    assert main(["generate", "--run", str(tmp_path / "ae"), "--interpolate", *map(str, imgs), "--frames", "5",
                 "--out", str(tmp_path / "i")]) == 0
    assert len(list((tmp_path / "i").glob("interpolation_0*.png"))) == 5
    capsys.readouterr()
    for argv, needle in (
        (["generate", "--run", str(tmp_path / "ae"), "--class", "sea", "--out", str(tmp_path / "x")], "conditional"),
        (["generate", "--run", str(root / "cvae"), "--class", "volcano", "--out", str(tmp_path / "x")], "volcano"),
        (["generate", "--run", str(root / "cls"), "--out", str(tmp_path / "x")], "not a generator run"),
        (["generate", "--run", str(root / "cvae"), "--temperature", "0", "--out", str(tmp_path / "x")], "positive"),
        (["generate", "--run", str(tmp_path / "ae"), "--reconstruct", str(tmp_path / "nope.jpg"), "--out",
          str(tmp_path / "x")], "nope.jpg"),
        (["evaluate-generator", "--run", str(root / "cvae"), "--classifier", str(root / "cvae")], "not a"),
        (["train", "--task", "generate", "--model", "cnn", "--manifest", str(root / "prep"), "--out",
          str(tmp_path / "x")], "valid names for generate: ae, cvae, dcgan, "),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, (argv, err)


def test_sampling_api_is_seeded(world):
    root, _ = world
    model, info = load_generator(root / "cvae")
    a, labels = sample(model, info, 7, seed=1)
    b, _ = sample(model, info, 7, seed=1)
    c, _ = sample(model, info, 7, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c) and labels.tolist() == list(range(7))
    cold, _ = sample(model, info, 7, seed=1, temperature=0.1)
    assert (cold - a).abs().mean() > 0  # temperature changes the draw


def test_interrupted_dcgan_run_resumes_from_the_cli(world, tmp_path, capsys):
    from tslib.errors import TrainingInterrupted

    root, _ = world
    cfg = GenerateConfig(manifest=str(root / "prep"), model="dcgan", conditional=True, img_size=16, width=4,
                         latent_dim=8, limit_per_class=4, eval_samples=8,
                         train=TrainConfig(epochs=2, batch_size=8, num_workers=0, progress=False))

    def stop(info):
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume"):
        train_generator(cfg, tmp_path / "gan", callbacks=[stop])
    assert not (tmp_path / "gan" / "model.pt").exists()
    assert main(["train", "--resume", str(tmp_path / "gan")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("test FID (Lite0 ImageNet features): ")
    history = (tmp_path / "gan" / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2"]


@pytest.mark.parametrize("name", ["vae", "dcgan"])
def test_sampling_in_chunks_gives_the_same_images(name):
    """Latents are drawn first and decoded in chunks: memory stays bounded for a large n, and the images of one seed
    do not depend on the chunk size."""
    from tslib.models import create_model
    from tslib.tasks.generate.sampling import sample

    torch.manual_seed(0)
    model = create_model(name, task="generate", img_size=32, latent_dim=8, width=8).eval()
    info = {"classes": ["forest", "sea"], "config": {"model": name}}
    whole, _ = sample(model, info, n=10, seed=3)
    chunked, _ = sample(model, info, n=10, seed=3, chunk=3)
    assert whole.shape == (10, 3, 32, 32)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)  # convolutions pick kernels by batch size
    assert not torch.equal(whole, sample(model, info, n=10, seed=4)[0])


def test_decode_cache_gives_the_same_batches_and_stays_within_ram(world, monkeypatch, capsys):
    """Generators decode once by default: the cached batches are the uncached ones, bit for bit; where the
    images would not fit in the RAM share the cache is off, said in one line, and --decode-cache forces it."""
    import tslib.data.memory as memory
    from tslib.tasks.generate.data import run_datasets, run_loader

    root, _ = world
    base = dict(manifest=str(root / "prep"), model="vae", img_size=32,
                train=TrainConfig(epochs=1, batch_size=8, num_workers=0, progress=False))
    cached = run_datasets(GenerateConfig(**base))
    assert cached["train"].decode_cache == 32 and cached["val"].decode_cache == 32
    assert "test" in cached and not cached["test"].decode_cache  # scored once: not worth keeping
    plain = run_datasets(GenerateConfig(**base, decode_cache=False))
    assert not plain["train"].decode_cache
    for split in ("train", "val"):
        cfg = GenerateConfig(**base)
        torch.manual_seed(0)
        a = [b["image"] for b in run_loader(cached[split], cfg, "cpu", train=split == "train")]
        torch.manual_seed(0)
        b = [b["image"] for b in run_loader(plain[split], cfg, "cpu", train=split == "train")]
        assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
    capsys.readouterr()
    monkeypatch.setattr(memory, "available_ram", lambda: 10_000)
    small = run_datasets(GenerateConfig(**base))
    assert not small["train"].decode_cache and not small["val"].decode_cache
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("decode cache off" in line and "--decode-cache" in line for line in err)
    assert run_datasets(GenerateConfig(**base, decode_cache=True))["train"].decode_cache == 32


def test_each_model_trains_with_its_own_lr(world, tmp_path):
    """The lr is the model's: `--model ddpm` with no --lr trains exactly as with --lr 1e-3 (ddpm's own), a vae with
    its 3e-3, and an explicit --lr wins."""
    root, _ = world
    base = ["train", "--task", "generate", "--manifest", str(root / "prep"), "--img-size", "16", "--width", "8",
            "--epochs", "1", "--limit-per-class", "3", "--workers", "0", "--no-progress", "--eval-samples", "4",
            "--sample-steps", "2"]

    def run(name, *extra):
        out = tmp_path / name
        assert main([*base, *extra, "--out", str(out)]) == 0
        info = json.loads((out / "run.json").read_text())
        return info["config"]["train"]["lr"], (out / "history.csv").read_text().splitlines()[1].split(",")[:3]

    own, with_flag = run("ddpm", "--model", "ddpm"), run("ddpm-lr", "--model", "ddpm", "--lr", "1e-3")
    assert own[0] == with_flag[0] == 1e-3 and own[1] == with_flag[1]  # same lr, same first epoch
    assert run("vae", "--model", "vae")[0] == 3e-3 and run("ddpm-3", "--model", "ddpm", "--lr", "3e-3")[0] == 3e-3
