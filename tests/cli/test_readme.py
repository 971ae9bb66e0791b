"""The README's CLI table is what a new user copies from: it must render (one table, no blank line
inside it) and every row must agree with the real ``--help`` (each option it names exists, and
every required option of the command is shown)."""

from __future__ import annotations

import re
from typing import Any

import typer

from tests.conftest import ROOT

README = ROOT / "README.md"


def _table() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The CLI at a glance", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    last = max(i for i, line in enumerate(lines) if line.startswith("|"))
    return lines[first : last + 1]


def _root() -> Any:
    """The command tree (Typer's click objects; groups have ``commands``)."""
    from takeback.cli.main import full_app

    return typer.main.get_command(full_app())


def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def _spans(row: str) -> list[str]:
    cell = re.split(r"(?<!\\)\|", row)[1]
    return [s.replace("\\|", "|") for s in re.findall(r"`([^`]+)`", cell)]


def _resolve(root: Any, words: list[str]) -> list[tuple[Any, int]]:
    """The command(s) a span names (``takeback bank add ...``, or ``bank list`` after the first
    span of a row; ``bank disable/enable`` names two), with how many words the name took."""
    if words and words[0] == "takeback":
        words = words[1:]
    node = root
    used = 0
    for w in words:
        if not _is_group(node):
            break
        names = w.split("/")
        if not all(n in node.commands for n in names):
            break
        if len(names) > 1:
            return [(node.commands[n], used + 1) for n in names]
        node = node.commands[w]
        used += 1
    return [(node, used)]


def test_the_cli_table_is_one_table() -> None:
    rows = _table()
    assert all(line.startswith("|") for line in rows), "a blank or stray line splits the table on GitHub"
    assert rows[1].startswith("|---")


def test_every_row_matches_the_real_help() -> None:
    root = _root()
    problems: list[str] = []
    for row in (line for line in _table()[2:] if line.startswith("|")):
        for span in _spans(row):
            words = span.split()
            if not words or (words[0] != "takeback" and words[0] not in root.commands):
                continue
            for cmd, used in _resolve(root, words):
                if _is_group(cmd) or used == 0:
                    problems.append(f"{span!r}: names no command")
                    continue
                known = {o for p in cmd.params for o in [*p.opts, *getattr(p, "secondary_opts", [])]}
                for opt in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", span):
                    if opt not in known:
                        problems.append(f"{span!r}: {cmd.name} has no {opt}")
                for p in cmd.params:
                    if p.param_type_name == "option" and p.required and not set(p.opts) & set(words):
                        problems.append(f"{span!r}: required {p.opts[0]} not shown")
    assert not problems, "\n".join(problems)
