"""Staff accounts, sign-in with a second factor, sessions, and who may open which case.

Keyword-only functions over a session; callers commit (even when sign-in raises: the failure count
is the point). The CLI (``takeback users``, ``takeback review add``) and the console's admin page
call these same functions. ``key`` is the installation's ``staff-secret``
(``config.installation_secret``), which seals TOTP seeds.

Why sign-in answers the same for everything: a wrong handle, a wrong password, a wrong or reused
code and a deactivated account all get one message, after the same Argon2 work, so the page never
tells a guesser which handles exist or which half was right. The audit log records which it was.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from takeback.cases.models import Case
from takeback.clock import as_utc, utcnow
from takeback.errors import TakebackError
from takeback.staff import totp
from takeback.staff.models import Assignment, ScanFolder, StaffEnrolment, StaffRole, StaffSession, StaffUser
from takeback.store import record_audit
from takeback.store import throttle as throttles

SECRET_NAME = "staff-secret"  # noqa: S105 (a file name, not a secret)
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
PASSWORD_MIN, PASSWORD_MAX = 12, 256
SIGN_IN_TRIES = 5  # per handle as typed, then locked
CLIENT_TRIES = 30  # per client, then locked (many handles tried from one place)
WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
ENROLMENT_LIFETIME = timedelta(hours=72)
#: a session's last-seen time is written at most this often (idle expiry is this coarse)
TOUCH_EVERY = timedelta(seconds=30)

_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
_DUMMY_HASH = _HASHER.hash("not a password: the same work for an unknown handle")


class StaffError(TakebackError):
    code = "staff_error"


SIGN_IN_FAILED = "That handle, password or code is not right. Check them and try again."
SIGN_IN_LOCKED = (
    "Too many tries for this account. Wait 15 minutes and try again, or ask an administrator "
    "to check the account."
)


@dataclass(frozen=True)
class SignedIn:
    user: StaffUser
    token: str  # the cookie's value; only its digest is stored
    csrf: str


@dataclass(frozen=True)
class Enrolling:
    """What the enrolment page shows: whose link it is and the QR code's contents."""

    user: StaffUser
    uri: str  # otpauth:// for the QR code
    secret_text: str  # the same seed in base32, for an app that cannot scan
    needs_password: bool  # first enrolment: she chooses one; after reset-totp: she types hers


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else utcnow()


def _seal(key: bytes, secret: bytes, bound: str) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(key).encrypt(nonce, secret, bound.encode())


def _open(key: bytes, sealed: bytes, bound: str) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], bound.encode())
    except InvalidTag:
        raise StaffError(
            "This account's second factor cannot be read with this installation's key "
            "(keys/staff-secret was replaced?). Reset it: takeback users reset-totp HANDLE.",
            code="totp_unreadable",
        ) from None


def normalise_handle(handle: str) -> str:
    return handle.strip().lower()


def _audit(session: Session, actor: str, action: str, user: StaffUser, **details: object) -> None:
    record_audit(
        session, actor=actor, action=action, object_type="staff_user", object_id=user.handle, details=details
    )


# --- accounts --------------------------------------------------------------------------------------


