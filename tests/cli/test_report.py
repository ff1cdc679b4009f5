"""`python -m tslib report`: one self-contained HTML page for every run under a folder (one tiny real run per
task, an unfinished one and a broken map), with only embedded PNGs that a browser loads; bad inputs are one line."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import pytest
from conftest import build_intel
from PIL import Image

from tslib.cli import main
from tslib.data.aerial import write_aerial
from tslib.data.landcover import prepare_landcover

FAST = ["--epochs", "1", "--workers", "0", "--no-progress"]
IMG = re.compile(r"<img\b[^>]*\bsrc=\"([^\"]*)\"")
UNFINISHED = "unfinished <b>&'"  # a folder name that must come out escaped


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A classifier, a conditional VAE and a UNet trained one epoch each, a whole image segmented by the UNet, a
    copy of the classifier without metrics.json (unfinished), and a segment.json whose files are gone; then the
    report with its default path (RUNS/report.html)."""
    root = tmp_path_factory.mktemp("report")
    build_intel(root / "intel", per_class=6, test_per_class=3, pred=0)
    assert main(["prepare", "--intel", str(root / "intel"), "--out", str(root / "prep"), "--quiet"]) == 0
    out = root / "runs"
    assert main(["train", "--task", "classify", "--manifest", str(root / "prep"), "--model", "cnn", "--img-size",
                 "32", *FAST, "--out", str(out / "cls")]) == 0
    assert main(["train", "--task", "generate", "--model", "cvae", "--manifest", str(root / "prep"), "--img-size",
                 "32", "--latent-dim", "8", "--width", "8", *FAST, "--out", str(out / "gen" / "cvae")]) == 0
    aerial = write_aerial(root / "landcover", n_images=1, height=1024, width=1536, seed=1)  # 4/1/1 tiles
    prepare_landcover(aerial, progress=False)
    assert main(["train", "--task", "segment", "--landcover", str(aerial), "--img-size", "64", "--depth", "2",
                 "--width", "4", "--limit-tiles", "4", *FAST, "--out", str(out / "unet")]) == 0
    with Image.open(aerial / "images" / "AERIAL-1-000.tif") as im:
        im.crop((0, 0, 256, 192)).save(root / "patch.png")
    assert main(["segment", "--run", str(out / "unet"), str(root / "patch.png"), "--window", "128", "--out",
                 str(out / "unet" / "maps")]) == 0
    shutil.copytree(out / "cls", out / UNFINISHED)
    (out / UNFINISHED / "metrics.json").unlink()
    (out / "maps").mkdir()
    files = {k: f"gone_{k}.png" for k in ("classes", "colour", "overlay")}
    (out / "maps" / "segment.json").write_text(json.dumps([{"image": "gone.tif", "width": 9, "height": 9,
                                                            "files": files, "class_share": {}}]))
    before = {p for p in out.rglob("*")}
    assert main(["report", "--runs", str(out)]) == 0
    return out, before


def _metrics(run):
    return json.loads((run / "metrics.json").read_text())["test"]


def test_page_holds_every_run_and_only_embedded_pngs(runs):
    out, before = runs
    page = out / "report.html"
    assert {p for p in out.rglob("*")} - before == {page}  # one file, nothing beside it
    text = page.read_text()
    # each headline is the last line `train` printed for the run (its task's format_metrics)
    for needle in (f"test accuracy: {_metrics(out / 'cls')['accuracy']:.4f}",
                   f"test reconstruction MSE: {_metrics(out / 'gen' / 'cvae')['recon_mse']:.5f}",
                   f"test mIoU: {_metrics(out / 'unet')['miou']:.4f}",
                   ">gen/cvae<", "cvae (conditional)", "real data", "PROCEDURAL aerial", "unfinished<",
                   "macro F1", "IoU building %", "whole image (", "gone.tif"):
        assert needle in text, needle
    assert "unfinished &lt;b&gt;&amp;&#x27;" in text and "<b>" not in text  # escaped, never markup
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text, re.I), "external reference"
    assert "<link" not in text and "@import" not in text and "url(" not in text
    srcs = IMG.findall(text)
    # cls: confusion + curves + reliability; cvae: samples + curves; unet: confusion + curves + map; unfinished: curves
    assert len(srcs) == 9 == text.count("<img"), len(srcs)
    assert "ECE calibrated" in text  # the classifier's calibration table
    for src in srcs:
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix), src[:40]
        with Image.open(io.BytesIO(base64.b64decode(src[len(prefix):], validate=True))) as im:
            assert im.format == "PNG" and max(im.size) <= 1400
            im.verify()
    assert page.stat().st_size < 1_500_000


def test_bad_inputs_are_one_line_and_exit_2(runs, tmp_path, capsys):
    out, _ = runs
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for argv, needle in ((["--runs", str(tmp_path / "missing")], "no such folder"),
                         (["--runs", str(tmp_path / "file.txt")], "is a file"),
                         (["--runs", str(tmp_path / "empty")], "no run folders"),
                         (["--runs", str(out), "--out", str(tmp_path)], "is a folder"),
                         (["--runs", str(out), "--out", str(tmp_path / "file.txt" / "r.html")], "is a file")):
        capsys.readouterr()
        assert main(["report", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and needle in err, (argv, err)
    assert not (tmp_path / "empty" / "report.html").exists()
    (tmp_path / "few" / "r").mkdir(parents=True)  # a run that has not trained an epoch: no figure, no error
    shutil.copy(out / "cls" / "run.json", tmp_path / "few" / "r")
    assert main(["report", "--runs", str(tmp_path / "few"), "--out", str(tmp_path / "new" / "page.html")]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "new" / "page.html")
    assert "unfinished" in (tmp_path / "new" / "page.html").read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)")
def test_every_image_loads_in_a_browser(runs, tmp_path):
    out, _ = runs
    text = (out / "report.html").read_text()
    n = len(IMG.findall(text))
    first = IMG.search(text).group(1)
    broken = tmp_path / "broken.html"  # the check can fail: one image's bytes cut short
    broken.write_text(text.replace(first, first[:200], 1))

    def loaded(page) -> str:
        done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                               "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
        found = re.search(r"<body[^>]*data-images=\"(\d+/\d+)\"", done.stdout)
        assert found, done.stdout[-500:] + done.stderr[-2000:]
        return found.group(1)

    assert n >= 8 and loaded(out / "report.html") == f"{n}/{n}"
    assert loaded(broken) == f"{n - 1}/{n}"
