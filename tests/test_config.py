"""Settings declared once: dataclass fields carry help, range and flags; the CLI and run.json derive from them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tslib.cli import build_parser
from tslib.cli.args import config_from_args
from tslib.config import flat_names, from_dict, runtime_fields, to_dict
from tslib.engine import TrainConfig
from tslib.tasks.classify import ClassifyConfig


def test_nested_and_flat_dicts_round_trip():
    cfg = ClassifyConfig(manifest="m", model="efficientnet_lite0", train=TrainConfig(epochs=3, lr=0.01))
    assert from_dict(ClassifyConfig, to_dict(cfg)) == cfg
    flat = ClassifyConfig.from_dict({"manifest": "m", "model": "efficientnet_lite0", "epochs": 3, "lr": 0.01})
    assert flat == cfg and flat.train.epochs == 3
    with pytest.raises(ValueError, match="unknown ClassifyConfig settings \\['epoch'\\]"):
        ClassifyConfig.from_dict({"manifest": "m", "epoch": 3})
    assert {"epochs", "manifest", "grad_clip", "schedule"} <= flat_names(ClassifyConfig)


def test_runtime_fields_and_validation():
    assert runtime_fields(ClassifyConfig) == {"tta", "decode_cache", "train.amp", "train.device",
                                              "train.channels_last", "train.num_workers", "train.progress",
                                              "train.max_minutes", "calibrate", "ood_score", "false_rejection",
                                              "gpu_augment", "train.log", "train.compile", "train.sync_bn",
                                              "train.deterministic"}
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="schedule='linear'"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="unfreeze-after \\(5\\) must be below epochs"):
        ClassifyConfig(manifest="m", unfreeze_after=5, train=TrainConfig(epochs=5))


def test_cli_flags_come_from_the_dataclasses():
    parser = build_parser("classify")
    train = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("train"))
    dests = {a.dest for a in train._actions}
    for f in dataclasses.fields(TrainConfig):  # optimizer, schedule and grad clipping are reachable too
        assert f"cfg.train.{f.name}" in dests
    args = parser.parse_args(["train", "--manifest", "m", "--optimizer", "sgd", "--schedule", "onecycle",
                              "--grad-clip", "none", "--no-augment", "--workers", "0", "--out", "r"])
    cfg = config_from_args(ClassifyConfig, args)
    assert (cfg.train.optimizer, cfg.train.schedule, cfg.train.grad_clip) == ("sgd", "onecycle", None)
    assert cfg.augment is False and cfg.train.num_workers == 0
    # Flags that were not given keep the dataclass default (argparse holds no second copy of it).
    assert cfg.train.epochs == TrainConfig().epochs and cfg.model == "cnn"
    help_text = train.format_help()
    assert "(default: 10)" in help_text and "(default: cosine)" in help_text
    base = to_dict(cfg)
    resumed = config_from_args(ClassifyConfig, parser.parse_args(["train", "--resume", "r", "--device", "cpu"]), base)
    assert resumed.train.device == "cpu" and resumed.train.optimizer == "sgd"


def test_runs_saved_before_a_default_changed_rebuild_what_they_trained(tmp_path):
    """cvae/dcgan runs written before --upsample/--gan-loss existed used transposed convs and BCE: reading their
    run.json back must give that, not today's defaults (resume would otherwise build another model)."""
    from tslib.engine import runs
    from tslib.tasks.generate import GenerateConfig

    for model, expect in (("cvae", ("transposed", None)), ("dcgan", ("transposed", "bce")),
                          ("ddpm", (None, None))):
        old = runs.to_dict(GenerateConfig(manifest="m", model=model))
        old.pop("upsample"), old.pop("gan_loss")
        (tmp_path / "run.json").write_text(json.dumps({"task": "generate", "config": old}))
        cfg = runs.load_config(tmp_path, GenerateConfig)
        assert (cfg.upsample, cfg.gan_loss) == expect, model
    fresh = GenerateConfig(manifest="m", model="cvae")
    assert fresh.model_kwargs(7)["upsample"] == "resize"  # new runs: the measured default
