"""`python -m tslib export`: the ONNX file of a classification or segmentation run computes what PyTorch computes
(run in onnxruntime on inputs it was not exported with, at other batch sizes and image sizes), preprocess.json says
how to feed it, and every wrong input is one line that writes nothing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tslib.cli import main
from tslib.data.prepare import prepare
from tslib.data.workspace import write_procedural
from tslib.engine import TrainConfig
from tslib.tasks.classify import ClassifyConfig, load_trusted, train_classifier
from tslib.tasks.segment import SegmentConfig, load_segmenter, train_segmenter

ort = pytest.importorskip("onnxruntime")
ENGINE = dict(num_workers=0, progress=False, seed=0)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    write_procedural(root / "data", per_class=8, size=32, seed=1, difficulty="easy")
    prepare(root / "prep", intel=root / "data" / "intel", landscape=root / "data" / "landscape", progress=False)
    cfg = ClassifyConfig(manifest=str(root / "prep"), model="cnn", img_size=32, augment=False,
                         train=TrainConfig(epochs=1, batch_size=32, **ENGINE))
    train_classifier(cfg, root / "run")
    return root / "run"


@pytest.fixture(scope="module")
def segmenter_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    for folder in ("img", "msk"):
        (root / folder).mkdir()
    for i in range(14):
        rng = np.random.default_rng(i)
        mask = np.zeros((40, 48), np.uint8)
        mask[5:20, 10:30], mask[25:, :12] = 1, 2
        image = (rng.integers(0, 60, (40, 48, 3)) + 90 * mask[..., None]).astype(np.uint8)
        Image.fromarray(image).save(root / "img" / f"tile{i}.png")
        Image.fromarray(mask).save(root / "msk" / f"tile{i}.png")
    cfg = SegmentConfig(images=str(root / "img"), masks=str(root / "msk"), img_size=32, depth=2, width=4,
                        train=TrainConfig(epochs=1, batch_size=4, **ENGINE))
    train_segmenter(cfg, root / "run")
    return root / "run"


def _inputs(shape, mean, std, seed):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    return ((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)).float()


def test_classifier_onnx_matches_pytorch(classifier_run, capsys):
    assert main(["export", "--run", str(classifier_run), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    path, pre_path = classifier_run / "model.onnx", classifier_run / "preprocess.json"
    assert f"exported {path} (" in out and " MB, " in out and "max |onnxruntime - PyTorch| probs " in out
    pre, info = json.loads(pre_path.read_text()), json.loads((classifier_run / "run.json").read_text())
    assert pre["task"] == "classify" and pre["model"] == "cnn" and pre["format"] == "onnx"
    assert pre["classes"] == info["classes"] and len(pre["classes"]) == 7
    assert {k: pre["input"][k] for k in info["preprocessing"]} == info["preprocessing"]
    assert pre["input"]["layout"] == "NCHW" and pre["input"]["name"] == "image"
    assert pre["temperature"] == pytest.approx(info["calibration"]["temperature"])
    assert pre["ood"]["score"] == info["ood"]["score"] and pre["ood"]["threshold"] == info["ood"]["threshold"]
    assert [o["name"] for o in pre["outputs"]] == ["probs", "logits", "score"]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probs", "logits", "score"]
    size = pre["input"]["size"]
    x = _inputs((5, 3, size, size), pre["input"]["mean"], pre["input"]["std"], seed=7)  # a batch it never saw
    probs, logits, score = session.run(None, {"image": x.numpy()})
    trusted, _ = load_trusted(classifier_run)
    with torch.no_grad():
        ref = [t.numpy() for t in trusted(x)]
    assert probs.shape == (5, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.abs(probs - ref[0]).max() <= 1e-4
    assert np.abs(logits - ref[1]).max() <= 1e-4 and np.abs(score - ref[2]).max() <= 1e-4
    # the temperature is inside the file: its probabilities are softmax(logits / T), not the raw softmax
    scaled = torch.from_numpy(logits / pre["temperature"]).softmax(1).numpy()
    assert np.abs(probs - scaled).max() <= 1e-5


def test_segmenter_onnx_at_two_sizes(segmenter_run, tmp_path, capsys):
    out = tmp_path / "deploy" / "seg.onnx"  # a folder that does not exist yet
    assert main(["export", "--run", str(segmenter_run), "--out", str(out)]) == 0
    assert "checked in onnxruntime on inputs 2x3x64x96, 1x3x96x64" in capsys.readouterr().out
    pre = json.loads((out.parent / "preprocess.json").read_text())
    info = json.loads((segmenter_run / "run.json").read_text())
    assert pre["task"] == "segment" and pre["file"] == "seg.onnx" and pre["input"]["multiple"] == 4  # 2 ** depth
    assert pre["classes"] == info["classes"] == ["0", "1", "2"] and pre["colours"] == info["colours"]
    assert [o["name"] for o in pre["outputs"]] == ["probs", "logits"]
    assert not (segmenter_run / "model.onnx").exists()  # --out was honoured

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    net, _ = load_segmenter(segmenter_run)
    for n, h, w in ((3, 40, 24), (1, 16, 76)):  # sizes and batches it was not exported or checked with
        x = _inputs((n, 3, h, w), pre["input"]["mean"], pre["input"]["std"], seed=h)
        probs, logits = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            ref = net(x)
        assert probs.shape == logits.shape == (n, 3, h, w)
        assert np.abs(logits - ref.numpy()).max() <= 1e-4
        assert np.abs(probs - ref.softmax(1).numpy()).max() <= 1e-4


def _one_line(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_export_bad_input(classifier_run, tmp_path, capsys):
    generator = tmp_path / "gen"
    generator.mkdir()
    (generator / "run.json").write_text(json.dumps({"task": "generate", "config": {}, "model": {"name": "cvae"}}))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(classifier_run / "run.json", unfinished / "run.json")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    corrupt = shutil.copytree(classifier_run, tmp_path / "corrupt", ignore=shutil.ignore_patterns("*.onnx", "*.json"))
    info = json.loads((classifier_run / "run.json").read_text())
    (corrupt / "run.json").write_text(json.dumps({**info, "calibration": {"temperature": "warm"}}))
    cases = [(["--run", str(generator)], "generate runs cannot be exported; export supports classify, segment"),
             (["--run", str(tmp_path)], "is not a run folder"),
             (["--run", str(unfinished)], "has not finished training"),
             (["--run", str(corrupt)], "calibration temperature 'warm' is not a number"),
             (["--run", str(classifier_run), "--out", str(folder)], f"--out {folder} is a folder; give a file path"),
             (["--run", str(classifier_run), "--out", str(classifier_run / "model.pt")], "a file of a training run"),
             (["--run", str(classifier_run), "--out", str(tmp_path / "a-file" / "m.onnx")], "is a file, not a folder")]
    (tmp_path / "a-file").write_text("x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    model = (classifier_run / "model.pt").read_bytes()
    for argv, needle in cases:
        err = _one_line(capsys, main(["export", *argv]))
        assert needle in err, (argv, err)
    err = _one_line(capsys, main(["export", "--run", str(classifier_run), "--format", "torchscript"]))
    assert "--format" in err and "invalid choice" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert (classifier_run / "model.pt").read_bytes() == model  # still the run's own model


class _Drifts(torch.nn.Module):
    """A module whose exported graph misses a step PyTorch takes (as a wrong export would)."""

    shift = 0.0

    def forward(self, image):
        logits = image.mean((2, 3)) + (0.0 if torch.compiler.is_exporting() else self.shift)
        return logits.softmax(1), logits


def test_a_file_that_computes_something_else_is_never_written(tmp_path):
    from tslib.export import Exportable, write_onnx

    module = _Drifts()
    examples = (torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 12))
    item = Exportable(module, examples, ("probs", "logits"), {0: "batch", 2: "height", 3: "width"},
                      {"task": "toy"}, checked=("logits",), multiple=4)
    result = write_onnx(item, tmp_path / "ok.onnx")
    assert result["max_diff"]["logits"] <= 1e-6 and (tmp_path / "preprocess.json").is_file()
    module.shift = 1.0  # PyTorch now adds 1, the exported graph does not
    with pytest.raises(RuntimeError, match="differs from PyTorch by 1.00e\\+00 on logits"):
        write_onnx(item, tmp_path / "bad.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.onnx", "preprocess.json"]  # no bad.onnx, no temp
    for bad, needle in (((torch.rand(2, 3, 8, 10),), "multiples of 4"), ((torch.rand(1, 3, 8, 8),), "at least 2")):
        with pytest.raises(ValueError, match=needle):
            write_onnx(Exportable(module, bad, ("probs", "logits"), item.dynamic, {}, multiple=4), tmp_path / "x.onnx")


def test_fixed_same_padding_is_exact_for_multiples_of_the_stride():
    """The Lite0 encoder's TensorFlow "same" padding, fixed for export, computes what timm's dynamic one does."""
    import copy

    from tslib.models import create_model
    from tslib.tasks.segment.export import fix_same_padding

    net = create_model("smp_unet", task="segment", num_classes=3, depth=3, width=4).eval()
    fixed = copy.deepcopy(net)
    assert fix_same_padding(fixed) >= 2 and fix_same_padding(fixed) == 0  # its stride-2 convolutions, once
    for shape in ((2, 3, 32, 48), (1, 3, 40, 16)):  # multiples of 2 ** depth
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(shape[2]))
        with torch.no_grad():
            assert torch.allclose(fixed(x), net(x), atol=1e-6)
