"""Calibrated probabilities and "not a landscape photo": temperature scaling, ECE, OOD scores, thresholds, and the
predict/evaluate commands that use them (including the bad inputs)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tslib.cli import main
from tslib.data.not_landscapes import KINDS, not_landscape_image, write_not_landscapes
from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.tasks.classify import ClassifyConfig, train_classifier
from tslib.tasks.classify.calibration import (
    calibration_metrics,
    check_temperature,
    fit_temperature,
    reliability_bins,
)
from tslib.tasks.classify.ood import (
    SCORES,
    auroc,
    choose_threshold,
    fit_scorer,
    scorer_from_state,
    scorer_state,
)
from tslib.tasks.classify.prediction import predict
from tslib.tasks.classify.trust import load_trusted


def _overconfident(n: int = 4000, c: int = 5, t: float = 3.0, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / t): the right temperature is t."""
    g = torch.Generator().manual_seed(seed)
    true = torch.randn(n, c, generator=g) * 2
    labels = torch.multinomial(true.softmax(1), 1, generator=g).squeeze(1)
    return true * t, labels


def test_fit_temperature_recovers_the_true_scale_and_lowers_ece():
    logits, labels = _overconfident(t=3.0)
    t = fit_temperature(logits, labels)
    assert 2.6 < t < 3.4, t
    before, after = calibration_metrics(logits, labels), calibration_metrics(logits, labels, t)
    assert after["ece"] < before["ece"] / 2 and after["nll"] < before["nll"]
    # an already calibrated model keeps T near 1, and the winning class never changes
    logits1, labels1 = _overconfident(t=1.0, seed=1)
    assert 0.85 < fit_temperature(logits1, labels1) < 1.15
    assert torch.equal((logits / t).argmax(1), logits.argmax(1))


def test_fit_temperature_needs_labels():
    with pytest.raises(ValueError, match="at least 2"):
        fit_temperature(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize("bad", ["abc", -1, 0, float("nan"), float("inf"), True, None, 1e6])
def test_check_temperature_rejects_damaged_values(bad):
    with pytest.raises(ValueError, match="temperature"):
        check_temperature(bad)
    assert check_temperature("1.5") == 1.5


def test_reliability_bins_count_and_accuracy():
    probs = torch.tensor([[0.95, 0.05], [0.92, 0.08], [0.55, 0.45], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 0, 1])
    bins = reliability_bins(probs, labels, n_bins=10)
    assert sum(bins["count"]) == 4 and len(bins["count"]) == 10
    assert bins["count"][9] == 2 and bins["accuracy"][9] == pytest.approx(0.5)  # 0.95 right, 0.92 wrong
    assert bins["confidence"][9] == pytest.approx(0.935)
    assert bins["count"][5] == 1 and bins["accuracy"][5] == 1.0  # 0.55: (0.5, 0.6]


def test_auroc_is_exact_with_ties():
    assert auroc(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert auroc(torch.tensor([1.0]), torch.tensor([2.0])) == 0.0
    assert auroc(torch.tensor([1.0, 2.0]), torch.tensor([1.0])) == 0.75  # one win, one tie
    assert auroc(torch.tensor([1e6]), torch.tensor([1e6 - 1])) == 1.0  # no sigmoid saturation


def test_feature_scores_separate_far_images_and_threshold_keeps_the_rate():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 32, generator=g) * 3
    labels = torch.arange(400) % 4
    train = centres[labels] + torch.randn(400, 32, generator=g)
    val = centres[torch.arange(200) % 4] + torch.randn(200, 32, generator=g)
    far = torch.randn(100, 32, generator=g) * 3 + 10 * torch.randn(1, 32, generator=g)
    logits_val, logits_far = torch.randn(200, 4, generator=g), torch.randn(100, 4, generator=g)
    for kind in ("knn", "mahalanobis"):
        scorer = fit_scorer(kind, train, labels, 4)
        s_val, s_far = scorer(val, logits_val), scorer(far, logits_far)
        assert auroc(s_val, s_far) > 0.95, kind
        thr = choose_threshold(s_val, 0.05)
        assert 0.02 <= float((s_val < thr).float().mean()) <= 0.06
        again = scorer_from_state(scorer_state(scorer))
        assert torch.allclose(again(val, logits_val), s_val)
    with pytest.raises(ValueError, match="valid: msp"):
        fit_scorer("cosine", train, labels, 4)
    with pytest.raises(ValueError, match="false-rejection"):
        choose_threshold(torch.ones(3), 1.5)


@pytest.mark.parametrize("kind", KINDS)
def test_not_landscape_images_are_reproducible(kind):
    a, b = not_landscape_image(kind, 64, seed=3, index=2), not_landscape_image(kind, 64, seed=3, index=2)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, not_landscape_image(kind, 64, seed=3, index=5)) or kind == "textures"


