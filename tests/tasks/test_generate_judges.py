"""Judging generators with several classifiers: FID/KID in each classifier's own feature space, agreement per judge,
which judge is independent of the generator (from the generator's ``trained_against`` and the classifier run's
architecture), the sampler options passed through, and the CLI with two classifiers and its bad input."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from tslib.cli import main
from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.engine import TrainConfig
from tslib.tasks.classify import ClassifyConfig, train_classifier
from tslib.tasks.generate import GenerateConfig, evaluate_generator, train_generator
from tslib.tasks.generate import evaluate as gen_eval
from tslib.tasks.generate.evaluate import classify_images, real_images
from tslib.tasks.generate.judges import ClassifierJudge, independence, load_judges, trained_against
from tslib.tasks.generate.metrics import fid_kid_features

JUDGE_KEYS = {"name", "run", "architecture", "feature_space", "fid", "kid", "kid_std", "agreement", "independent",
              "why"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Easy procedural data, two small CNN classifiers at 32 px (two seeds) and a conditional VAE."""
    root = tmp_path_factory.mktemp("judges")
    write_procedural(root / "data", per_class=24, size=40, seed=3, difficulty="easy")
    prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape", progress=False)
    for name, seed, epochs in (("cnn_a", 0, 6), ("cnn_b", 1, 4)):
        train_classifier(ClassifyConfig(manifest=str(root / "prep"), img_size=32, augment=False,
                                        train=TrainConfig(epochs=epochs, lr=3e-3, batch_size=32, seed=seed,
                                                          num_workers=0, progress=False)), root / name)
    # a small, briefly trained cVAE: these tests judge the judges, not the generator
    cfg = GenerateConfig(manifest=str(root / "prep"), model="cvae", img_size=32, latent_dim=8, width=8,
                         train=TrainConfig(epochs=2, batch_size=16, lr=3e-3, schedule="none", num_workers=0,
                                           progress=False))
    train_generator(cfg, root / "cvae")
    return root


def test_classifier_features_fid_is_zero_for_real_images_and_large_for_noise(bench):
    judge = load_judges(bench / "cnn_a", ["sea", "forest", "glacier", "buildings", "desert", "mountain", "street"],
                        torch.device("cpu"))[0]
    cfg = GenerateConfig.from_dict({"manifest": str(bench / "prep"), "img_size": 32})
    classes = judge.info["classes"]
    test, labels = real_images(cfg, "test", classes)
    val, _ = real_images(cfg, "val", classes)
    noise = torch.rand(len(test), 3, 32, 32, generator=torch.Generator().manual_seed(0))
    f_test, p_test = judge.features_and_predictions(test)
    (f_val, _), (f_noise, _) = judge.features_and_predictions(val), judge.features_and_predictions(noise)
    assert f_test.shape == (len(test), judge.model.feature_dim) and f_test.dtype == torch.float64
    # one forward pass gives both: the predictions equal the full classifier's
    assert torch.equal(p_test, classify_images(judge.model, judge.info["preprocessing"], test, torch.device("cpu")))
    same, other, far = (fid_kid_features(f_test, f) for f in (f_test.clone(), f_val, f_noise))
    # KID's unbiased estimate of a set against itself is ~0 on the scale of this feature space (either sign)
    assert abs(same["fid"]) < 1e-3 and abs(same["kid"]) < 0.01 * far["kid"], (same, far)
    assert other["fid"] < 0.5 * far["fid"] and other["kid"] < 0.5 * far["kid"], (other, far)
    assert fid_kid_features(f_test, f_val) == other  # KID's random subsets are seeded: same sets, same numbers
    assert judge.agreement(labels.tolist(), p_test, classes)["mean"] > 0.8  # a judge worth asking


def test_independence_is_decided_from_the_generator_and_the_classifier_run():
    from tslib.models.generator import Generator

    class Pixels(Generator):
        pass

    class Projected(Generator):
        trained_against = ("efficientnet_lite0",)

    assert trained_against(Pixels()) == [] and trained_against(Projected()) == ["efficientnet_lite0"]
    assert independence("efficientnet_lite0", ["efficientnet_lite0"])[0] is False
    assert independence("cnn", ["efficientnet_lite0"]) == (True, "the generator trained against "
                                                           "efficientnet_lite0 features, this judge is a cnn")
    assert independence("efficientnet_lite0", [])[0] is True


