"""One CLI convention: every command's --help works and states each default once and every choice; --data, --run
and --out mean the same everywhere, old spellings still work for one release with a note; bare `tslib` is the
help; outputs' missing parent folders are created, a parent that is a file is refused."""

from __future__ import annotations

import re

import pytest

from tslib.cli import build_parser, main

COMMANDS = ["notebooks", "train", "evaluate", "predict", "generate", "evaluate-generator", "segment", "synth",
            "prepare", "download", "prepare-landcover", "report", "export", "doctor"]


def _help(capsys, *argv) -> str:
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


def test_bare_tslib_prints_the_help_and_the_main_job_comes_first(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^    (\S+)", out, flags=re.M)
    assert listed[0] == "notebooks" and set(COMMANDS) <= set(listed)
    assert main(["--version"]) == 0 and re.match(r"tslib \d+\.\d+\.\d+", capsys.readouterr().out)


@pytest.mark.parametrize("argv", [[c] for c in COMMANDS] + [["train", "--task", t] for t in ("generate", "segment")])
def test_every_help_states_defaults_once_and_lists_choices(argv, capsys):
    text = " ".join(_help(capsys, *argv).split())
    assert not re.search(r"\(default[^()]*\) \(default", text), "a default stated twice"
    if argv[0] == "train":
        for flag, choice in (("--optimizer", "sgd"), ("--schedule", "onecycle"), ("--amp", "bf16"),
                             ("--log", "tensorboard")):
            assert re.search(rf"{flag} {{[^}}]*{choice}", text), flag
        assert "--resume RUN" in text and "--out" in text


def test_one_spelling_per_concept():
    """--data for a data root, --run for a run that is read, --out for what is written."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    shown = {name: {s for a in p._actions if a.help != "==SUPPRESS==" for s in a.option_strings}
             for name, p in sub.items()}
    assert "--data" in shown["download"] and "--data" in shown["prepare-landcover"] and "--data" in shown["notebooks"]
    for name in ("evaluate", "predict", "generate", "evaluate-generator", "segment", "export"):
        assert "--run" in shown[name], name
    assert not any({"--root", "--dataset", "--cache", "--num-workers"} & flags for flags in shown.values())


@pytest.mark.parametrize("old,new", [(["download", "--out"], "--data"), (["prepare-landcover", "--root"], "--data")])
def test_old_spellings_still_work_with_a_note(tmp_path, capsys, monkeypatch, old, new):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "none"))
    rc = main([*old, str(tmp_path / "data"), *(["--allow-missing"] if old[0] == "download" else [])])
    err = capsys.readouterr().err
    assert f"note: {old[1]} is deprecated, use {new}" in err
    assert rc == 0 if old[0] == "download" else rc != 0  # an empty folder is no Landcover.ai: refused as with --data


def test_deprecated_config_flags_map_to_the_same_setting():
    from tslib.cli.args import given_settings

    parser = build_parser()
    args = parser.parse_args(["train", "--manifest", "m", "--out", "o", "--num-workers", "3", "--cache"])
    assert given_settings(args) == {"manifest": "m", "feature_cache": True, "train": {"num_workers": 3}}
    args = parser.parse_args(["train", "--manifest", "m", "--out", "o", "--workers", "1", "--no-feature-cache"])
    assert given_settings(args) == {"manifest": "m", "feature_cache": False, "train": {"num_workers": 1}}


def test_output_files_get_their_folders_and_bad_parents_are_one_line(tmp_path):
    from tslib.errors import check_out_file
    from tslib.tasks.segment.vector import check_vector_path

    assert check_vector_path(tmp_path / "maps" / "parcels.gpkg") == tmp_path / "maps" / "parcels.gpkg"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        check_vector_path(tmp_path / "file" / "parcels.geojson")
    (tmp_path / "maps").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_out_file(tmp_path / "maps", "--out")
    (tmp_path / "maps" / "old.geojson").write_text("{}")
    with pytest.raises(FileExistsError, match="exists"):
        check_vector_path(tmp_path / "maps" / "old.geojson")
