"""The test session's set-up, loaded as a plugin by every pytest run (``-p tslib_session`` in pyproject.toml), so it
applies whichever paths are given: ``pytest notebooks/05_generation.ipynb`` alone runs the smoke profile too (a
conftest.py under tests/ would not be loaded for it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

SHARED_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "intel-image-classification-sample"


def pytest_configure(config: pytest.Config) -> None:
    """Environment for the whole session (nothing happens at import time).

    The notebooks (collected by nbmake in the same pytest run) read these: they run in smoke mode (``TSLIB_SMOKE``:
    their parameters cell applies the smoke profile) on the real sample when ../shared is present, else on the
    procedural data, and write only into a temporary folder.
    Checkpoints skip fsync: durability against power cuts is not what tests check, and short test trainings
    write many checkpoints.
    """
    if SHARED_SAMPLE.is_dir():
        os.environ.setdefault("TSLIB_DATA", str(SHARED_SAMPLE.parent))
    os.environ.setdefault("TSLIB_SMOKE", "1")  # the notebooks' parameters cell picks its smoke profile from it
    os.environ.setdefault("TSLIB_RUNS", tempfile.mkdtemp(prefix="tslib-test-runs-"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("TSLIB_FSYNC", "0")

def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The numbered notebooks (nbmake items) carry the ``notebooks`` mark: CI runs ``-m "not notebooks"`` (the
    unit tests) and ``-m notebooks`` (the series in smoke mode) as two steps with their own times."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebooks)