# --- a tiny run: run.json entries, predict's "uncertain", evaluate --ood, and the errors ---------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    write_procedural(root / "data", per_class=16, size=48, seed=2, difficulty="easy")
    prep = prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape",
                   progress=False)
    cfg = ClassifyConfig.from_dict(dict(manifest=str(prep.manifest), model="cnn", epochs=4, img_size=48,
                                        batch_size=32, lr=3e-3, num_workers=0, progress=False, augment=False))
    train_classifier(cfg, root / "run")
    write_not_landscapes(root / "ood", per_kind=8, size=64, kinds=("noise", "documents"))
    return root


def test_training_fits_temperature_and_thresholds(run):
    info = json.loads((run / "run" / "run.json").read_text())
    assert 0.05 <= info["calibration"]["temperature"] <= 20 and info["calibration"]["fitted_on"] == "val"
    assert info["ood"]["score"] == "knn" and set(info["ood"]["thresholds"]) == set(SCORES)
    assert info["ood"]["false_rejection"] == 0.05 and (run / "run" / "ood.pt").is_file()
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    cal = metrics["val"]["calibration"]
    assert cal["nll"] <= cal["nll_uncalibrated"] + 1e-6  # fitted on val: the NLL there cannot get worse
    assert 0 <= metrics["val"]["rejected"] <= 0.2 and (run / "run" / "reliability.png").is_file()


def test_predict_marks_non_landscapes_uncertain(run):
    trusted, info = load_trusted(run / "run")
    noise = predict(trusted, [run / "ood" / "noise"], info=info)
    assert len(noise) == 8 and sum(r["uncertain"] for r in noise) >= 6
    raw = predict(run / "run", [run / "ood" / "noise"], calibrate=False, reject=False)
    assert all("uncertain" not in r for r in raw)
    assert [r["class"] for r in raw] == [r["class"] for r in noise]  # a temperature never changes the class