def _new_enrolment(session: Session, *, user: StaffUser, key: bytes, now: datetime) -> str:
    """A fresh one-time enrolment link (token) for ``user``; earlier unused ones stop working."""
    session.execute(
        update(StaffEnrolment)
        .where(StaffEnrolment.user_id == user.id, StaffEnrolment.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    th = digest(token)
    session.add(
        StaffEnrolment(
            token_hash=th,
            user_id=user.id,
            totp_sealed=_seal(key, totp.new_secret(), f"enrol:{th}"),
            created_at=now,
            expires_at=now + ENROLMENT_LIFETIME,
        )
    )
    return token


def create_user(
    session: Session,
    *,
    handle: str,
    role: StaffRole | str,
    key: bytes,
    actor: str,
    now: datetime | None = None,
) -> tuple[StaffUser, str]:
    """A new account and its one-time enrolment token (she opens ``/console/enrol/<token>``)."""
    at = _now(now)
    name = normalise_handle(handle)
    if not HANDLE_RE.match(name):
        raise StaffError(
            f"{handle!r} cannot be a handle: use 2-32 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit. A handle is a login name; it need not be a real name.",
            code="bad_handle",
        )
    try:
        chosen = StaffRole(role)
    except ValueError:
        raise StaffError(
            f"{role!r} is not a role; use one of: {', '.join(r.value for r in StaffRole)}.", code="bad_role"
        ) from None
    if session.scalar(select(StaffUser.id).where(StaffUser.handle == name)) is not None:
        raise StaffError(f"The handle {name!r} is taken; choose another.", code="handle_taken")
    user = StaffUser(handle=name, role=chosen.value, active=True, created_at=at, created_by=actor)
    session.add(user)
    session.flush()
    token = _new_enrolment(session, user=user, key=key, now=at)
    _audit(session, actor, "staff.user_created", user, role=chosen.value)
    return user, token


def get_user(session: Session, *, handle: str) -> StaffUser:
    user = session.scalar(select(StaffUser).where(StaffUser.handle == normalise_handle(handle)))
    if user is None:
        raise StaffError(f"No staff account has the handle {handle!r}.", code="unknown_user")
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.handle)))


def _end_sessions(session: Session, user: StaffUser, now: datetime) -> None:
    session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def deactivate(session: Session, *, handle: str, actor: str, now: datetime | None = None) -> StaffUser:
    """Stop an account signing in (its sessions end now); it stays, as the audit log names it."""
    at = _now(now)
    user = get_user(session, handle=handle)
    if user.active:
        user.active, user.deactivated_at = False, at
        _end_sessions(session, user, at)
        session.execute(
            update(StaffEnrolment)
            .where(StaffEnrolment.user_id == user.id, StaffEnrolment.used_at.is_(None))
            .values(used_at=at)
        )
        _audit(session, actor, "staff.deactivated", user)
    return user


def reset_totp(
    session: Session, *, handle: str, key: bytes, actor: str, now: datetime | None = None
) -> tuple[StaffUser, str]:
    """Clear the second factor (a lost phone): sessions end, and a new enrolment link is made,
    on which she types her password and scans a new code."""
    at = _now(now)
    user = get_user(session, handle=handle)
    if not user.active:
        raise StaffError(f"{user.handle} is deactivated; nothing to reset.", code="user_inactive")
    user.totp_sealed, user.totp_step = None, None
    _end_sessions(session, user, at)
    token = _new_enrolment(session, user=user, key=key, now=at)
    _audit(session, actor, "staff.totp_reset", user)
    return user, token


# --- enrolment -------------------------------------------------------------------------------------

ENROLMENT_INVALID = (
    "This enrolment link is not valid: it was used, replaced or has expired. Ask an administrator "
    "for a new one."
)


def _enrolment(session: Session, token: str, now: datetime) -> tuple[StaffEnrolment, StaffUser]:
    row = session.get(StaffEnrolment, digest(token)) if isinstance(token, str) and len(token) < 100 else None
    user = session.get(StaffUser, row.user_id) if row is not None else None
    if (
        row is None
        or user is None
        or row.used_at is not None
        or as_utc(row.expires_at) <= now
        or not user.active
    ):
        raise StaffError(ENROLMENT_INVALID, code="enrolment_invalid")
    return row, user


def enrolment(session: Session, *, token: str, key: bytes, now: datetime | None = None) -> Enrolling:
    row, user = _enrolment(session, token, _now(now))
    secret = _open(key, row.totp_sealed, f"enrol:{row.token_hash}")
    return Enrolling(
        user=user,
        uri=totp.provisioning_uri(secret, account=user.handle),
        secret_text=totp.base32(secret),
        needs_password=user.password_hash is None,
    )


def check_password_choice(password: str, *, handle: str) -> None:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise StaffError(
            f"Choose a password of {PASSWORD_MIN} to {PASSWORD_MAX} characters; a few unrelated words "
            "work well.",
            code="weak_password",
        )
    if handle in password.lower():
        raise StaffError("The password must not contain your handle.", code="weak_password")


