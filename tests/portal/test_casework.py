"""A portal case on the caseworker's side: shared only by her choice, closed again the moment she
withdraws it, linked by its number, and read as one evidence timeline with the locker's items."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from takeback.cases import service as cases
from takeback.cases.models import Purpose
from takeback.evidence import service as ev
from takeback.evidence.receipts import verify_receipt
from takeback.evidence.signing import Signer
from takeback.portal import casework as cw
from takeback.portal import service as ps
from takeback.store import AuditEvent, Database
from tests.conftest import encode, synthetic_photo

SIGNER = Signer.generate()
PARAMS = {
    "alg": "AES-GCM",
    "kdf": "PBKDF2",
    "hash": "SHA-256",
    "iterations": 600_000,
    "salt": "00" * 16,
    "iv": "11" * 12,
}


def _file(data: bytes) -> ps.SubmittedFile:
    return ps.SubmittedFile(
        kind="photo", sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest()
    )


def _open(db: Database, *, share: bool, data: bytes = b"one") -> str:
    return db.run(
        lambda s: (
            ps.submit(
                s,
                files=[_file(data)],
                block=False,
                contact=False,
                jurisdiction="HK",
                bank_name="P",
                share=share,
            ).reference
        )
    )


def test_only_a_case_she_shares_opens_to_staff_and_withdrawing_closes_it(db: Database) -> None:
    shared = _open(db, share=True)
    private = _open(db, share=False)
    with db.session() as s:
        intake = cases.create_case(s, actor="staff:ana", jurisdiction="HK")
        a, b = cases.get_case(s, reference=shared), cases.get_case(s, reference=private)
        assert cw.closed_to_staff(s) == {b.id}
        assert cw.closed_to_staff(s, [a.id, intake.id]) == set()
        assert (
            cw.open_to_staff(s, case=a)
            and not cw.open_to_staff(s, case=b)
            and cw.open_to_staff(s, case=intake)
        )
        assert ps.status(s, case=a).sharing and not ps.status(s, case=b).sharing
    # linking: her number typed any way works; an unshared and an unknown number read the same
    with db.session() as s:
        assert (
            cw.link_shared(s, reference=shared.lower().replace("-", " "), actor="staff:ana").reference
            == shared
        )
        errors = []
        for ref in (private, "TB-0000-0000"):
            with pytest.raises(ps.PortalError) as err:
                cw.link_shared(s, reference=ref, actor="staff:ana")
            errors.append((err.value.code, err.value.message))
        assert errors[0] == errors[1] and errors[0][0] == "not_shared"
    with db.session() as s:
        acts = [
            (e.action, e.object_id)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.actor == "staff:ana"))
        ]
        assert ("portal.link", shared) in acts and ("portal.link_refused", private) in acts
    # she stops sharing on the portal: closed at once; she shares again later: open again
    with db.session() as s:
        a = cases.get_case(s, reference=shared)
        cw.set_sharing(s, case=a, share=False)
        assert not cw.open_to_staff(s, case=a)
        with pytest.raises(ps.PortalError):
            cw.link_shared(s, reference=shared, actor="staff:ana")
        cw.set_sharing(s, case=a, share=True)
        assert cw.open_to_staff(s, case=a)
        purposes = [(c.purpose, c.withdrawn_at is None, c.recorded_by) for c in cases.consents(s, case=a)]
        assert purposes == [
            ("caseworker-sharing", False, "portal"),
            ("caseworker-sharing", True, f"portal:{shared}"),
        ]


def test_contact_detail_only_while_she_consents(db: Database) -> None:
    ref = db.run(
        lambda s: (
            ps.submit(
                s,
                files=[_file(b"c")],
                block=False,
                contact=True,
                contact_detail="Signal: +852 0000 0000",
                jurisdiction="HK",
                bank_name="P",
                share=True,
            ).reference
        )
    )
    with db.session() as s:
        c = cases.get_case(s, reference=ref)
        assert cw.contact_detail(s, case=c) == "Signal: +852 0000 0000"
        cases.withdraw_consent(s, case=c, purpose=Purpose.CONTACT, actor="portal")
        assert cw.contact_detail(s, case=c) is None


def test_one_timeline_from_the_locker_and_the_portal_with_receipts(db: Database, tmp_path: Path) -> None:
    photo = tmp_path / "shot.png"
    photo.write_bytes(encode(synthetic_photo(160, 120, seed=9), "PNG"))
    data = b"her photo bytes"
    original = tmp_path / "hers.jpg"
    original.write_bytes(data)
    ref = db.run(
        lambda s: (
            ps.submit(
                s,
                files=[_file(data)],
                block=True,
                contact=False,
                jurisdiction="HK",
                bank_name="P",
                share=True,
                now=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
            ).reference
        )
    )
    with db.session() as s:
        c = cases.get_case(s, reference=ref)
        ps.add_log_entry(
            s,
            case=c,
            entry=ps.LogInput(kind="sighting", happened_on=date(2026, 2, 27), url="https://f.example/x"),
            now=datetime(2026, 3, 2, tzinfo=UTC),
        )
        ps.seal(s, case=c, ciphertext=b"\x01" * 64, params=PARAMS, max_bytes=1 << 20, max_items=5)
        item = ev.add_file(
            s,
            case=c,
            path=photo,
            actor="staff:ana",
            signer=SIGNER,
            locker=None,
            capture_zone="Asia/Hong_Kong",
            now=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        )
        item_id = item.id
    with db.session() as s:
        c = cases.get_case(s, reference=ref)
        tl = cw.evidence_timeline(s, case=c)
        assert [(e.source, e.kind) for e in tl][:3] == [
            ("portal", "log"),
            ("portal", "submission"),
            ("locker", "item"),
        ]
        assert tl[-1].kind == "sealed" and tl[-1].params == PARAMS and tl[-1].stored
        assert tl[1].sha256 == hashlib.sha256(data).hexdigest() and tl[1].banked
        assert tl[2].custody_seq == 1 and tl[2].receipt_possible and not tl[0].receipt_possible
        sub = cw.receipt_for(s, case=c, signer=SIGNER, kind="submission", item_id=tl[1].id, actor="staff:ana")
        loc = cw.receipt_for(s, case=c, signer=SIGNER, kind="item", item_id=item_id, actor="staff:ana")
        sealed = cw.sealed_for_staff(s, case=c, sealed_id=tl[-1].id, actor="staff:ana")
        assert bytes(sealed.ciphertext) == b"\x01" * 64
        with pytest.raises(ps.PortalError):
            cw.receipt_for(s, case=c, signer=SIGNER, kind="submission", item_id=10_000, actor="staff:ana")
    check = verify_receipt(json.dumps(sub.to_json()).encode(), original)
    assert check.ok, check.failure
    assert verify_receipt(json.dumps(loc.to_json()).encode(), photo).ok
    with db.session() as s:
        acts = {e.action for e in ev.case_audit(s, case=cases.get_case(s, reference=ref))}
        assert {"receipt.issue", "portal.sealed.view", "portal.submit", "portal.log.add"} <= acts
