"""Command-line flags derived from config dataclasses: each setting's name, type, default and help are declared
once, on the dataclass field (:func:`tslib.config.setting`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, NoReturn

from ..config import _nested_type, cli_type, from_dict

_PREFIX = "cfg."


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump), like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


#: the release after which a deprecated flag spelling goes
REMOVED_IN = "0.3"


def deprecated(new: str):
    """An argparse action for an old spelling of ``new``: it stores the value as ``new`` does and prints one line
    saying which spelling to use (the old one is accepted until :data:`REMOVED_IN`)."""

    class Deprecated(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"note: {option_string} is deprecated, use {new} (accepted until tslib {REMOVED_IN})",
                  file=sys.stderr)
            setattr(namespace, self.dest, values if self.nargs != 0 else self.const)

    return Deprecated


def add_deprecated(parser: argparse.ArgumentParser, old: str, new: str, **kw: Any) -> None:
    """Accept ``old`` as a hidden, deprecated spelling of the option ``new`` (same ``dest``, ``type``, ``nargs``)."""
    parser.add_argument(old, action=deprecated(new), help=argparse.SUPPRESS, **kw)


def with_default(help_text: str, default: Any) -> str:
    """``help_text`` with its default stated once: appended unless the text already says it."""
    if "default" in help_text:
        return help_text
    return f"{help_text} (default: {default})" if help_text else f"default: {default}"


def _scalar(typ: type, optional: bool, flag: str):
    def parse(text: str) -> Any:
        if optional and text.strip().lower() in ("none", "null", ""):
            return None
        try:
            return typ(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects {typ.__name__}, got {text!r}") from None

    parse.__name__ = typ.__name__
    return parse


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_config_args(parser: argparse.ArgumentParser, cls: type, path: str = "", defaults: Any = None) -> None:
    """Add ``--field-name`` options for every field of ``cls`` and its nested configs (one argument group each).

    Options default to "not given", so the dataclass keeps the only copy of each default (shown in ``--help``;
    ``defaults`` is the instance a parent config's default_factory makes, whose values win).
    """
    group = parser.add_argument_group(f"{cls.__name__} settings")
    for f in dataclasses.fields(cls):
        sub = _nested_type(cls, f)
        if sub is not None:
            add_config_args(parser, sub, f"{path}{f.name}.", _default(f))
            continue
        if not f.metadata.get("cli", True):
            continue
        flag, *old = f.metadata.get("flags") or (f"--{f.name.replace('_', '-')}",)
        default = getattr(defaults, f.name) if defaults is not None else _default(f)
        text = f.metadata.get("help", "")
        shown = f"{text} (required unless --resume)" if default is dataclasses.MISSING else with_default(text, default)
        # SUPPRESS: an option not given leaves no attribute, so "not given" differs from an explicit "none".
        dest = f"{_PREFIX}{path}{f.name}"
        kw: dict[str, Any] = dict(dest=dest, default=argparse.SUPPRESS, help=shown.replace("%", "%%"))
        typ, optional = cli_type(cls, f)
        if typ is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
            for spelling in old:  # an earlier spelling, and its --no- form, accepted for one release
                negative = "--no-" + spelling.removeprefix("--")
                add_deprecated(group, spelling, flag, dest=dest, default=argparse.SUPPRESS, nargs=0, const=True)
                add_deprecated(group, negative, "--no-" + flag.removeprefix("--"), dest=dest,
                               default=argparse.SUPPRESS, nargs=0, const=False)
            continue
        choices = f.metadata.get("choices")
        if choices:  # listed in the metavar, so --help shows them
            kw["choices"] = list(choices)
        metavar = "{" + ",".join(map(str, choices)) + "}" if choices else f.name.upper()
        group.add_argument(flag, type=_scalar(typ, optional, flag), metavar=metavar, **kw)
        for spelling in old:  # earlier spellings of the same setting: accepted for one release, with a note
            add_deprecated(group, spelling, flag, dest=dest, default=argparse.SUPPRESS,
                           type=_scalar(typ, optional, flag), choices=kw.get("choices"))


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The config options the user actually gave, as a nested dict (``{"model": ..., "train": {"epochs": 3}}``)."""
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if not key.startswith(_PREFIX):
            continue
        *parents, name = key[len(_PREFIX):].split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[name] = value
    return out


def merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``, recursively."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_from_args(cls: type, args: argparse.Namespace, base: dict | None = None) -> Any:
    """Build ``cls`` from ``base`` (e.g. a resumed run's saved config) and the options given on the command line;
    a missing required setting is one clear error naming its flag."""
    data = merge(base or {}, given_settings(args))
    missing = [f.name for f in dataclasses.fields(cls) if _default(f) is dataclasses.MISSING and f.name not in data]
    if missing:
        flags = ", ".join(f"--{m.replace('_', '-')}" for m in missing)
        raise ValueError(f"train needs {flags} and --out (or --resume RUN)")
    return from_dict(cls, data)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a clear message otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
