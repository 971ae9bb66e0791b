"""Enrolment with consent, listing, withdrawal, and the one comparison of a face with a template.

Keyword-only functions over a session; callers commit. ``secret`` is the installation's
``keys/faces-secret`` (``config.installation_secret(data_dir, SECRET_NAME)``); the template key is
derived from it with HKDF, so the same file could seal other things under other keys.

The rules, in the order they are checked: the case exists and has the person's face-enrolment
consent recorded (``takeback case consent --grant face-enrolment``); a consent reference is given
(the number of the form she signed: without one, nothing is enrolled); every photo shows exactly
one usable face (or ``face`` says which); only then are templates sealed and stored, all or none.
Photos are read from memory and forgotten; nothing of them but the templates and the faces' size,
score and warnings is kept. Templates never appear in audit details, logs or error messages.

Thresholds: :func:`compare` returns a cosine similarity; what counts as a match is decided by a
threshold that calibration (``benchmarks/bench_faces.py``, ``docs/FACES.md``: swap-like
composites on ORL) will set. Until then :data:`UNCALIBRATED_THRESHOLD` is OpenCV's published 0.363
and no caller may present a match against it as a finding.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from takeback.cases import service as cases
from takeback.cases.models import Case, Purpose
from takeback.clock import as_utc, end_of_day, utcnow
from takeback.errors import TakebackError
from takeback.faces.models import FacePerson, FaceTemplate
from takeback.media import Limits, MediaError
from takeback.signals.face import (
    OPENCV_COSINE_THRESHOLD,
    Face,
    FaceOptions,
    FaceResult,
    FaceWarning,
    embedding_bytes,
    embedding_vector,
    faces_in_image,
    similarity,
)
from takeback.signals.facemodel import FaceModel, get_face_model
from takeback.store import record_audit

SECRET_NAME = "faces-secret"  # noqa: S105 (a file name, not a secret)
_HKDF_INFO = b"takeback face templates v1"
_PSEUDONYM_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
#: the comparison threshold until calibration sets one (OpenCV's published SFace cosine)
UNCALIBRATED_THRESHOLD = OPENCV_COSINE_THRESHOLD
MAX_PHOTOS = 20


class FaceError(TakebackError):
    code = "face_error"


@dataclass(frozen=True)
class Enrolled:
    """What enrolment tells the person doing it: the pseudonym and each photo's face facts."""

    person: FacePerson
    faces: tuple[Face, ...]


@dataclass(frozen=True)
class PersonView:
    """One enrolled person as ``person list`` shows her: never a template."""

    pseudonym: str
    case: str
    consent_ref: str
    scope_cases: tuple[str, ...]
    platform_matching: bool
    expires_at: datetime | None
    templates: int
    model: str
    created_at: datetime


def template_key(secret: bytes) -> bytes:
    """The AES-256-GCM key for templates, derived from the installation's faces secret."""
    if len(secret) != 32:
        raise FaceError("The installation's faces secret must be 32 bytes.", code="bad_secret")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)


def _bound(person: FacePerson) -> bytes:
    return f"face-template:{person.pseudonym}:{person.model}".encode()


