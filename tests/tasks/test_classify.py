"""End-to-end classification: training learns, resume is exact, the cache is faithful, CLI and predict work."""

import json

import pytest
import torch
from conftest import make_image
from torch.utils.data import DataLoader

from tslib.cli import main
from tslib.data.datasets import LandscapeDataset
from tslib.data.fastaug import transforms_for
from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.engine import TrainConfig
from tslib.errors import TrainingInterrupted
from tslib.models import create_model
from tslib.tasks.classify import ClassifyConfig, load_run, preprocessing, train_classifier
from tslib.tasks.classify.features import cached_features
from tslib.tasks.classify.prediction import predict


@pytest.fixture(scope="module")
def procedural_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("proc")
    write_procedural(root / "data", per_class=24, size=48, seed=1, difficulty="easy")  # a learnable signal
    prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape", progress=False)
    return root / "prep" / "manifest.csv"


def _cfg(manifest, **kw):
    base = dict(manifest=str(manifest), model="cnn", epochs=4, img_size=48, batch_size=32, lr=3e-3,
                num_workers=0, progress=False, seed=0)
    return ClassifyConfig.from_dict({**base, **kw})  # flat keywords: engine settings go to cfg.train


def test_cnn_learns_procedural_data(procedural_manifest, tmp_path):
    metrics = train_classifier(_cfg(procedural_manifest, epochs=6, augment=False), tmp_path / "run")
    chance = 1 / 7
    assert metrics["test"]["accuracy"] > 4 * chance, metrics["test"]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(m) == {"val", "test"}
    assert len(m["test"]["confusion"]) == 7 and sum(map(sum, m["test"]["confusion"])) == m["test"]["n"]
    assert set(m["test"]["per_class"]["desert"]) >= {"precision", "recall", "f1", "support"}
    for name in ("run.json", "config.json", "history.csv", "last.pt", "best.pt", "model.pt"):
        assert (tmp_path / "run" / name).is_file()


