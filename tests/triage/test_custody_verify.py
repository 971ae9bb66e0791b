"""Chain of custody through the project's one custody module, and ``verify`` naming the first
broken entry for every kind of tampering."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from takeback.evidence.custody import read_jsonl, verify_entries
from takeback.evidence.signing import Signer
from takeback.triage.service import verify_case_dir
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import ScanFn, custody_actions, rows


@pytest.fixture
def case(tmp_path: Path, scan: ScanFn) -> Path:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    for i in range(6):
        (src / "a" / f"{i}.jpg").write_bytes(encode(synthetic_photo(160, 120, seed=i), "JPEG"))
    (src / "a" / "dup.jpg").write_bytes((src / "a" / "0.jpg").read_bytes())
    folder = tmp_path / "case"
    scan(folder, [src], examiner="officer-7")
    return folder


def _sql(case: Path, *statements: str) -> None:
    conn = sqlite3.connect(case / "case.db")
    try:
        for s in statements:
            conn.execute(s)
        conn.commit()
    finally:
        conn.close()


def test_the_log_records_what_a_court_asks(case: Path, signer: Signer) -> None:
    actions = custody_actions(case)
    assert actions[:3] == ["case.created", "source.registered", "scan.started"]
    for a in (
        "source.enumerated",
        "items.sealed",
        "grouping.completed",
        "scan.completed",
        "report.written",
        "export.written",
    ):
        assert a in actions
    entries = rows(case, "SELECT * FROM custody_entry ORDER BY seq")
    created = json.loads(entries[0]["details"])
    env = created["environment"]
    assert (
        env["tool"] == "takeback"
        and env["host"]
        and env["version"]
        and created["settings"]["nudity"] is False
    )
    assert {e["actor"] for e in entries} == {"officer-7"}
    assert {e["key"] for e in entries} == {signer.public.to_b64()}
    # custody.jsonl is the same log and verifies on its own, with the installation key.
    with open(case / "custody.jsonl", "rb") as fh:
        parsed = list(read_jsonl(fh))
    report = verify_entries(parsed, trusted_keys=[signer.public])
    assert report.ok and report.count >= 10


def test_verify_passes_on_an_untouched_case(case: Path, signer: Signer) -> None:
    v = verify_case_dir(case, sources=True, trusted_keys=[signer.public])
    assert v.ok, v.problems
    assert v.items == 7 and v.checked_files >= 7 + 8  # items re-hashed + report and exports


def test_verify_names_an_altered_item(case: Path) -> None:
    _sql(case, "UPDATE item SET sha256 = 'ab' || substr(sha256, 3) WHERE id = 3")
    v = verify_case_dir(case)
    assert not v.ok and v.first is not None
    sealed = rows(case, "SELECT sealed_seq FROM item WHERE id = 3")[0]["sealed_seq"]
    assert v.first.seq == sealed and v.first.code == "item_altered" and "Item 3" in v.first.message


def test_verify_names_a_deleted_item(case: Path) -> None:
    _sql(case, "DELETE FROM grp_member WHERE item_id = 5", "DELETE FROM item WHERE id = 5")
    v = verify_case_dir(case)
    codes = {p.code for p in v.problems}
    assert "sealed_batch_mismatch" in codes and "items_digest_mismatch" in codes


def test_verify_names_a_changed_export(case: Path) -> None:
    csv = case / "items.csv"
    csv.write_text(csv.read_text().replace("officer", "someone"), encoding="utf-8")
    (case / "hashes.md5").write_bytes(
        (case / "hashes.md5").read_bytes() + b"00000000000000000000000000000000  x\n"
    )
    v = verify_case_dir(case)
    entries = {
        json.loads(r["details"])["file"]: r["seq"]
        for r in rows(case, "SELECT * FROM custody_entry WHERE action = 'export.written'")
    }
    assert v.first is not None and v.first.code == "file_altered" and v.first.seq == entries["hashes.md5"]


def test_verify_names_a_rewritten_custody_entry(case: Path) -> None:
    # The database refuses edits to custody entries ...
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        _sql(case, "UPDATE custody_entry SET actor = 'someone-else' WHERE seq = 4")
    # ... so a forger drops the guard first; the chain still gives them away.
    _sql(
        case,
        "DROP TRIGGER custody_entry_no_update",
        "UPDATE custody_entry SET actor = 'someone-else' WHERE seq = 4",
    )
    v = verify_case_dir(case)
    assert v.first is not None and v.first.seq == 4 and v.first.code == "custody_hash_mismatch"


def test_verify_names_a_removed_custody_entry(case: Path) -> None:
    _sql(case, "DROP TRIGGER custody_entry_no_delete", "DELETE FROM custody_entry WHERE seq = 6")
    v = verify_case_dir(case)
    assert v.first is not None and v.first.seq == 6 and v.first.code == "custody_sequence"


def test_verify_names_altered_groups(case: Path) -> None:
    _sql(case, "UPDATE grp SET label = 'someone else' WHERE kind = 'folder'")
    v = verify_case_dir(case)
    assert v.first is not None and v.first.code == "groups_altered"


def test_verify_refuses_a_foreign_key(case: Path) -> None:
    v = verify_case_dir(case, trusted_keys=[Signer.generate().public])
    assert v.first is not None and v.first.seq == 1 and v.first.code == "custody_untrusted_key"


def test_verify_rehashes_sources_when_asked(case: Path, tmp_path: Path) -> None:
    (tmp_path / "src" / "a" / "2.jpg").write_bytes(b"changed after the scan")
    assert verify_case_dir(case).ok  # the case itself is intact
    v = verify_case_dir(case, sources=True)
    assert v.first is not None and v.first.code == "source_file_changed" and "2.jpg" in v.first.message


def test_reveal_is_logged(tmp_path: Path, scan: ScanFn, case: Path) -> None:
    scan(case, None, reveal=True, examiner="officer-9")
    entries = rows(case, "SELECT * FROM custody_entry WHERE action = 'report.revealed'")
    assert len(entries) == 1 and entries[0]["actor"] == "officer-9"
    written = [
        json.loads(r["details"])
        for r in rows(case, "SELECT details FROM custody_entry WHERE action = 'report.written'")
    ]
    assert written[-1]["reveal"] is True and written[0]["reveal"] is False


def test_content_that_changed_since_the_scan_is_a_custody_event(
    case: Path, tmp_path: Path, scan: ScanFn
) -> None:
    target = tmp_path / "src" / "a" / "1.jpg"
    target.write_bytes(encode(synthetic_photo(160, 120, seed=99), "JPEG"))  # replaced after the scan
    scan(case, None)  # the report reads pictures again for thumbnails
    events = rows(case, "SELECT subject, details FROM custody_entry WHERE action = 'item.hash_mismatch'")
    item_id = rows(case, "SELECT id FROM item WHERE path = ?", str(target))[0]["id"]
    assert [e["subject"] for e in events] == [f"item:{item_id}"]
    details = json.loads(events[0]["details"])
    assert details["read_sha256"] != details["recorded_sha256"]
    assert verify_case_dir(case).ok  # the case's own records are intact