def test_cli_evaluate_ood_and_predict_lines(run, capsys):
    assert main(["evaluate", "--run", str(run / "run"), "--split", "test", "--ood", str(run / "ood")]) == 0
    out = capsys.readouterr().out
    assert "test calibration: ECE" in out and "ood (" in out
    ood = json.loads((run / "run" / "metrics.json").read_text())["ood"]
    assert ood["n_ood"] == 16 and set(ood["by_score"]) == set(SCORES) and ood["auroc"] > 0.8
    assert main(["predict", "--run", str(run / "run"), str(run / "ood" / "documents"), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8 and any("uncertain" in line for line in lines)


def test_bad_inputs_are_one_line(run, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    assert main(["evaluate", "--run", str(run / "run"), "--ood", str(empty)]) != 0
    assert "holds no images" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(run / "run"), "--ood", str(tmp_path / "missing")]) != 0
    assert "no such folder" in capsys.readouterr().err
    other = tmp_path / "gen"
    other.mkdir()
    (other / "run.json").write_text(json.dumps({"task": "generate", "config": {}}))
    assert main(["evaluate", "--run", str(other), "--ood", str(run / "ood")]) != 0
    assert "--ood applies to classify runs" in capsys.readouterr().err
    assert main(["predict", "--run", str(other), "--explain", "--out", str(tmp_path / "x"), str(empty)]) != 0
    err = capsys.readouterr().err
    assert "not a classification run" in err and "Traceback" not in err
    assert main(["predict", "--run", str(run / "run"), "--explain", str(empty)]) != 0
    assert "--out" in capsys.readouterr().err


def test_corrupt_temperature_is_one_line_and_recalibrate_mends_it(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run / "run", copy)
    info = json.loads((copy / "run.json").read_text())
    info["calibration"]["temperature"] = "warm"
    (copy / "run.json").write_text(json.dumps(info))
    image = run / "ood" / "noise" / "noise_000.png"
    assert main(["predict", "--run", str(copy), str(image)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "temperature 'warm'" in err and "--recalibrate" in err
    assert main(["predict", "--run", str(copy), "--no-calibrate", str(image)]) == 0
    assert main(["evaluate", "--run", str(copy), "--split", "val", "--recalibrate"]) == 0
    assert isinstance(json.loads((copy / "run.json").read_text())["calibration"]["temperature"], float)
    (copy / "ood.pt").write_bytes(b"cut off")
    capsys.readouterr()
    assert main(["predict", "--run", str(copy), str(image)]) != 0
    assert "ood.pt" in capsys.readouterr().err
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    assert main(["predict", "--run", str(copy), "--no-reject", str(tmp_path / "tiny.png")]) == 0


def test_predict_explain_writes_overlays(run, tmp_path, capsys):
    from tslib.tasks.classify.cli import CAM_METHODS
    from tslib.tasks.classify.explain import METHODS

    assert set(CAM_METHODS) == set(METHODS)
    out = tmp_path / "cams"
    assert main(["predict", "--run", str(run / "run"), str(run / "ood" / "documents"), "--explain", "--out", str(out),
                 "--cam", "gradcam++", "--device", "auto"]) == 0
    assert len(list(out.glob("*_gradcam++.png"))) == 8
    (tmp_path / "file").write_text("x")
    assert main(["predict", "--run", str(run / "run"), str(run / "ood"), "--explain",
                 "--out", str(tmp_path / "file")]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_one_pass_gives_the_plain_and_the_tta_outputs(run):
    """evaluate --tta reads the plain output off TTA's unflipped half: the same numbers as two separate passes."""
    from tslib.engine import runs
    from tslib.engine.inference import flip_tta, run_batches
    from tslib.tasks.classify.data import run_datasets, run_loader
    from tslib.tasks.classify.evaluate import plain_and_tta_outputs, trusted_outputs

    trusted, info = load_trusted(run / "run")
    cfg = runs.load_config(run / "run", ClassifyConfig)
    loader = run_loader(run_datasets(cfg, info["preprocessing"], info["classes"])["test"], cfg, torch.device("cpu"),
                        train=False)
    plain, tta = plain_and_tta_outputs(trusted, loader, torch.device("cpu"))
    for g, w in zip(plain, trusted_outputs(trusted, loader, torch.device("cpu"))):
        torch.testing.assert_close(g, w)

    def packed(x):  # the reference TTA: the engine's flip_tta over the three outputs, a pass of its own
        probs, logits, score = trusted(x)
        return torch.cat([probs, logits, score[:, None].float()], 1)

    want, labels = run_batches(trusted, loader, torch.device("cpu"), lambda x: flip_tta(packed, x))
    c = (want.shape[1] - 1) // 2
    for g, w in zip(tta, (want[:, :c], want[:, c:2 * c], want[:, -1], labels)):
        torch.testing.assert_close(g, w)
    torch.testing.assert_close(trusted_outputs(trusted, loader, torch.device("cpu"), tta=True)[0], tta[0])
    assert not torch.allclose(plain[0], tta[0])  # the flip changes something, or the test proves nothing


def test_evaluate_and_predict_mark_the_same_images_uncertain_under_bf16_autocast(run, tmp_path, monkeypatch):
    """On a GPU inference autocasts (bf16 from Ampere): the scores must still be fp32, so the evaluate path and
    predict agree image by image. bf16 autocast on CPU stands in for it; the Mahalanobis score is the most
    sensitive to precision, and a threshold at the median score puts half the images within rounding of it."""
    import shutil

    import tslib.engine.precision as precision
    from tslib.tasks.classify.evaluate import evaluate_ood, trusted_outputs
    from tslib.tasks.classify.prediction import collect_images, image_batches

    real = precision.resolve_amp
    monkeypatch.setattr(precision, "resolve_amp",
                        lambda amp, device: torch.bfloat16 if amp == "auto" else real(amp, device))
    copy = tmp_path / "run"
    shutil.copytree(run / "run", copy)
    files = collect_images([run / "ood"])[0]
    trusted, info = load_trusted(copy, score="mahalanobis")
    _, _, scores, _ = trusted_outputs(trusted, image_batches(files, info["preprocessing"], 32), "cpu")
    preds = predict(trusted, files, info=info)
    torch.testing.assert_close(torch.tensor([r["score"] for r in preds]), scores, rtol=1e-6, atol=1e-6)

    threshold = float(scores.median())
    run_info = json.loads((copy / "run.json").read_text())
    run_info["ood"]["thresholds"]["mahalanobis"] = threshold
    (copy / "run.json").write_text(json.dumps(run_info))
    trusted, info = load_trusted(copy, score="mahalanobis")
    uncertain = [r["uncertain"] for r in predict(trusted, files, info=info)]
    assert 0 < sum(uncertain) < len(files)
    accepted = evaluate_ood(copy, run / "ood")["by_score"]["mahalanobis"]["false_acceptance"]
    assert round(accepted * len(files)) == len(files) - sum(uncertain)
