"""Variety measures: PRDC and the duplicate rate see a collapsed generator that agreement cannot, and real photos
against real photos score as the papers say they should."""

from __future__ import annotations

import torch

from tslib.tasks.generate.diversity import NEAREST_K, duplicate_rate, prdc, prdc_per_class, variety


def _cloud(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, 16, generator=torch.Generator().manual_seed(seed)) + shift


def test_real_against_real_covers_and_a_collapse_does_not():
    real, other = _cloud(300, 0), _cloud(300, 1)
    same = prdc(real, other)
    assert same["coverage"] > 0.9 and 0.8 < same["density"] < 1.2 and same["precision"] > 0.8  # ~1 - 2^-5
    collapsed = other[:3].repeat(100, 1) + 1e-3 * _cloud(300, 2)  # three pictures, each drawn 100 times
    low = prdc(real, collapsed)
    assert low["coverage"] < 0.1 and low["recall"] < 0.1
    assert low["precision"] > 0.5  # every copy still looks real: what agreement alone would reward
    assert prdc(real[:NEAREST_K + 1], other) is None and prdc(real[:NEAREST_K + 2], other) is not None


def test_duplicates_are_samples_closer_than_any_two_real_photos():
    real, labels = _cloud(60, 3), torch.arange(60) % 3
    assert duplicate_rate(_cloud(60, 4), labels, real, labels) < 0.1
    copies = _cloud(3, 5).repeat_interleave(20, 0)  # class c: 20 copies of one picture
    assert duplicate_rate(copies, torch.arange(3).repeat_interleave(20), real, labels) == 1.0
    assert duplicate_rate(_cloud(1, 6), None, real, None) is None  # nothing to compare


def test_variety_per_class():
    real, labels = _cloud(120, 7), torch.arange(120) % 2
    fake, asked = _cloud(120, 8), torch.arange(120) % 2
    out = variety(real, labels, fake, asked, ["a", "b"])
    assert set(out) == {"prdc", "duplicates", "prdc_per_class"} and set(out["prdc_per_class"]) == {"a", "b"}
    assert all(v["coverage"] > 0.8 for v in out["prdc_per_class"].values())
    assert prdc_per_class(real, labels, fake[:3], asked[:3], ["a", "b"]) == {"a": None, "b": None}
    assert "prdc_per_class" not in variety(real, labels, fake, None, ["a", "b"])  # unconditional: overall only


def test_report_puts_every_score_beside_the_real_photos_own():
    from tslib.tasks.generate.report import _judges_table

    judge = {"name": "cnn_a", "architecture": "cnn", "fid": 120.0, "kid": 0.1, "agreement": {"mean": 0.75},
             "real_agreement": 0.68, "prdc": {"precision": 0.5, "recall": 0.2, "coverage": 0.4}, "duplicates": 0.25,
             "reference": {"fid": 20.0, "prdc": {"precision": 0.9, "recall": 0.9, "coverage": 0.9},
                           "duplicates": 0.05}, "independent": True, "why": "trained on pixels"}
    html = _judges_table({"judges": [judge]})
    for text in ("0.75 of 0.68", "0.4 of 0.9", "120 of 20", "0.25 of 0.05", "0.2 of 0.9"):
        assert text in html, text
