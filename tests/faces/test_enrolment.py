"""Enrolment with consent on SQLite and PostgreSQL: refused without a consent reference or the
case's consent, photos with no face or several faces refused with the reason, templates sealed
and unreadable under another key, withdrawal, expiry and consent withdrawal deleting the rows.

Photos are ORL faces (courtesy of Olivetti Research Laboratory; see tests/faces/orl.py), made into
PNGs in memory; none is written anywhere.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from takeback.cases import service as cases
from takeback.cases.models import Case, Purpose
from takeback.faces import service as faces
from takeback.faces.models import FacePerson, FaceTemplate
from takeback.media import Limits
from takeback.signals.face import faces_in_pixels, similarity
from takeback.store import AuditEvent, Database
from tests.conftest import synthetic_photo
from tests.faces.orl import need_models, orl, png, upscaled

SECRET = secrets.token_bytes(32)
LIMITS = Limits()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _models() -> None:
    need_models()


def _case(db: Database, *, consent: bool = True) -> str:
    with db.session() as s:
        c = cases.create_case(
            s, actor="caseworker", jurisdiction="HK", consents=(Purpose.FACE_ENROLMENT,) if consent else ()
        )
        return c.reference


def _enrol(db: Database, ref: str, photos: list[bytes], **kw: object) -> faces.Enrolled:
    with db.session() as s:
        case = cases.get_case(s, reference=ref)
        args: dict[str, object] = {"consent_ref": "FORM-2026-017", "secret": SECRET, "actor": "caseworker"}
        args.update(kw)
        done = faces.enrol(s, case=case, photos=photos, limits=LIMITS, **args)  # type: ignore[arg-type]
        s.flush()
        return done


def _counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return (
            int(s.scalar(select(func.count()).select_from(FacePerson)) or 0),
            int(s.scalar(select(func.count()).select_from(FaceTemplate)) or 0),
        )


def test_enrolment_keeps_sealed_templates_only_under_a_pseudonym(db: Database) -> None:
    ref = _case(db)
    photos = [png(orl(3, i)) for i in (1, 2, 3)]
    done = _enrol(db, ref, photos, scope_cases=[], platform_matching=True, expires=date(2027, 1, 31))
    pseudonym = done.person.pseudonym
    assert pseudonym.startswith("FP-") and len(pseudonym) == 11
    with db.session() as s:
        person = faces.get_person(s, pseudonym=pseudonym)
        rows = s.scalars(select(FaceTemplate).where(FaceTemplate.person_id == person.id)).all()
        assert len(rows) == 3
        opened = faces.templates(s, person=person, secret=SECRET)
        assert person.consent_ref == "FORM-2026-017" and person.platform_matching
        assert person.expires_at is not None
    for row, raw, f in zip(rows, opened, done.faces, strict=True):
        assert raw == f.embedding and raw not in row.sealed  # ciphertext, not the vector
    # a new photo of the same person compares higher than a stranger, through compare()
    probe = faces_in_pixels(orl(3, 4)).faces[0].embedding
    stranger = faces_in_pixels(orl(10, 1)).faces[0].embedding
    assert faces.best_similarity(opened, probe) > faces.best_similarity(opened, stranger)
    assert faces.compare(opened[0], probe) == pytest.approx(similarity(opened[0], probe))


def test_without_a_consent_reference_nothing_is_enrolled(db: Database) -> None:
    ref = _case(db)
    for missing in (None, "", "   "):
        with pytest.raises(faces.FaceError) as err:
            _enrol(db, ref, [png(orl(3, 1))], consent_ref=missing)
        assert err.value.code == "consent_ref_required"
    assert _counts(db) == (0, 0)


def test_without_the_cases_face_enrolment_consent_nothing_is_enrolled(db: Database) -> None:
    ref = _case(db, consent=False)
    with pytest.raises(cases.CaseError) as err:
        _enrol(db, ref, [png(orl(3, 1))])
    assert err.value.code == "consent_required"
    assert _counts(db) == (0, 0)


def test_a_photo_without_a_face_refuses_the_whole_enrolment_saying_which(db: Database) -> None:
    ref = _case(db)
    with pytest.raises(faces.FaceError) as err:
        _enrol(db, ref, [png(orl(3, 1)), png(synthetic_photo(320, 240, seed=1))])
    assert err.value.code == "photo_refused"
    assert "Photo 2: no face found" in err.value.message and "photo 1" not in err.value.message.lower()
    assert _counts(db) == (0, 0)


def test_a_photo_with_several_faces_lists_the_boxes_and_face_n_chooses(db: Database) -> None:
    ref = _case(db)
    pair = np.concatenate([upscaled(3, 1), upscaled(10, 1)], axis=1)
    with pytest.raises(faces.FaceError) as err:
        _enrol(db, ref, [png(pair)])
    msg = err.value.message
    assert "2 faces" in msg and "face 1:" in msg and "face 2:" in msg and "--face N" in msg
    with pytest.raises(faces.FaceError) as err:
        _enrol(db, ref, [png(pair)], face=3)
    assert "no face 3" in err.value.message
    done = _enrol(db, ref, [png(pair)], face=1)
    chosen = done.faces[0]
    own = faces_in_pixels(orl(3, 2)).faces[0].embedding
    other = faces_in_pixels(orl(10, 2)).faces[0].embedding
    assert similarity(chosen.embedding, own) > similarity(chosen.embedding, other) or chosen.box[0] >= 320


def test_a_template_read_with_another_key_is_an_error_and_nothing_is_decrypted(db: Database) -> None:
    ref = _case(db)
    pseudonym = _enrol(db, ref, [png(orl(4, 1))]).person.pseudonym
    with db.session() as s:
        person = faces.get_person(s, pseudonym=pseudonym)
        with pytest.raises(faces.FaceError) as err:
            faces.templates(s, person=person, secret=secrets.token_bytes(32))
    assert err.value.code == "template_unreadable" and pseudonym in err.value.message
    assert len(err.value.message) < 400  # words, no bytes


def test_withdrawal_deletes_the_rows_at_once_and_is_audited_without_templates(db: Database) -> None:
    ref = _case(db)
    done = _enrol(db, ref, [png(orl(5, 1)), png(orl(5, 2))])
    emb = done.faces[0].embedding
    with db.session() as s:
        assert (
            faces.withdraw(s, pseudonym=done.person.pseudonym.lower(), actor="caseworker", reason="asked")
            == 2
        )
    assert _counts(db) == (0, 0)
    with db.session() as s:
        with pytest.raises(faces.FaceError) as err:
            faces.get_person(s, pseudonym=done.person.pseudonym)
        assert err.value.code == "person_not_found"
        events = s.scalars(select(AuditEvent).where(AuditEvent.object_type == "face_person")).all()
        assert [e.action for e in events] == ["face.enrol", "face.withdraw"]
        assert events[1].details == {"case": ref, "templates": 2, "reason": "asked"}
        text = json.dumps([e.details for e in events])
    for needle in (emb.hex()[:32], emb[:24].hex()):
        assert needle not in text
    assert "template" not in text.replace('"templates"', "")


def test_expired_enrolments_are_deleted_when_listed(db: Database) -> None:
    ref = _case(db)
    _enrol(db, ref, [png(orl(6, 1))], expires=date(2026, 3, 10), now=T0)
    _enrol(db, ref, [png(orl(7, 1))], now=T0)
    with db.session() as s:
        assert len(faces.list_persons(s, actor="caseworker", now=T0)) == 2
    with db.session() as s:
        left = faces.list_persons(s, actor="caseworker", now=T0 + timedelta(days=30))
        assert len(left) == 1 and left[0].expires_at is None and left[0].templates == 1
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.action == "face.expire")) == "face.expire"
    assert _counts(db) == (1, 1)
    with pytest.raises(faces.FaceError) as err:
        _enrol(db, ref, [png(orl(6, 1))], expires=date(2026, 3, 1), now=T0)
    assert err.value.code == "expired_consent"


def test_withdrawing_the_cases_consent_deletes_everyone_enrolled_under_it(db: Database) -> None:
    ref = _case(db)
    other = _case(db)
    _enrol(db, ref, [png(orl(8, 1))])
    _enrol(db, ref, [png(orl(9, 1))], scope_cases=[other])
    kept = _enrol(db, other, [png(orl(11, 1))]).person.pseudonym
    with db.session() as s:
        listed = faces.list_persons(s, case=cases.get_case(s, reference=ref), actor="caseworker")
        assert [p.scope_cases for p in listed] == [(), (other,)]
        assert faces.withdraw_consent(s, case=cases.get_case(s, reference=ref), actor="caseworker") == 2
    with db.session() as s:
        assert [p.pseudonym for p in faces.list_persons(s, actor="caseworker")] == [kept]
        assert (
            cases.active_consent(s, case=cases.get_case(s, reference=ref), purpose=Purpose.FACE_ENROLMENT)
            is None
        )


def test_a_scope_naming_an_unknown_case_is_refused(db: Database) -> None:
    ref = _case(db)
    with pytest.raises(cases.CaseError):
        _enrol(db, ref, [png(orl(8, 1))], scope_cases=["TB-NONE-NONE"])
    assert _counts(db) == (0, 0)


def test_deleting_the_case_deletes_its_enrolments(db: Database) -> None:
    from takeback.evidence import service as ev
    from takeback.evidence.signing import Signer

    ref = _case(db)
    _enrol(db, ref, [png(orl(12, 1))])
    with db.session() as s:
        case = s.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        ev.delete_case(s, case=case, actor="caseworker", signer=Signer.generate(), remove_blob=None)
    assert _counts(db) == (0, 0)
