"""Text from the outside world cannot drive the terminal: control characters, bidi overrides and
invisible format characters are escaped on every table and message (cli/output.py: shown)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from takeback.cli.output import shown, terminal_text
from tests.conftest import encode, synthetic_photo

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]
EVIL = "a\x1b[31mRED\r\nerror: forged\u202egnp.exe\u2066\x85\x7f\u200b[bold]"
SHOWN = "a\\x1b[31mRED\\r\\nerror: forged\\u202egnp.exe\\u2066\\x85\\x7f\\u200b[bold]"


def test_terminal_text_escapes_controls_bidi_and_format_characters() -> None:
    assert terminal_text(EVIL) == SHOWN
    assert terminal_text("café 中文 👩\u200d💻 (1).jpg") == "café 中文 👩\u200d💻 (1).jpg"  # kept
    assert terminal_text(terminal_text(EVIL)) == SHOWN  # idempotent
    assert terminal_text("l1\nl2\x1b", keep_newlines=True) == "l1\nl2\\x1b"
    assert shown("[red]x") == "\\[red]x"  # no markup either


def _clean(text: str) -> None:
    for bad in ("\x1b", "\u202e", "\u2066", "\x85", "\x7f", "\u200b", "\r", "\nerror: forged"):
        assert bad not in text, (bad, text)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("TAKEBACK_")}
    e.update(TAKEBACK_DATA_DIR=str(tmp_path / "data"), TAKEBACK_ACTOR="caseworker", COLUMNS="300")
    return e


def tb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([*TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_hostile_names_in_evidence_and_case_tables(env: dict[str, str], tmp_path: Path) -> None:
    r = tb(env, "case", "new", "-j", "HK", "--consent", "hashing")
    ref = r.stdout.split("Case ", 1)[1].split(" ", 1)[0]
    shot = tmp_path / f"{EVIL}.jpg"
    shot.write_bytes(encode(synthetic_photo(64, 64, seed=1), "JPEG"))
    r = tb(
        env, "evidence", "add", "--case", ref, str(shot), "--hash-only", "--platform", EVIL, "--note", EVIL
    )
    assert r.returncode == 0, r.stderr
    for args in (
        ("evidence", "list", "--case", ref),
        ("evidence", "timeline", "--case", ref),
        ("case", "show", "--case", ref),
    ):
        r = tb(env, *args)
        assert r.returncode == 0, r.stderr
        _clean(r.stdout + r.stderr)
    listed = tb(env, "evidence", "list", "--case", ref).stdout
    assert SHOWN in listed  # the name is there, escaped


def test_hostile_names_in_bank_output_and_error_messages(env: dict[str, str], tmp_path: Path) -> None:
    assert tb(env, "bank", "create", "b", "--description", EVIL).returncode == 0
    r = tb(env, "bank", "show", "b", "--format", "table")
    _clean(r.stdout)
    assert SHOWN in r.stdout
    img = tmp_path / f"{EVIL}.png"
    img.write_bytes(encode(synthetic_photo(64, 64, seed=2), "PNG"))
    r = tb(env, "bank", "add", "b", str(img), "--format", "table")
    _clean(r.stdout + r.stderr)
    r = tb(env, "bank", "show", EVIL)  # an error message that echoes the name
    assert r.returncode != 0 and r.stderr.count("\n") == 1
    _clean(r.stderr)