def complete_enrolment(
    session: Session, *, token: str, password: str, code: str, key: bytes, now: datetime | None = None
) -> StaffUser:
    """Confirm the QR code's seed with one code from her app; set (first time) or check her password."""
    at = _now(now)
    row, user = _enrolment(session, token, at)
    if user.password_hash is None:
        check_password_choice(password, handle=user.handle)
    else:
        try:
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise StaffError("That is not this account's password.", code="sign_in_failed") from None
    secret = _open(key, row.totp_sealed, f"enrol:{row.token_hash}")
    step = totp.verify(secret, code, now=at.timestamp())
    if step is None:
        raise StaffError(
            "That code does not match. Scan the QR code again and type the 6 digits your app shows now "
            "(check the phone's clock is right).",
            code="bad_code",
        )
    if user.password_hash is None:
        user.password_hash = _HASHER.hash(password)
    user.totp_sealed = _seal(key, secret, f"totp:{user.id}")
    user.totp_step = step
    row.used_at = at
    _audit(session, f"staff:{user.handle}", "staff.enrolled", user)
    return user


# --- signing in ------------------------------------------------------------------------------------


def sign_in(
    session: Session,
    *,
    handle: str,
    password: str,
    code: str,
    client: str,
    key: bytes,
    session_hours: int,
    now: datetime | None = None,
) -> SignedIn:
    """A new session for handle + password + a fresh TOTP code, or ``StaffError`` (one message)."""
    at = _now(now)
    name = normalise_handle(handle)[:64] if isinstance(handle, str) else ""
    handle_key, client_key = f"staff-signin:{name}", f"staff-signin-client:{client}"
    user = session.scalar(select(StaffUser).where(StaffUser.handle == name)) if name else None
    if throttles.locked_until(session, handle_key, at) or throttles.locked_until(session, client_key, at):
        _HASHER.verify(_DUMMY_HASH, "not a password: the same work for an unknown handle")
        if user is not None:
            _audit(session, "anonymous", "staff.sign_in_refused", user, reason="locked")
        raise StaffError(SIGN_IN_LOCKED, code="sign_in_locked")
    reason = ""
    try:
        _HASHER.verify(
            user.password_hash if user is not None and user.password_hash else _DUMMY_HASH, password
        )
    except (VerificationError, InvalidHashError, TypeError):
        reason = "password"
    step: int | None = None
    if not reason:
        assert user is not None
        if not user.active:
            reason = "inactive"
        elif user.totp_sealed is None:
            reason = "not_enrolled"
        else:
            secret = _open(key, user.totp_sealed, f"totp:{user.id}")
            step = totp.verify(secret, code if isinstance(code, str) else "", now=at.timestamp())
            if step is None:
                reason = "code"
            elif user.totp_step is not None and step <= user.totp_step:
                reason, step = "code_reused", None
    if reason or user is None or step is None:
        locked = throttles.fail(session, handle_key, limit=SIGN_IN_TRIES, window=WINDOW, lock=LOCKOUT, now=at)
        locked |= throttles.fail(session, client_key, limit=CLIENT_TRIES, window=WINDOW, lock=LOCKOUT, now=at)
        if user is not None:  # a handle nobody has is never written down (it may be a mistyped password)
            _audit(session, "anonymous", "staff.sign_in_failed", user, reason=reason or "code")
        raise StaffError(
            SIGN_IN_LOCKED if locked else SIGN_IN_FAILED,
            code="sign_in_locked" if locked else "sign_in_failed",
        )
    throttles.clear(session, handle_key)
    user.totp_step = step
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        StaffSession(
            token_hash=digest(token),
            user_id=user.id,
            csrf=csrf,
            created_at=at,
            last_seen_at=at,
            expires_at=at + timedelta(hours=session_hours),
        )
    )
    _audit(session, f"staff:{user.handle}", "staff.sign_in", user)
    return SignedIn(user=user, token=token, csrf=csrf)


