"""The portal's domain services on SQLite and PostgreSQL: open, sign in, lockout, withdraw, receipts,
the evidence log, sealed files and form tokens."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.banks import service as banks
from takeback.banks.hits import record_hits
from takeback.cases import service as cases
from takeback.cases.models import Purpose
from takeback.clock import utcnow
from takeback.evidence.receipts import verify_receipt
from takeback.evidence.signing import Signer
from takeback.portal import service as ps
from takeback.store import AuditEvent, Database

BANK = "PORTAL"


def _file(seed: int, *, pdq: bool = True) -> ps.SubmittedFile:
    data = f"file-{seed}".encode()
    return ps.SubmittedFile(
        kind="photo" if pdq else "video",
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        pdq=hashlib.sha256(b"pdq" + data).hexdigest() if pdq else None,
        pdq_quality=90 if pdq else None,
    )


def _open(db: Database, files: list[ps.SubmittedFile], *, block: bool = True) -> ps.Opened:
    return db.run(
        lambda s: ps.submit(s, files=files, block=block, contact=False, jurisdiction="HK", bank_name=BANK)
    )


def _bank_sha(s: Session) -> set[str]:
    return {
        bytes(v).hex()
        for v in s.scalars(
            select(banks.ContentSignal.value).where(banks.ContentSignal.signal_type == "sha256")
        )
    }


def test_submit_banks_hashes_and_pin_is_only_a_hash(db: Database) -> None:
    files = [_file(1), _file(2, pdq=False)]
    opened = _open(db, files)
    assert opened.reference.startswith("TB-") and len(opened.pin) == ps.PIN_DIGITS
    assert opened.submitted == 2 and opened.banked == 2

    def check(s: Session) -> None:
        assert _bank_sha(s) == {f.sha256 for f in files}
        access = s.scalar(select(ps.PortalAccess))
        assert access is not None and opened.pin not in access.pin_hash
        assert access.pin_hash.startswith("$argon2id$")
        case = cases.get_case(s, reference=opened.reference)
        assert cases.active_consent(s, case=case, purpose=Purpose.HASHING) is not None
        assert cases.active_consent(s, case=case, purpose=Purpose.CONTACT) is None
        # nothing personal or secret in the audit trail
        for ev in s.scalars(select(AuditEvent)):
            assert opened.pin not in json.dumps(ev.details)

    db.run(check)


def test_without_block_consent_nothing_is_banked(db: Database) -> None:
    opened = _open(db, [_file(3)], block=False)
    assert opened.banked == 0
    db.run(lambda s: _bank_sha(s) == set() or pytest.fail("banked without consent"))


def test_sign_in_wrong_pin_and_unknown_case_read_the_same_then_lock(db: Database) -> None:
    opened = _open(db, [_file(4)])

    def attempt(ref: str, pin: str, client: str = "c1") -> str:
        def work(s: Session) -> str:
            try:
                ps.sign_in(s, reference=ref, pin=pin, client=client)
            except ps.SignInError as exc:
                return f"{exc.code}: {exc.message}"
            return "ok"

        return db.run(work)

    wrong = "00000000" if opened.pin != "00000000" else "11111111"
    unknown = attempt("TB-0000-0000", wrong)
    assert unknown == attempt(opened.reference, wrong)  # no enumeration
    assert unknown.startswith("sign_in_failed")
    # typed loosely: lower case, no dashes, spaces in the PIN
    loose = opened.reference.lower().replace("-", "")
    assert attempt(loose, " ".join(opened.pin)) == "ok"
    for _ in range(ps.SIGN_IN_TRIES):
        last = attempt(opened.reference, wrong)
    assert last.startswith("sign_in_locked")
    # locked: even the right PIN is refused, and an unknown number locks the same way
    assert attempt(opened.reference, opened.pin).startswith("sign_in_locked")
    for _ in range(ps.SIGN_IN_TRIES):
        last_unknown = attempt("TB-0000-0001", wrong)
    assert last_unknown == last


def test_sign_in_lock_lapses(db: Database) -> None:
    opened = _open(db, [_file(5)])
    now = utcnow()
    for _ in range(ps.SIGN_IN_TRIES):
        with pytest.raises(ps.SignInError):
            db.run(lambda s: ps.sign_in(s, reference=opened.reference, pin="x", client="c", now=now))
    later = now + ps.LOCKOUT + timedelta(seconds=1)
    case = db.run(
        lambda s: ps.sign_in(s, reference=opened.reference, pin=opened.pin, client="c", now=later).id
    )
    assert case


def test_withdraw_removes_entries_and_status_shows_hits(db: Database) -> None:
    files = [_file(6), _file(7)]
    opened = _open(db, files)

    def hit(s: Session) -> None:
        ids = [x.content_id for x in s.scalars(select(ps.PortalSubmission))]
        record_hits(s, [ids[0], ids[0]], day=date(2026, 11, 30))
        record_hits(s, [ids[0]], day=date(2026, 12, 1))

    db.run(hit)
    db.run(hit)  # upsert adds to the same rows

    def status(s: Session) -> ps.Status:
        case = cases.get_case(s, reference=opened.reference)
        return ps.status(s, case=case)

    st = db.run(status)
    assert st.total_hits == 6 and st.hit_days == [(date(2026, 11, 30), 4), (date(2026, 12, 1), 2)]
    assert [v.hits for v in st.submissions] == [6, 0]
    assert all(v.banked for v in st.submissions)

    def withdraw(s: Session) -> int:
        case = cases.get_case(s, reference=opened.reference)
        return ps.withdraw(s, case=case, bank_name=BANK)

    assert db.run(withdraw) == 2
    db.run(lambda s: _bank_sha(s) == set() or pytest.fail("entries left in the bank"))
    st = db.run(status)
    assert not any(v.banked for v in st.submissions) and not st.blocking
    assert st.total_hits == 6  # the history stays hers


def test_withdraw_leaves_an_entry_that_was_not_hers(db: Database) -> None:
    f = _file(8)
    first = _open(db, [f])
    second = _open(db, [f])  # the same image from another case: a duplicate of the first's entry
    assert second.banked == 1

    def withdraw(ref: str) -> None:
        def work(s: Session) -> None:
            ps.withdraw(s, case=cases.get_case(s, reference=ref), bank_name=BANK)

        db.run(work)

    withdraw(second.reference)
    assert db.run(_bank_sha) == {f.sha256}
    withdraw(first.reference)
    assert db.run(_bank_sha) == set()


def test_receipt_verifies_against_original_only(db: Database, tmp_path: Path) -> None:
    original = tmp_path / "photo.png"
    original.write_bytes(b"\x89PNG not really" + bytes(range(200)))
    changed = tmp_path / "changed.png"
    data = bytearray(original.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    content = original.read_bytes()
    f = ps.SubmittedFile(
        kind="photo", sha256=hashlib.sha256(content).hexdigest(), md5=hashlib.md5(content).hexdigest()
    )
    opened = _open(db, [f])
    signer = Signer.generate()

    def issue(s: Session) -> bytes:
        case = cases.get_case(s, reference=opened.reference)
        sub = s.scalar(select(ps.PortalSubmission))
        assert sub is not None
        return json.dumps(ps.receipt(s, case=case, signer=signer, submission_id=sub.id).to_json()).encode()

    rec = db.run(issue)
    good = verify_receipt(rec, original, trusted_key=signer.key_id)
    assert good.ok and good.receipt is not None and good.receipt.case == opened.reference
    assert not verify_receipt(rec, changed).ok
    forged = json.loads(rec)
    forged["received_at"] = "2020-01-01T00:00:00Z"
    assert "signature" in (verify_receipt(json.dumps(forged).encode(), original).failure or "")
    other = Signer.generate()
    assert not verify_receipt(rec, original, trusted_key=other.key_id).ok
    assert not verify_receipt(b"not json", original).ok


def test_parse_files_rejects_bad_items() -> None:
    good = {"kind": "photo", "sha256": "a" * 64, "md5": "b" * 32, "pdq": "c" * 64, "pdq_quality": 80}
    assert ps.parse_files([good], max_files=5)[0].pdq == "c" * 64
    for bad, code in [
        ([], "no_files"),
        ([good] * 6, "too_many_files"),
        ([{**good, "sha256": "zz"}], "invalid_signal"),
        ([{**good, "md5": "b" * 31}], "invalid_signal"),
        ([{**good, "pdq_quality": 101}], "invalid_quality"),
        ([{**good, "kind": "exe"}], "invalid_request"),
        (["x"], "invalid_request"),
    ]:
        with pytest.raises(ps.PortalError) as e:
            ps.parse_files(bad, max_files=5)
        assert e.value.code == code


def test_log_entries_and_sealed(db: Database) -> None:
    opened = _open(db, [_file(9)])
    params = {
        "alg": "AES-GCM",
        "kdf": "PBKDF2",
        "hash": "SHA-256",
        "iterations": 600_000,
        "salt": "00" * 16,
        "iv": "11" * 12,
    }

    def work(s: Session) -> None:
        case = cases.get_case(s, reference=opened.reference)
        ps.add_log_entry(
            s, case=case, entry=ps.LogInput(kind="sighting", url="https://x.example/p/1", platform="X")
        )
        with pytest.raises(ps.PortalError):
            ps.add_log_entry(s, case=case, entry=ps.LogInput(kind="sighting"))
        assert [e.platform for e in ps.log_entries(s, case=case)] == ["X"]
        row = ps.seal(s, case=case, ciphertext=b"c" * 100, params=params, max_bytes=1000, max_items=2)
        with pytest.raises(ps.PortalError) as weak:
            ps.seal(
                s,
                case=case,
                ciphertext=b"c" * 100,
                params={**params, "iterations": 1000},
                max_bytes=1000,
                max_items=2,
            )
        assert weak.value.code == "weak_kdf"
        assert ps.sealed_item(s, case=case, sealed_id=row.id).ciphertext == b"c" * 100

    db.run(work)


def test_form_token_once(db: Database) -> None:
    assert db.run(lambda s: ps.use_form_token(s, "n1"))
    assert not db.run(lambda s: ps.use_form_token(s, "n1"))