def seal_template(secret: bytes, person: FacePerson, embedding: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(template_key(secret)).encrypt(nonce, embedding, _bound(person))


def open_template(secret: bytes, person: FacePerson, sealed: bytes) -> bytes:
    """A template's embedding bytes; a wrong key (or a template moved to another person) is an
    error and nothing is decrypted."""
    try:
        return AESGCM(template_key(secret)).decrypt(sealed[:12], sealed[12:], _bound(person))
    except InvalidTag:
        raise FaceError(
            f"The face templates of {person.pseudonym} cannot be opened with this installation's key "
            "(keys/faces-secret was replaced, or the database came from another installation). "
            "Nothing was decrypted; enrol the person again with her consent.",
            code="template_unreadable",
        ) from None


def compare(template: bytes | np.ndarray, embedding: bytes | np.ndarray) -> float:
    """Cosine similarity of an enrolled template and a face's embedding (-1..1; the same person
    scores high, unrelated faces near 0). The threshold comes from calibration, not from here."""
    return similarity(template, embedding)


def best_similarity(templates: Sequence[bytes | np.ndarray], embedding: bytes | np.ndarray) -> float:
    """The highest similarity of a face to any of a person's templates (several photos help)."""
    if not templates:
        raise FaceError("No templates to compare with.", code="no_templates")
    return max(compare(t, embedding) for t in templates)


def new_pseudonym() -> str:
    return "FP-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(8))


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else utcnow()


def _box_text(face: Face) -> str:
    x, y, w, h = face.box
    return f"{w}x{h} at ({x}, {y})"


def _chosen_face(index: int, result: FaceResult, choice: int | None) -> Face | str:
    """The face to enrol from photo ``index`` (1-based), or why the photo is refused."""
    faces = result.faces
    if not faces:
        return (
            f"photo {index}: no face found (tried {result.attempts} orientations and framings); "
            "use a photo where her face is clear and not cut off"
        )
    if len(faces) > 1 and choice is None:
        boxes = "; ".join(f"face {i}: {_box_text(f)}" for i, f in enumerate(faces, 1))
        return f"photo {index}: {len(faces)} faces ({boxes}); say which is hers with --face N"
    if choice is not None and not 1 <= choice <= len(faces):
        return f"photo {index}: there is no face {choice} (it has {len(faces)})"
    face = faces[(choice or 1) - 1]
    if FaceWarning.TINY in face.warnings:
        return (
            f"photo {index}: the face is only {face.size} px across ({_box_text(face)}); "
            "use a photo where her face is larger"
        )
    return face


def _scope(session: Session, case: Case, refs: Sequence[str]) -> str:
    wanted: list[str] = []
    for ref in refs:
        other = cases.get_case(session, reference=ref)
        if other.id != case.id and other.reference not in wanted:
            wanted.append(other.reference)
    return " ".join(wanted)


def enrol(
    session: Session,
    *,
    case: Case,
    consent_ref: str | None,
    photos: Sequence[bytes],
    secret: bytes,
    actor: str,
    limits: Limits,
    scope_cases: Sequence[str] = (),
    platform_matching: bool = False,
    expires: date | None = None,
    face: int | None = None,
    model: FaceModel | None = None,
    now: datetime | None = None,
) -> Enrolled:
    """Enrol one person from several photos of her (templates only, sealed); all or nothing."""
    ref = (consent_ref or "").strip()
    if not ref:
        raise FaceError(
            "Enrolment needs her consent reference (--consent-ref: the number of the consent form "
            "she signed). Nothing was enrolled.",
            code="consent_ref_required",
        )
    if len(ref) > 200:
        raise FaceError("A consent reference is at most 200 characters.", code="consent_ref_too_long")
    cases.require_consent(session, case=case, purpose=Purpose.FACE_ENROLMENT)
    if not photos:
        raise FaceError("Give at least one photo of her face.", code="no_photos")
    if len(photos) > MAX_PHOTOS:
        raise FaceError(f"At most {MAX_PHOTOS} photos per enrolment.", code="too_many_photos")
    at = _now(now)
    expires_at = None
    if expires is not None:
        expires_at = end_of_day(expires, case.timezone)
        if expires_at <= at:
            raise FaceError("The consent's expiry date has already passed.", code="expired_consent")
    scope = _scope(session, case, scope_cases)
    fm = model or get_face_model()
    chosen: list[Face] = []
    refused: list[str] = []
    for i, data in enumerate(photos, 1):
        try:
            result = faces_in_image(data, limits=limits, model=fm, options=FaceOptions())
        except MediaError as exc:
            refused.append(f"photo {i}: {exc.message}")
            continue
        pick = _chosen_face(i, result, face)
        if isinstance(pick, str):
            refused.append(pick)
        else:
            chosen.append(pick)
    if refused:
        raise FaceError(
            "Nothing was enrolled. " + ". ".join(r[0].upper() + r[1:] for r in refused) + ".",
            code="photo_refused",
        )
    person = FacePerson(
        pseudonym=new_pseudonym(),
        case_id=case.id,
        consent_ref=ref,
        scope_cases=scope,
        platform_matching=platform_matching,
        expires_at=expires_at,
        model=fm.name,
        created_at=at,
        created_by=actor,
    )
    session.add(person)
    session.flush()
    for f in chosen:
        session.add(
            FaceTemplate(
                person_id=person.id,
                sealed=seal_template(secret, person, embedding_bytes(embedding_vector(f.embedding))),
                score=round(f.score, 4),
                size=f.size,
                warnings=",".join(w.value for w in f.warnings),
                created_at=at,
            )
        )
    record_audit_person(
        session,
        actor=actor,
        action="face.enrol",
        person=person,
        case=case,
        templates=len(chosen),
        consent_ref=ref,
        scope_cases=scope.split(),
        platform_matching=platform_matching,
        expires_at=None if expires_at is None else expires_at.isoformat(),
    )
    return Enrolled(person=person, faces=tuple(chosen))


def record_audit_person(
    session: Session, *, actor: str, action: str, person: FacePerson, case: Case, **details: object
) -> None:
    """The audit row of a change to an enrolment: identifiers and counts only, never a template."""
    record_audit(
        session,
        actor=actor,
        action=action,
        object_type="face_person",
        object_id=person.pseudonym,
        details={"case": case.reference, **details},
    )


def _template_count(session: Session, person: FacePerson) -> int:
    return int(session.scalar(select(func.count()).where(FaceTemplate.person_id == person.id)) or 0)


def _delete(session: Session, person: FacePerson) -> int:
    """Delete a person's templates and her row at once (not flagged); returns the templates removed."""
    n = _template_count(session, person)
    session.execute(delete(FaceTemplate).where(FaceTemplate.person_id == person.id))
    session.execute(delete(FacePerson).where(FacePerson.id == person.id))
    session.expunge(person)
    return n


def purge_expired(session: Session, *, actor: str, now: datetime | None = None) -> int:
    """Delete every enrolment whose consent has expired (audited as ``face.expire``)."""
    at = _now(now)
    gone = 0
    expired = session.scalars(
        select(FacePerson).where(FacePerson.expires_at.is_not(None), FacePerson.expires_at <= at)
    ).all()
    for person in expired:
        case = session.get(Case, person.case_id)
        n = _delete(session, person)
        if case is not None:
            record_audit_person(
                session, actor=actor, action="face.expire", person=person, case=case, templates=n
            )
        gone += 1
    return gone


def get_person(session: Session, *, pseudonym: str) -> FacePerson:
    key = pseudonym.strip().upper()
    person = session.scalar(select(FacePerson).where(FacePerson.pseudonym == key))
    if person is None:
        raise FaceError(
            f"No enrolled person {pseudonym!r} (withdrawn, expired or never enrolled). "
            "`takeback person list` shows who is enrolled.",
            code="person_not_found",
        )
    return person


def list_persons(
    session: Session, *, case: Case | None = None, actor: str, now: datetime | None = None
) -> list[PersonView]:
    """Enrolled people (of one case, or all), after deleting expired enrolments."""
    purge_expired(session, actor=actor, now=now)
    q = select(FacePerson, Case.reference).join(Case, Case.id == FacePerson.case_id).order_by(FacePerson.id)
    if case is not None:
        q = q.where(FacePerson.case_id == case.id)
    counts: dict[int, int] = {
        pid: int(n)
        for pid, n in session.execute(
            select(FaceTemplate.person_id, func.count()).group_by(FaceTemplate.person_id)
        )
    }
    return [
        PersonView(
            pseudonym=p.pseudonym,
            case=ref,
            consent_ref=p.consent_ref,
            scope_cases=tuple(p.scope_cases.split()),
            platform_matching=p.platform_matching,
            expires_at=None if p.expires_at is None else as_utc(p.expires_at),
            templates=int(counts.get(p.id, 0)),
            model=p.model,
            created_at=as_utc(p.created_at),
        )
        for p, ref in session.execute(q)
    ]


def withdraw(session: Session, *, pseudonym: str, actor: str, reason: str | None = None) -> int:
    """Withdraw one person's enrolment: her templates and row are deleted now; returns how many
    templates went. Logged (``face.withdraw``) with the case and the count."""
    person = get_person(session, pseudonym=pseudonym)
    case = session.get(Case, person.case_id)
    n = _delete(session, person)
    if case is not None:
        details: dict[str, object] = {"templates": n}
        if reason:
            details["reason"] = reason.strip()[:200]
        record_audit_person(session, actor=actor, action="face.withdraw", person=person, case=case, **details)
    return n


def withdraw_case(session: Session, *, case: Case, actor: str) -> int:
    """Withdraw everyone enrolled in ``case`` (her consent withdrawn, the case deleted)."""
    people = session.scalars(select(FacePerson).where(FacePerson.case_id == case.id)).all()
    for person in people:
        n = _delete(session, person)
        record_audit_person(
            session, actor=actor, action="face.withdraw", person=person, case=case, templates=n
        )
    return len(people)


def templates(session: Session, *, person: FacePerson, secret: bytes) -> list[bytes]:
    """A person's templates, opened (for comparison in memory only; never stored or shown)."""
    rows = session.scalars(
        select(FaceTemplate.sealed).where(FaceTemplate.person_id == person.id).order_by(FaceTemplate.id)
    ).all()
    return [open_template(secret, person, sealed) for sealed in rows]


def withdraw_consent(session: Session, *, case: Case, actor: str) -> int:
    """Her face-enrolment consent withdrawn on the case: the consent row is closed and everyone
    enrolled under it is deleted in the same transaction (the CLI and the console call this, not
    ``cases.withdraw_consent``, for this purpose). Returns the people withdrawn."""
    cases.withdraw_consent(session, case=case, purpose=Purpose.FACE_ENROLMENT, actor=actor)
    return withdraw_case(session, case=case, actor=actor)
