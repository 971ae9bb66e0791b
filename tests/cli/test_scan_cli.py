"""``takeback scan``, ``takeback case verify`` and ``takeback bank import --from-case`` as an
investigator runs them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.banks.helpers import Cli, cli, jsonl
from tests.conftest import encode, synthetic_photo
from tests.triage import scenes

__all__ = ["cli"]


@pytest.fixture
def seized(tmp_path: Path) -> Path:
    root = tmp_path / "seized"
    scenes.write_case(root, people=2, photos=1, size=(400, 300))
    full = encode(synthetic_photo(300, 200, seed=9), "JPEG")
    (root / "cut.jpg").write_bytes(full[: len(full) // 2])
    return root


def _group_id(case: Path, label: str) -> int:
    conn = sqlite3.connect(case / "case.db")
    try:
        return int(conn.execute("SELECT id FROM grp WHERE label = ?", (label,)).fetchone()[0])
    finally:
        conn.close()


def test_scan_verify_and_block_a_group(cli: Cli, seized: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    r = cli("scan", str(seized), "--case", str(case), "-j", "1", "--examiner", "officer-3", "--no-nudity")
    assert r.exit_code == 1, r.stdout + r.stderr  # one damaged file: exit 1, listed in the report
    assert "Scan completed" in r.stdout and "9 items" in r.stdout and "1 with errors" in r.stdout
    for name in (
        "report.html",
        "report.pdf",
        "items.csv",
        "items.jsonl",
        "hashes.md5",
        "hashes.sha256",
        "vics.json",
    ):
        assert (case / name).is_file() and name in r.stdout

    r = cli("case", "verify", str(case))
    assert r.exit_code == 0 and "Verified" in r.stdout and "fingerprint" in r.stdout

    # Block what the scan flagged in person_00's folder (not her own photo), by fingerprint only.
    assert cli("bank", "create", "hk-case").exit_code == 0
    group = _group_id(case, "person_00")
    r = cli("bank", "import", "hk-case", "--from-case", str(case), "--group", str(group))
    assert r.exit_code == 0 and "Imported 3 of 3 fingerprints" in r.stdout, r.stdout + r.stderr
    r = cli("match", str(seized / "person_00" / "IMG_0000_undress.png"), "-f", "jsonl")
    assert jsonl(r.stdout)[0]["status"] == "match"
    r = cli("match", str(seized / "person_01" / "IMG_0100.jpg"), "-f", "jsonl")
    assert jsonl(r.stdout)[0]["status"] == "no_match"
    exported = cli("bank", "export", "hk-case").stdout
    assert "person_00" not in exported and ".png" not in exported and ".jpg" not in exported
    conn = sqlite3.connect(case / "case.db")
    imported = [
        json.loads(d)
        for (d,) in conn.execute("SELECT details FROM custody_entry WHERE action = 'bank.imported'")
    ]
    conn.close()
    assert imported == [
        {
            "bank": "hk-case",
            "group": group,
            "entries": 3,
            "added": 3,
            "duplicates": 0,
            "left_out": {"source_picture": 1},
            "pdq_left_out": 0,
        }
    ]
    assert cli("case", "verify", str(case)).exit_code == 0

    # Tampering is named.
    (case / "vics.json").write_text("{}", encoding="utf-8")
    r = cli("case", "verify", str(case))
    assert r.exit_code == 1 and "BROKEN at entry" in r.stdout and "vics.json" in r.stdout


def test_scan_matches_banks_and_reports_it(cli: Cli, seized: Path, tmp_path: Path) -> None:
    assert cli("bank", "create", "known").exit_code == 0
    assert cli("bank", "add", "known", str(seized / "person_01" / "IMG_0100.jpg")).exit_code == 0
    case = tmp_path / "case"
    r = cli("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity")
    # The banked photo (identical bytes) and the AI face swap made from it (PDQ within 31).
    assert "2 matched a bank" in r.stdout, r.stdout + r.stderr
    conn = sqlite3.connect(case / "case.db")
    matched = set(
        conn.execute("SELECT i.name, m.signal_type FROM bank_match m JOIN item i ON i.id = m.item_id")
    )
    conn.close()
    assert matched == {("IMG_0100.jpg", s) for s in ("md5", "sha256", "pdq")} | {("IMG_0100_swap.png", "pdq")}
    html = (case / "report.html").read_text(encoding="utf-8")
    assert "known #1" in html


def test_usage_errors(cli: Cli, seized: Path, tmp_path: Path) -> None:
    r = cli("scan", str(seized))
    assert r.exit_code == 2 and "--case" in r.stderr
    r = cli("scan", "--case", str(tmp_path / "new"))
    assert r.exit_code == 2 and "not a case folder yet" in r.stderr
    r = cli("case", "verify", str(tmp_path))
    assert r.exit_code == 2 and "not a scan case folder" in r.stderr
    case = tmp_path / "case"
    cli("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks")
    r = cli("scan", str(seized), "--case", str(case), "-j", "1", "--nudity", "--no-banks")
    assert r.exit_code == 2 and "other settings (nudity)" in r.stderr
    r = cli("scan", str(seized / "person_00"), "--case", str(case), "--no-banks")
    assert r.exit_code == 2 and "other sources" in r.stderr
    r = cli("bank", "import", "nosuchbank", "--from-case", str(case), "--group", "999")
    assert r.exit_code == 1 and "no group 999" in r.stderr


def test_resume_and_re_report_in_chinese(cli: Cli, seized: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    cli("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks")
    r = cli("scan", "--case", str(case), "--lang", "zh-Hant")
    assert "resumed and completed" in r.stdout, r.stdout + r.stderr
    assert "鑑識分流報告" in (case / "report.html").read_text(encoding="utf-8")


def test_progress_line_shows_files_bytes_rate_eta_errors() -> None:
    from rich.progress import Progress

    from takeback.cli.scan_cmd import _Stats
    from takeback.triage.pipeline import Progress as ScanProgress

    p = ScanProgress(
        phase="scanning",
        files_total=200,
        files_done=50,
        bytes_total=4_000_000,
        bytes_done=1_000_000,
        errors=3,
    )
    p.started -= 10
    bar = Progress(_Stats())
    task = bar.add_task("scanning", p=p)
    text = str(_Stats().render(bar.tasks[task]))
    assert "50/200 files" in text and "1.0 MB/4.0 MB" in text and "5.0 files/s" in text
    assert "ETA 0:00:30" in text and "3 errors" in text
