"""The documentation site: `mkdocs build --strict` succeeds (a broken link or a page missing from the nav fails
it), the CLI reference is generated from the parsers, and the built home page and a guide render in a browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site CI built (``$TSLIB_SITE``), else a fresh build here."""
    pytest.importorskip("mkdocs")
    given = os.environ.get("TSLIB_SITE")
    if given and (Path(given) / "index.html").is_file():
        return Path(given)
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_every_page_and_notebook_is_built(site):
    for page in ("index.html", "getting-started/index.html", "guides/classify/index.html", "guides/gis/index.html",
                 "cli/index.html", "api/index.html", "results/index.html", "changelog/index.html",
                 "notebooks/05_generation/index.html"):
        assert (site / page).is_file(), page


def test_the_cli_reference_is_the_parsers_help(site):
    from tslib.cli import build_parser

    text = (site / "cli" / "index.html").read_text()
    for command in ("notebooks", "doctor", "segment", "prepare-landcover"):
        assert f'id="{command}"' in text, command
    assert "--max-minutes" in text and "train --task segment" in text  # each task's settings
    assert build_parser().prog in text


def test_the_api_reference_documents_the_public_names(site):
    text = (site / "api" / "index.html").read_text()
    for name in ("setup_data", "create_model", "fit", "train_classifier", "segment_file", "run_doctor"):
        assert "tslib." in text and name in text, name


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (apt-get install chromium)")
def test_home_and_a_guide_render_in_a_browser(site, tmp_path):
    def dom(page: Path) -> str:
        done = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
                               "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert "<body" in done.stdout, done.stderr[-2000:]
        return done.stdout

    for page, heading in ((site / "index.html", "TerraSculpt"), (site / "guides" / "classify" / "index.html",
                                                                 "Classification")):
        assert 'class="no-js"' in page.read_text()  # what the theme's script replaces once it runs
        text = dom(page)
        assert re.search(r'<html[^>]*class="[^"]*\bjs\b', text), "the theme's script did not run"
        assert re.search(rf"<h1[^>]*>{heading}", text)
        assert 'class="md-nav' in text and "Getting started" in text