def test_a_generator_that_trained_against_a_backbone_is_flagged_and_sampler_options_pass(bench, monkeypatch):
    original_load, original_sample = gen_eval.load_generator, gen_eval.sample_classes
    calls = []

    def load(run, device="cpu"):
        model, info = original_load(run, device)
        # a generator that declares the features it trained against, as the projected GAN does
        model.__class__ = type("Projected", (type(model),), {"trained_against": ("efficientnet_lite0",),
                                                              "sampler_options": ("steps", "guidance")})
        return model, info

    def sample_classes(*args, **opts):
        calls.append(opts)  # the cVAE's sampler takes no options: record them, sample without
        return original_sample(*args)

    monkeypatch.setattr(gen_eval, "sample_classes", sample_classes)
    monkeypatch.setattr(gen_eval, "load_generator", load)
    out = evaluate_generator(bench / "cvae", [bench / "cnn_a", bench / "cnn_b"], n=21, device="cpu",
                             sampler={"steps": 3, "guidance": 2.0})
    assert calls == [{"steps": 3, "guidance": 2.0}] and out["sampler"] == {"steps": 3, "guidance": 2.0}
    assert out["trained_against"] == ["efficientnet_lite0"]
    assert [(j["architecture"], j["independent"]) for j in out["judges"]] == [
        ("efficientnet_lite0", False), ("cnn", True), ("cnn", True)]
    assert "efficientnet_lite0" in out["judges"][0]["why"] and out["classifier"] == str(bench / "cnn_a")


