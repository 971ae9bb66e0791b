"""The one custody mechanism: append-only, hash-chained, signed; in a database or a JSON Lines file."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from takeback.evidence.custody import (
    GENESIS,
    CustodyEntry,
    CustodyLog,
    FileCustodyStore,
    SqlCustodyStore,
    create_custody_table,
    read_jsonl,
    verify_entries,
)
from takeback.evidence.errors import CustodyError
from takeback.evidence.signing import Signer
from takeback.store import Database

SIGNER = Signer.generate()


def fill(log: CustodyLog, n: int = 4) -> list[CustodyEntry]:
    return [
        log.append(
            actor="examiner", action=f"step.{i}", subject=f"item:{i}", details={"i": i, "sha256": "ab" * 32}
        )
        for i in range(n)
    ]


def test_chain_links_and_verifies_in_the_database(db: Database) -> None:
    with db.session() as s:
        log = CustodyLog(SqlCustodyStore(s, "case:TB-1"), SIGNER)
        entries = fill(log)
        CustodyLog(SqlCustodyStore(s, "case:TB-2"), SIGNER).append(actor="x", action="other")
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in itertools.pairwise(entries))
    with db.session() as s:
        log = CustodyLog(SqlCustodyStore(s, "case:TB-1"), SIGNER)
        report = log.verify(trusted_keys=[SIGNER.public])
        assert (report.ok, report.count, report.head) == (True, 4, entries[-1].hash)
        assert [k.key_id for k in report.keys] == [SIGNER.key_id]
        assert [e.to_json() for e in log.entries()] == [e.to_json() for e in entries]


def test_database_refuses_updates_and_deletes(db: Database) -> None:
    with db.session() as s:
        fill(CustodyLog(SqlCustodyStore(s, "case:TB-1"), SIGNER), 2)
    for stmt in ("UPDATE custody_entry SET actor = 'mallory'", "DELETE FROM custody_entry"):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as s:
            s.execute(text(stmt))


def test_a_fork_at_the_same_sequence_is_refused(db: Database) -> None:
    with db.session() as s:
        fill(CustodyLog(SqlCustodyStore(s, "case:TB-1"), SIGNER), 1)
    with db.session() as s1, db.session() as s2:
        a = CustodyLog(SqlCustodyStore(s1, "case:TB-1"), SIGNER)
        b = CustodyLog(SqlCustodyStore(s2, "case:TB-1"), SIGNER)
        a.append(actor="a", action="x")
        s1.commit()
        # b read no head yet; force it to build on the same head as a did
        head = SqlCustodyStore(s2, "case:TB-1")
        first = next(iter(head.entries()))
        from takeback.evidence.custody import seal

        clash = seal(
            signer=SIGNER,
            log="case:TB-1",
            seq=2,
            prev=first.hash,
            actor="b",
            action="y",
            subject=None,
            details={},
        )
        with pytest.raises(CustodyError) as err:
            b.store.add(clash)
        assert err.value.code == "custody_conflict"


def test_a_standalone_sqlite_case_file_can_hold_a_log(tmp_path: Path) -> None:
    """Forensic triage keeps its log in the scan's own SQLite file."""
    eng = create_engine(f"sqlite:///{tmp_path / 'case.db'}")
    create_custody_table(eng)
    create_custody_table(eng)  # idempotent
    with Session(eng) as s:
        fill(CustodyLog(SqlCustodyStore(s, "scan:1"), SIGNER), 3)
        s.commit()
    with Session(eng) as s:
        assert CustodyLog(SqlCustodyStore(s, "scan:1"), SIGNER).verify().ok
    with pytest.raises(DBAPIError, match="append-only"), Session(eng) as s:
        s.execute(text("DELETE FROM custody_entry"))
    eng.dispose()


def lines_of(entries: list[CustodyEntry]) -> list[bytes]:
    return [e.to_line().encode() + b"\n" for e in entries]


def check(lines: list[bytes], **kw: object):  # type: ignore[no-untyped-def]
    return verify_entries(read_jsonl(lines), log="scan:1", **kw)  # type: ignore[arg-type]


@pytest.fixture
def file_log(tmp_path: Path) -> tuple[FileCustodyStore, list[CustodyEntry]]:
    store = FileCustodyStore(tmp_path / "custody.jsonl", "scan:1")
    return store, fill(CustodyLog(store, SIGNER), 5)


def test_file_log_round_trip(file_log: tuple[FileCustodyStore, list[CustodyEntry]]) -> None:
    store, entries = file_log
    assert store.path.stat().st_mode & 0o777 == 0o600
    raw = store.path.read_bytes().splitlines(keepends=True)
    assert check(raw, expected_head=entries[-1].hash, expected_count=5).ok


