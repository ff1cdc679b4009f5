"""MkDocs hook: pages written from their one source at build time, so they cannot drift from it.

- ``docs/cli.md``: the CLI reference, from the argparse parsers themselves (a marker line becomes one section per
  command);
- ``docs/index.md``: the README, its links made relative to the site."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

MARKER = "<!-- the commands, generated from tslib.cli.build_parser -->"
README_MARKER = "<!-- README.md, its links made relative to the site by docs/hooks/cli_reference.py -->"
SOURCE = "https://github.com/terrasculpt/terrasculpt/blob/main/"


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def reference() -> str:
    from tslib.cli import build_parser
    from tslib.tasks import DEFAULT_TASK, available_tasks

    parser = build_parser()
    parts = ["## python -m tslib", "", "```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _commands(parser).items():
        parts += [f"## {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
        if name == "train":  # each task's settings
            for task in (t for t in available_tasks() if t != DEFAULT_TASK):
                task_sub = _commands(build_parser(task))["train"]
                parts += [f"### train --task {task}", "", "```text", task_sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def readme(root: Path) -> str:
    """README.md as the site's home page: docs/ links lose their prefix, files outside docs/ link to the source."""
    text = (root / "README.md").read_text()
    text = re.sub(r"\]\(docs/", "](", text)
    return re.sub(r"\]\((LICENSE|colab_setup\.sh|pyproject\.toml)\)", rf"]({SOURCE}\1)", text)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if README_MARKER in markdown:
        return markdown.replace(README_MARKER, readme(Path(config["docs_dir"]).parent))
    if MARKER not in markdown:
        return markdown
    import os

    os.environ.setdefault("COLUMNS", "110")  # argparse wraps its help to the terminal: the same width everywhere
    return markdown.replace(MARKER, reference())