def session_for(
    session: Session, *, token: str | None, idle_minutes: int, now: datetime | None = None
) -> tuple[StaffUser, StaffSession] | None:
    """The live session a cookie names, touched; None when missing, ended, idle too long, past its
    absolute end, or its account deactivated. An idle or expired session is ended for good."""
    if not token or len(token) > 100:
        return None
    at = _now(now)
    row = session.get(StaffSession, digest(token))
    if row is None or row.ended_at is not None:
        return None
    user = session.get(StaffUser, row.user_id)
    if (
        user is None
        or not user.active
        or as_utc(row.expires_at) <= at
        or as_utc(row.last_seen_at) + timedelta(minutes=idle_minutes) <= at
    ):
        row.ended_at = at
        return None
    if at - as_utc(row.last_seen_at) >= TOUCH_EVERY:
        row.last_seen_at = at
    return user, row


def sign_out(session: Session, *, token: str | None, now: datetime | None = None) -> None:
    found = session_for(session, token=token, idle_minutes=24 * 60 * 365, now=now)
    if found is not None:
        user, row = found
        row.ended_at = _now(now)
        _audit(session, f"staff:{user.handle}", "staff.sign_out", user)


# --- access ----------------------------------------------------------------------------------------


def _live_assignment(
    session: Session, user_id: int, *, case_id: int | None = None, scan_id: int | None = None
) -> Assignment | None:
    q = select(Assignment).where(Assignment.user_id == user_id, Assignment.removed_at.is_(None))
    q = (
        q.where(Assignment.case_id == case_id)
        if case_id is not None
        else q.where(Assignment.scan_id == scan_id)
    )
    return session.scalar(q.limit(1))


def can_open_case(session: Session, *, staff_id: int, role: StaffRole, case_id: int) -> bool:
    """Supervisors open every victim case; caseworkers only the cases assigned to them."""
    if role == StaffRole.SUPERVISOR:
        return True
    if role == StaffRole.CASEWORKER:
        return _live_assignment(session, staff_id, case_id=case_id) is not None
    return False


def can_open_scan(session: Session, *, staff_id: int, role: StaffRole, scan_id: int) -> bool:
    """Supervisors open every registered scan folder; investigators only those assigned to them."""
    if role == StaffRole.SUPERVISOR:
        return True
    if role == StaffRole.INVESTIGATOR:
        return _live_assignment(session, staff_id, scan_id=scan_id) is not None
    return False


def assigned_case_ids(session: Session, *, staff_id: int) -> set[int]:
    q = select(Assignment.case_id).where(
        Assignment.user_id == staff_id, Assignment.removed_at.is_(None), Assignment.case_id.is_not(None)
    )
    return {int(c) for c in session.scalars(q) if c is not None}


def assigned_scan_ids(session: Session, *, staff_id: int) -> set[int]:
    q = select(Assignment.scan_id).where(
        Assignment.user_id == staff_id, Assignment.removed_at.is_(None), Assignment.scan_id.is_not(None)
    )
    return {int(c) for c in session.scalars(q) if c is not None}