def test_every_kind_of_tampering_names_the_entry(
    file_log: tuple[FileCustodyStore, list[CustodyEntry]],
) -> None:
    _, entries = file_log
    good = lines_of(entries)

    # a field changed
    obj = json.loads(good[2])
    obj["actor"] = "mallory"
    changed = [*good[:2], (json.dumps(obj) + "\n").encode(), *good[3:]]
    r = check(changed)
    assert (r.ok, r.failure.seq, r.failure.code) == (False, 3, "custody_hash_mismatch")  # type: ignore[union-attr]

    # an entry removed from the middle
    r = check([*good[:1], *good[2:]])
    assert (r.failure.seq, r.failure.code) == (2, "custody_sequence")  # type: ignore[union-attr]

    # two entries swapped
    r = check([good[0], good[2], good[1], *good[3:]])
    assert (r.failure.seq, r.failure.code) == (2, "custody_sequence")  # type: ignore[union-attr]

    # the last entry dropped: only the recorded head or count can tell
    assert check(good[:-1]).ok
    r = check(good[:-1], expected_head=entries[-1].hash)
    assert r.failure.code == "custody_head_mismatch"  # type: ignore[union-attr]
    r = check(good[:-1], expected_count=5)
    assert r.failure.code == "custody_truncated"  # type: ignore[union-attr]

    # a line cut mid-way
    r = check([*good[:4], good[4][:40]])
    assert (r.failure.seq, r.failure.code) == (5, "custody_truncated")  # type: ignore[union-attr]

    # garbage
    r = check([*good[:1], b"{not json}\n"])
    assert (r.failure.seq, r.failure.code) == (2, "custody_malformed")  # type: ignore[union-attr]


def test_rechained_forgery_needs_the_key(file_log: tuple[FileCustodyStore, list[CustodyEntry]]) -> None:
    """Rewriting history and re-hashing the chain is caught by the signature; re-signing by key pinning."""
    from takeback.evidence.custody import seal

    _, entries = file_log
    mallory = Signer.generate()
    forged: list[CustodyEntry] = []
    prev = GENESIS
    for e in entries:
        f = seal(
            signer=mallory,
            log=e.log,
            seq=e.seq,
            prev=prev,
            actor="mallory",
            action=e.action,
            subject=e.subject,
            details=e.details,
        )
        forged.append(f)
        prev = f.hash
    # the forger's own key: valid signatures, but not the trusted key
    assert check(lines_of(forged)).ok
    r = check(lines_of(forged), trusted_keys=[SIGNER.public])
    assert (r.failure.seq, r.failure.code) == (1, "custody_untrusted_key")  # type: ignore[union-attr]
    # keeping the installation's key id but not its signature
    obj = json.loads(lines_of(forged)[0])
    obj["key"] = SIGNER.public.to_b64()
    body = {k: v for k, v in obj.items() if k not in ("hash", "sig")}
    import hashlib

    from takeback.evidence.custody import canonical_json

    obj["hash"] = hashlib.sha256(canonical_json(body)).hexdigest()
    r = check([(json.dumps(obj) + "\n").encode()])
    assert r.failure.code == "custody_bad_signature"  # type: ignore[union-attr]


def test_torn_file_refuses_appends_until_examined(
    file_log: tuple[FileCustodyStore, list[CustodyEntry]],
) -> None:
    store, _ = file_log
    with open(store.path, "ab") as fh:
        fh.write(b'{"v":1,"log":"scan:1","seq":6')
    with pytest.raises(CustodyError) as err:
        CustodyLog(store, SIGNER).append(actor="x", action="y")
    assert err.value.code == "custody_truncated"


def test_details_carry_json_values_only() -> None:
    log = CustodyLog(FileCustodyStore(Path("/nonexistent/never-written.jsonl"), "x"), SIGNER)
    for bad in ({"score": 0.5}, {"image": b"\xff\xd8"}, {"nested": {"f": 1.0}}):
        with pytest.raises(CustodyError) as err:
            log.append(actor="x", action="y", details=bad)
        assert err.value.code == "bad_detail"


def test_signing_key_is_created_private_and_reloaded(tmp_path: Path) -> None:
    a = Signer.load_or_create(tmp_path)
    path = tmp_path / "keys" / "installation-ed25519.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    path.chmod(0o644)
    b = Signer.load_or_create(tmp_path)
    assert a.public == b.public
    assert path.stat().st_mode & 0o777 == 0o600  # loosened permissions are tightened again
    path.write_text("not a key")
    with pytest.raises(Exception) as err:
        Signer.load_or_create(tmp_path)
    assert getattr(err.value, "code", None) == "signing_key_damaged"
