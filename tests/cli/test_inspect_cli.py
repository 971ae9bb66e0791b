"""``takeback inspect`` and ``takeback hash --inspect`` end to end, as a person runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.analysis.fixtures import A1111_TEXT, novelai_stealth_png, png_with_text, watermarked_png
from tests.conftest import encode, synthetic_photo

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TAKEBACK_DATA_DIR": str(Path(tempfile.gettempdir()) / "tb-cli-test"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [*TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from takeback.analysis.provenance.watermark import PAYLOADS

    root = tmp_path_factory.mktemp("inspect")
    (root / "a1111.png").write_bytes(png_with_text({"parameters": A1111_TEXT}))
    (root / "novelai.png").write_bytes(novelai_stealth_png())
    (root / "sdxl.png").write_bytes(watermarked_png(PAYLOADS[2].bits))
    (root / "plain.jpg").write_bytes(encode(synthetic_photo(300, 200), "JPEG"))
    (root / "notes.txt").write_text("not an image")
    return root


def test_jsonl_records(folder: Path) -> None:
    r = run("inspect", str(folder), "--format", "jsonl")
    assert r.returncode == 1, r.stderr  # notes.txt could not be inspected
    recs = {Path(x["name"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert set(recs) == {"a1111.png", "novelai.png", "sdxl.png", "plain.jpg", "notes.txt"}
    assert recs["a1111.png"]["strongest_tier"] == 2 and recs["a1111.png"]["sensitive"] is True
    (a1111,) = [f for f in recs["a1111.png"]["findings"] if f["kind"] == "generator.a1111"]
    assert a1111["evidence"][0]["value"] == A1111_TEXT and a1111["sensitive"]  # verbatim, marked sensitive
    assert any(f["kind"] == "generator.novelai_stealth" for f in recs["novelai.png"]["findings"])
    (mark,) = [f for f in recs["sdxl.png"]["findings"] if f["kind"] == "watermark.dwtdct"]
    assert mark["details"]["payload"] == "SDXL"
    assert recs["plain.jpg"]["headline"] == "no provenance found"
    assert recs["notes.txt"]["error"]["code"] == "unsupported_type"
    assert "4 of 5 files inspected; 1 could not be." in r.stderr


def test_table_hides_prompts_unless_asked(folder: Path) -> None:
    r = run("inspect", str(folder / "a1111.png"), "--format", "table")
    assert r.returncode == 0, r.stderr
    assert "AI involvement indicated, tier 2" in r.stdout and "generator.a1111" in r.stdout
    assert "Jane" not in r.stdout and "--show-sensitive" in r.stdout
    assert "fragility:" in r.stdout and "evidence: png:tEXt 'parameters' at byte 33" in r.stdout
    shown = run("inspect", str(folder / "a1111.png"), "--format", "table", "--show-sensitive")
    assert "photo of Jane Example" in shown.stdout


def test_no_watermarks_flag_and_nudity(folder: Path) -> None:
    r = run("inspect", str(folder / "sdxl.png"), "--no-watermarks", "--nudity", "-f", "jsonl")
    rec = json.loads(r.stdout)
    assert "watermark" not in rec["checks"] and not [
        f for f in rec["findings"] if f["kind"].startswith("watermark")
    ]
    assert rec["nudity"]["model"] == "nudenet 320n" and rec["nudity"]["explicit"] is False


def test_usage_errors() -> None:
    assert run("inspect").returncode == 2
    r = run("inspect", "x.png", "--format", "csv")
    assert r.returncode == 2 and "csv" in r.stderr


def test_hash_gains_inspect_only_with_the_flag(folder: Path) -> None:
    plain = json.loads(run("hash", str(folder / "a1111.png"), "-f", "jsonl").stdout)
    assert "inspect" not in plain
    rec = json.loads(run("hash", str(folder / "a1111.png"), "-f", "jsonl", "--inspect").stdout)
    assert list(rec)[-2:] == ["inspect", "error"] and rec["error"] is None
    assert rec["sha256"] == plain["sha256"]
    assert rec["inspect"]["findings"][0]["kind"] == "generator.a1111"