def test_interrupted_run_resumes_to_the_same_weights(procedural_manifest, tmp_path):
    cfg = _cfg(procedural_manifest, epochs=3, limit_per_class=8)
    train_classifier(cfg, tmp_path / "full")

    def stop_after_first(info):
        if info["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume"):
        train_classifier(cfg, tmp_path / "cut", callbacks=[stop_after_first])
    assert not (tmp_path / "cut" / "model.pt").exists()  # not exported as if finished
    torch.manual_seed(999)  # a resumed process starts from another RNG state
    train_classifier(cfg, tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_cli_continues_a_cut_run(procedural_manifest, tmp_path, capsys):
    cfg = _cfg(procedural_manifest, epochs=2, limit_per_class=6)

    def stop(info):
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train_classifier(cfg, tmp_path / "run", callbacks=[stop])
    assert main(["train", "--resume", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("test accuracy: ")


def test_feature_cache_gives_the_same_logits(procedural_manifest, tmp_path):
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", 7, freeze=True).eval()
    prep = preprocessing(model, 64)
    ds = LandscapeDataset(procedural_manifest, "val", transforms_for(prep), limit_per_class=2)
    loader = DataLoader(ds, batch_size=5)
    feats = cached_features(tmp_path / "f.pt", model.backbone, lambda v: loader)
    again = cached_features(tmp_path / "f.pt", model.backbone, lambda v: pytest.fail("cache not reused"))
    assert torch.equal(feats.features, again.features)
    with torch.no_grad():
        direct = torch.cat([model(b["image"]) for b in loader])
        from_cache = model.head(feats.features)
    torch.testing.assert_close(from_cache, direct, rtol=1e-4, atol=1e-5)
    assert feats.labels.tolist() == ds.targets


def test_cli_train_evaluate_predict_with_bad_files(procedural_manifest, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--task", "classify", "--manifest", str(procedural_manifest), "--model", "cnn",
               "--epochs", "1", "--img-size", "48", "--limit-per-class", "6", "--workers", "0", "--out", str(run)])
    out = capsys.readouterr().out
    assert rc == 0 and out.strip().splitlines()[-1].startswith("test accuracy: ")
    assert main(["evaluate", "--run", str(run), "--split", "test", "val", "--tta"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test", "test_tta", "val", "val_tta"} <= set(metrics)
    assert metrics["test_tta"]["n"] == metrics["test"]["n"]
    folder = tmp_path / "new"
    make_image(folder / "a.jpg", "sea", "pa", size=(60, 40))
    make_image(folder / "b.png", "desert", "pb", mode="RGBA", fmt="PNG")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / ".DS_Store").write_bytes(b"junk")
    capsys.readouterr()
    assert main(["predict", "--run", str(run), str(folder), str(tmp_path / "missing.jpg")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and sum("ERROR" in line for line in lines) == 2
    results = predict(run, [folder])
    good = [r for r in results if "class" in r]
    model, info = load_run(run)
    assert len(good) == 2 and all(r["class"] in info["classes"] and 0 < r["prob"] <= 1 for r in good)


def test_train_cli_errors(procedural_manifest, tmp_path, capsys):
    assert main(["train", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "r")]) == 2
    assert "prepare" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    with pytest.raises(ValueError, match="unknown model"):
        train_classifier(ClassifyConfig(manifest=str(procedural_manifest), model="resnet999"), tmp_path / "r2")


@pytest.mark.slow
def test_pretrained_lite0_separates_real_sample(shared_sample, tmp_path):
    prep = prepare(tmp_path / "prep", intel=shared_sample, progress=False)
    cfg = ClassifyConfig(manifest=str(prep.manifest), model="efficientnet_lite0", pretrained=True, freeze=True,
                         train=TrainConfig(epochs=15, batch_size=32, num_workers=0, progress=False))
    metrics = train_classifier(cfg, tmp_path / "run")
    # 6 classes (chance 17%); 38 held-out real photos across val and test
    correct = sum(metrics[s]["accuracy"] * metrics[s]["n"] for s in ("val", "test"))
    assert correct / (metrics["val"]["n"] + metrics["test"]["n"]) > 0.7, metrics["test"]


def test_resume_auto_refuses_another_config(procedural_manifest, tmp_path):
    cfg = _cfg(procedural_manifest, epochs=1, limit_per_class=4)
    train_classifier(cfg, tmp_path / "run", resume="auto")  # nothing to resume: a fresh run
    again = train_classifier(cfg, tmp_path / "run", resume="auto")  # finished run: resumes, trains nothing
    assert "test" in again
    with pytest.raises(ValueError, match="another config.*epochs"):
        train_classifier(_cfg(procedural_manifest, epochs=2, limit_per_class=4), tmp_path / "run", resume="auto")
    # runtime-only settings may differ
    train_classifier(_cfg(procedural_manifest, epochs=1, limit_per_class=4, progress=True), tmp_path / "run",
                     resume=True)


def test_finetune_after_cached_head_and_tta_keys(procedural_manifest, tmp_path):
    cfg = _cfg(procedural_manifest, model="efficientnet_lite0", epochs=2, unfreeze_after=1, unfreeze_stages=1,
               feature_cache=True, img_size=48, limit_per_class=4, tta=True)
    assert cfg.use_cache  # the head phase is frozen, so its features are cached
    metrics = train_classifier(cfg, tmp_path / "ft")
    assert {"val", "val_tta", "test", "test_tta"} <= set(metrics)
    assert list((tmp_path / "ft" / "features").glob("train-*.pt"))
    assert (tmp_path / "ft" / "finetune" / "history.csv").is_file()
    model, info = load_run(tmp_path / "ft")
    assert info["trained"] == "model" and not model.backbone_frozen


def test_link_cache(tmp_path):
    from tslib.tasks.classify.features import link_cache

    (tmp_path / "a" / "features").mkdir(parents=True)
    (tmp_path / "a" / "features" / "train-abc.pt").write_bytes(b"x")
    assert link_cache(tmp_path / "a", tmp_path / "b") == 1
    assert (tmp_path / "b" / "features" / "train-abc.pt").read_bytes() == b"x"
    assert link_cache(tmp_path / "a", tmp_path / "b") == 0
    assert link_cache(tmp_path / "nothing", tmp_path / "c") == 0