def test_cli_with_two_classifiers_writes_every_judge(bench, capsys):
    run = bench / "cvae"
    argv = ["evaluate-generator", "--run", str(run), "--classifier", str(bench / "cnn_a"), str(bench / "cnn_b"),
            "--n", "21", "--device", "cpu"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "cnn_a: FID" in printed and "independent" in printed and "not comparable" in printed
    gm = json.loads((run / "gen_metrics.json").read_text())
    assert {"fid", "kid", "kid_std", "feature_space", "agreement", "agreement_confusion", "judges"} <= set(gm)
    assert gm["feature_space"] == "Lite0 ImageNet features" and gm["trained_against"] == []
    assert "sampler" not in gm  # no --steps/--guidance given: nothing forwarded to the sampler
    assert gm["classifiers"] == [str(bench / "cnn_a"), str(bench / "cnn_b")]
    lite0, a, b = gm["judges"]
    assert all(JUDGE_KEYS <= set(j) and j["independent"] for j in gm["judges"])  # a cVAE trained on pixels
    assert (lite0["fid"], lite0["agreement"]) == (gm["fid"], None) and lite0["run"] is None
    assert gm["agreement"] == a["agreement"] and gm["agreement_confusion"] == a["agreement_confusion"]
    assert a["feature_space"] != b["feature_space"] and a["fid"] != b["fid"]  # two feature spaces
    for j in (a, b):
        assert j["architecture"] == "cnn" and set(j["agreement"]["per_class"]) == set(gm["agreement"]["per_class"])
        assert 0 <= j["agreement"]["mean"] <= 1 and j["real_agreement"] > 0.8 and j["kid_std"] >= 0


def test_bad_judges_are_one_line_each(bench, tmp_path, capsys):
    run, cls = str(bench / "cvae"), str(bench / "cnn_a")
    before = (bench / "cvae" / "gen_metrics.json").read_bytes() if (bench / "cvae" / "gen_metrics.json").exists() \
        else None
    for extra, needle in (
        ([cls, str(bench / "cnn_a" / ".." / "cnn_a")], "given twice"),
        ([cls, run], "not a classification run"),
        ([str(tmp_path / "nope")], "does not exist"),
        ([cls, "--steps", "0"], "--steps"),
        ([cls, "--guidance", "-1"], "--guidance"),
        ([cls, "--guidance", "nan"], "--guidance"),
        ([cls, "--steps", "5"], "does not apply"),  # a cVAE samples in one pass
    ):
        assert main(["evaluate-generator", "--run", run, "--classifier", *extra, "--device", "cpu"]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, (extra, err)
    with pytest.raises(ValueError, match="at least one classifier"):
        evaluate_generator(run, [], n=7)
    with pytest.raises(ValueError, match="knows none of the generator's classes"):
        ClassifierJudge.load(cls, ["volcano"], torch.device("cpu"))
    after = (bench / "cvae" / "gen_metrics.json").read_bytes() if before is not None else None
    assert after == before  # nothing written


def test_cli_passes_sampler_options_only_when_given(monkeypatch, capsys, tmp_path):
    seen = []

    def fake(run, classifiers, **kw):
        seen.append(([p.name for p in classifiers], kw["sampler"], kw["seed"]))
        return {"judges": [], "trained_against": []}

    monkeypatch.setattr(gen_eval, "evaluate_generator", fake)
    base = ["evaluate-generator", "--run", str(tmp_path / "gen"), "--classifier", str(tmp_path / "a")]
    assert main([*base, "--steps", "12", "--guidance", "0", "--sampler", "dpm", "--seed", "4"]) == 0
    assert main([*base, str(tmp_path / "b")]) == 0
    assert seen == [(["a"], {"steps": 12, "guidance": 0.0, "sampler": "dpm"}, 4), (["a", "b"], {}, 0)]
    assert "no pretrained feature network" in capsys.readouterr().out


def test_table_figure_and_report_show_every_judge():
    import matplotlib

    matplotlib.use("Agg")
    from tslib.tasks.generate.report import _judges_table
    from tslib.viz import generate as vg

    def judge(name, arch, fid, per_class, independent, run="runs/x"):
        agree = None if per_class is None else {"mean": sum(per_class.values()) / 2, "per_class": per_class}
        return {"name": name, "run": run, "architecture": arch, "feature_space": name, "fid": fid, "kid": 0.1,
                "kid_std": 0.01, "agreement": agree, "real_agreement": 0.9, "independent": independent, "why": "w"}

    gm = {"fid": 50.0, "kid": 0.1, "agreement": {"mean": 0.6, "per_class": {"sea": 0.8, "forest": 0.4}},
          "agreement_confusion": {"classes": ["sea", "forest"], "rows": "asked", "matrix": [[4, 1], [3, 2]]},
          "judges": [judge("Lite0 ImageNet features", "efficientnet_lite0", 50.0, None, False, run=None),
                     judge("lite0", "efficientnet_lite0", 40.0, {"sea": 0.8, "forest": 0.4}, False),
                     judge("cnn", "cnn", 7.0, {"sea": 0.2, "forest": 0.0}, True)]}
    table = vg.metrics_table({"projected_gan": gm})
    row = table.loc["projected_gan"]
    assert (row["FID (Lite0 ImageNet features)"], row["FID (cnn features)"], row["agreement (cnn)"]) == (50, 7, 0.1)
    assert row["not independent judges"] == "Lite0 ImageNet features, lite0" and row["agreement"] == 0.6
    fig = vg.plot_agreement(gm)
    assert sorted(p.get_height() for p in fig.axes[0].patches) == [0.0, 0.2, 0.4, 0.8]  # two judges, two classes
    assert "not independent" in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())
    html = _judges_table(gm)
    assert html.count("<tr>") == 4 and ">NO<" in html and ">yes<" in html


def test_real_photos_are_extracted_once_per_space_and_a_retrained_judge_is_a_new_space(bench, monkeypatch, tmp_path):
    """Judging a second generator reuses the real photos' features and reference scores (notebook 05 judges six
    against the same photos), with the same numbers; a judge whose model file changed is extracted again."""
    gen_eval._REAL_CACHE.clear()
    first = evaluate_generator(bench / "cvae", [bench / "cnn_a"], n=7, device="cpu")
    expected = json.loads(json.dumps(first["judges"]))
    first["judges"][1]["reference"]["fid"] = -1.0  # a caller editing its report leaves the cache alone
    calls = []
    original = ClassifierJudge.features_and_predictions

    def counted(self, images, *args, **kwargs):
        calls.append(len(images))
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(ClassifierJudge, "features_and_predictions", counted)
    again = evaluate_generator(bench / "cvae", [bench / "cnn_a"], n=7, device="cpu")
    assert calls == [first["n"]]  # only the samples: the test and held-out photos came from the cache
    assert again["judges"] == expected and again["fid"] == first["fid"]

    shutil.copytree(bench / "cnn_a", tmp_path / "judge")
    evaluate_generator(bench / "cvae", [tmp_path / "judge"], n=7, device="cpu")
    calls.clear()
    weights = tmp_path / "judge" / "model.pt"
    weights.write_bytes(weights.read_bytes())  # a new file time: what retraining in place does
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    evaluate_generator(bench / "cvae", [tmp_path / "judge"], n=7, device="cpu")
    assert len(calls) == 3  # test photos, samples, held-out photos: extracted again
