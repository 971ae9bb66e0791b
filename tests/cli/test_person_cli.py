"""``takeback person`` end to end through the CLI: enrol (refused without a consent reference,
refusing a photo without a face by its file name), list (no template), withdraw.

Photos are ORL faces (courtesy of Olivetti Research Laboratory), written as PNGs to a temporary
folder only for the command to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import synthetic_photo
from tests.faces.orl import need_models, orl, png

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    need_models()
    e = {k: v for k, v in os.environ.items() if not k.startswith("TAKEBACK_")}
    e.update(TAKEBACK_DATA_DIR=str(tmp_path / "data"), TAKEBACK_ACTOR="caseworker-ana")
    return e


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    r = subprocess.run([*TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=300, check=False)
    return r.returncode, r.stdout + r.stderr


def test_enrol_list_withdraw(env: dict[str, str], tmp_path: Path) -> None:
    code, text = _run(env, "case", "new", "--jurisdiction", "HK", "--consent", "face-enrolment")
    assert code == 0, text
    ref = text.split("Case ", 1)[1].split(" ", 1)[0]
    good = tmp_path / "alice-selfie.png"
    good.write_bytes(png(orl(3, 1)))
    blank = tmp_path / "blank.png"
    blank.write_bytes(png(synthetic_photo(320, 240, seed=2)))

    code, text = _run(env, "person", "enrol", "--case", ref, str(good))
    assert code != 0 and "consent reference" in text
    code, text = _run(env, "person", "enrol", "--case", ref, "--consent-ref", "F-1", str(good), str(blank))
    assert code != 0 and "Photo 2: no face found" in text and "blank.png" in text

    code, text = _run(
        env, "person", "enrol", "--case", ref, "--consent-ref", "F-1", "--expires", "2099-01-01", str(good)
    )
    assert code == 0, text
    pseudonym = next(w for w in text.split() if w.startswith("FP-"))
    code, text = _run(env, "person", "list", "--format", "jsonl")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert [r["person"] for r in rows] == [pseudonym] and rows[0]["templates"] == 1
    assert "alice" not in text and "embedding" not in text and rows[0]["consent_ref"] == "F-1"

    code, text = _run(env, "person", "withdraw", pseudonym)
    assert code == 0 and "1 template(s) deleted" in text
    code, text = _run(env, "person", "list", "--format", "jsonl")
    assert text.strip() == ""