def assign(
    session: Session,
    *,
    handle: str,
    actor: str,
    case_reference: str | None = None,
    scan_id: int | None = None,
    now: datetime | None = None,
    closed: Callable[[Session, Case], bool] | None = None,
) -> Assignment:
    """Give ``handle`` access to one victim case (caseworkers) or one scan folder (investigators).

    ``closed`` says a case is not open to staff at all (a portal case she does not share: the
    surfaces pass ``portal.casework``'s answer, which staff cannot import); such a case is answered
    as unknown, so its number cannot be probed."""
    at = _now(now)
    user = get_user(session, handle=handle)
    if not user.active:
        raise StaffError(
            f"{user.handle} is deactivated; cases cannot be assigned to it.", code="user_inactive"
        )
    if (case_reference is None) == (scan_id is None):
        raise StaffError("Assign either a case or a scan folder.", code="bad_assignment")
    case_id: int | None = None
    if case_reference is not None:
        if user.role not in (StaffRole.CASEWORKER, StaffRole.SUPERVISOR):
            raise StaffError(
                f"{user.handle} is a {user.role}; victim cases go to caseworkers.", code="bad_assignment"
            )
        case = session.scalar(
            select(Case).where(Case.reference == case_reference.strip().upper(), Case.deleted_at.is_(None))
        )
        if case is None or (closed is not None and closed(session, case)):
            raise StaffError(f"No open case has the number {case_reference!r}.", code="unknown_case")
        case_id = case.id
    else:
        if user.role not in (StaffRole.INVESTIGATOR, StaffRole.SUPERVISOR):
            raise StaffError(
                f"{user.handle} is a {user.role}; scan folders go to investigators.", code="bad_assignment"
            )
        if session.get(ScanFolder, scan_id) is None:
            raise StaffError(f"No scan folder is registered as {scan_id}.", code="unknown_scan")
    existing = _live_assignment(session, user.id, case_id=case_id, scan_id=scan_id)
    if existing is not None:
        return existing
    row = Assignment(user_id=user.id, case_id=case_id, scan_id=scan_id, assigned_at=at, assigned_by=actor)
    session.add(row)
    _audit(
        session,
        actor,
        "staff.assigned",
        user,
        case=case_reference and case_reference.strip().upper(),
        scan=scan_id,
    )
    return row


def unassign(
    session: Session,
    *,
    handle: str,
    actor: str,
    case_reference: str | None = None,
    scan_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    at = _now(now)
    user = get_user(session, handle=handle)
    case_id: int | None = None
    if case_reference is not None:
        case_id = session.scalar(select(Case.id).where(Case.reference == case_reference.strip().upper()))
        if case_id is None:
            return False
    row = _live_assignment(session, user.id, case_id=case_id, scan_id=scan_id)
    if row is None:
        return False
    row.removed_at = at
    _audit(session, actor, "staff.unassigned", user, case=case_reference, scan=scan_id)
    return True


# --- scan folders ----------------------------------------------------------------------------------


def register_scan(
    session: Session, *, folder: Path, label: str, actor: str, now: datetime | None = None
) -> ScanFolder:
    """Register a scan case folder for the review grid (its absolute path; it is opened in place)."""
    path = str(folder.absolute())
    if not label.strip() or len(label) > 200:
        raise StaffError("Give the scan folder a label of 1-200 characters.", code="bad_label")
    existing = session.scalar(select(ScanFolder).where(ScanFolder.path == path))
    if existing is not None:
        return existing
    row = ScanFolder(path=path, label=label.strip(), registered_at=_now(now), registered_by=actor)
    session.add(row)
    session.flush()
    record_audit(session, actor=actor, action="scan.registered", object_type="scan_folder", object_id=row.id)
    return row


def list_scans(session: Session, *, ids: set[int] | None = None) -> list[ScanFolder]:
    q = select(ScanFolder).order_by(ScanFolder.registered_at.desc(), ScanFolder.id.desc())
    if ids is not None:
        q = q.where(ScanFolder.id.in_(ids or {-1}))
    return list(session.scalars(q))


def get_scan(session: Session, *, scan_id: int) -> ScanFolder | None:
    return session.get(ScanFolder, scan_id)


@dataclass(frozen=True)
class AssignmentRow:
    handle: str
    case_reference: str | None
    scan_id: int | None
    scan_label: str | None
    assigned_at: datetime


def list_assignments(session: Session) -> list[AssignmentRow]:
    """Every live assignment, for the supervisor's page (one query)."""
    q = (
        select(StaffUser.handle, Case.reference, ScanFolder.id, ScanFolder.label, Assignment.assigned_at)
        .join(StaffUser, StaffUser.id == Assignment.user_id)
        .outerjoin(Case, Case.id == Assignment.case_id)
        .outerjoin(ScanFolder, ScanFolder.id == Assignment.scan_id)
        .where(Assignment.removed_at.is_(None))
        .order_by(StaffUser.handle, Assignment.assigned_at)
    )
    return [
        AssignmentRow(handle=h, case_reference=ref, scan_id=sid, scan_label=lbl, assigned_at=at)
        for h, ref, sid, lbl, at in session.execute(q)
    ]
