"""Bank test helpers: random hashes, hashes at an exact Hamming distance, entries, a CLI runner."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import typer
from click.testing import CliRunner, Result

from takeback.banks.service import NewContent
from takeback.signals import SignalValue


def rand_bytes(rng: np.random.Generator, n: int = 32) -> bytes:
    return rng.integers(0, 256, n, dtype=np.uint8).tobytes()


def flip(value: bytes, bits: int, rng: np.random.Generator) -> bytes:
    """``value`` with exactly ``bits`` distinct bits flipped."""
    arr = np.unpackbits(np.frombuffer(value, dtype=np.uint8))
    idx = rng.choice(arr.size, size=bits, replace=False)
    arr[idx] ^= 1
    return np.packbits(arr).tobytes()


def pdq_entry(value: bytes, *, quality: int | None = 90, note: str | None = None, **kw: object) -> NewContent:
    return NewContent(signals=(SignalValue("pdq", value, quality),), note=note, **kw)  # type: ignore[arg-type]


# --- running the CLI --------------------------------------------------------------------------------

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


@functools.cache
def _command() -> click.Command:
    """The click command tree, built once (Typer rebuilds it on every ``CliRunner.invoke``)."""
    from takeback.cli.main import full_app

    return typer.main.get_command(full_app())


@dataclass
class Cli:
    """Runs ``takeback`` against one database and data dir: in-process (fast) or as a real process."""

    env: dict[str, str]
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(_command(), list(args), input=input, env=self.env, catch_exceptions=False)

    def process(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TAKEBACK, *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*TAKEBACK, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **self.env},
        )


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    from takeback.config import get_settings

    env = {"TAKEBACK_DATABASE_URL": db_url, "TAKEBACK_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield Cli(env)
    get_settings.cache_clear()


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
