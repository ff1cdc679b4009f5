"""The contract every command keeps, checked on every command the parser has (new ones join automatically): a user's
mistake is one line on stderr starting with ``error:``, exit 2, no traceback, nothing written; ``--debug`` shows the
traceback instead."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tslib.cli import build_parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = _commands()
NUMERIC = ("_positive", "_positive_float", "_samples", "parse")  # the range-checked number types of the data/task verbs


def _bad_paths_argv(name: str, parser: argparse.ArgumentParser, tmp_path) -> list[str]:
    """The required paths of ``name`` and its ``--out`` all wrong: outputs are an existing file, inputs do not exist."""
    afile = tmp_path / "a-file.txt"
    afile.write_text("keep me")
    argv = [name]
    for action in parser._actions:
        if getattr(action.type, "__name__", None) != "Path" or not (action.required or action.dest == "out"):
            continue
        value = str(afile) if action.dest == "out" else str(tmp_path / "missing" / action.dest)
        count = action.nargs if isinstance(action.nargs, int) else 1
        if action.option_strings:
            argv += [action.option_strings[0], *[value] * count]
        else:
            argv += [value] * count
    return argv


def _one_line(capsys, rc: int) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_wrong_paths_are_one_line_and_change_nothing(name, tmp_path, capsys, monkeypatch):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    monkeypatch.setenv("TSLIB_DATA", str(tmp_path / "a-file.txt"))  # `download` without --data writes here
    argv = _bad_paths_argv(name, COMMANDS[name], tmp_path)
    err = _one_line(capsys, main(argv))
    assert "a-file.txt" in err or "missing" in err or " --" in err, err  # it names the wrong path, or the flag
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file.txt"]
    assert (tmp_path / "a-file.txt").read_text() == "keep me"
    with pytest.raises(Exception) as info:  # --debug: the exception itself, for a traceback
        main([*argv, "--debug"])
    assert not isinstance(info.value, SystemExit)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_unknown_option_and_help(name, tmp_path, capsys):
    err = _one_line(capsys, main([*_bad_paths_argv(name, COMMANDS[name], tmp_path), "--no-such-option"]))
    assert "--no-such-option" in err and "--help" in err
    assert main([name, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


NUMBERS = [(name, action.option_strings[0], value)
           for name, parser in sorted(COMMANDS.items()) for action in parser._actions
           if action.option_strings and getattr(action.type, "__name__", None) in NUMERIC
           for value in ("-1", "nan", "many")]


@pytest.mark.parametrize("name,flag,value", NUMBERS, ids=[f"{n}{f}={v}" for n, f, v in NUMBERS])
def test_numbers_out_of_range(name, flag, value, tmp_path, capsys):
    argv = _bad_paths_argv(name, COMMANDS[name], tmp_path)
    err = _one_line(capsys, main([*argv, flag, value]))
    assert flag in err or flag.lstrip("-") in err, err  # the bad number is caught first, by name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file.txt"]


def test_a_real_process_prints_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tslib", "evaluate", "--run", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [f"error: run folder {tmp_path / 'nope'} does not exist (or is not "
                                               "a folder)"]
