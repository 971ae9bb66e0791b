"""Staff accounts on SQLite and PostgreSQL: enrolment, sign-in with a second factor, lockout,
replayed codes, idle and absolute session expiry, deactivation, reset-totp, per-case access."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from takeback.cases import service as cases
from takeback.clock import advance, frozen, utcnow
from takeback.staff import service as staff
from takeback.staff import totp
from takeback.staff.models import StaffRole, StaffSession
from takeback.store import AuditEvent, Database

KEY = secrets.token_bytes(32)
PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _code_now(db: Database, handle: str, *, token: str | None = None) -> str:
    """The code her app would show now (read from the enrolment seed, as the QR code carries it)."""
    with db.session() as s:
        if token is not None:
            _SEEDS[handle] = totp.from_base32(staff.enrolment(s, token=token, key=KEY).secret_text)
    return totp.code_at(_SEEDS[handle], totp.step_at(utcnow().timestamp()))


_SEEDS: dict[str, bytes] = {}


def _enrolled(db: Database, handle: str, role: StaffRole) -> None:
    with db.session() as s:
        _, token = staff.create_user(s, handle=handle, role=role, key=KEY, actor="admin")
    code = _code_now(db, handle, token=token)
    with db.session() as s:
        staff.complete_enrolment(s, token=token, password=PASSWORD, code=code, key=KEY)


def _sign_in(
    db: Database, handle: str, *, code: str | None = None, password: str = PASSWORD
) -> staff.SignedIn:
    typed = code if code is not None else _code_now(db, handle)
    with db.session() as s:  # a refusal is committed too: the failure count is the point
        try:
            return staff.sign_in(
                s, handle=handle, password=password, code=typed, client="test", key=KEY, session_hours=12
            )
        except staff.StaffError as exc:
            refused = exc
    raise refused


def _failure(db: Database, handle: str, **kw: str) -> str:
    try:
        _sign_in(db, handle, **kw)
    except staff.StaffError as exc:
        return exc.code
    raise AssertionError("signed in")


def test_enrol_sign_in_and_replay(db: Database) -> None:
    with frozen(T0):
        _enrolled(db, "mei", StaffRole.CASEWORKER)
        advance(30)  # the enrolment code's step is spent; the next step's code works
        signed = _sign_in(db, "mei")
        with db.session() as s:
            found = staff.session_for(s, token=signed.token, idle_minutes=15)
            assert found is not None and found[0].handle == "mei" and found[1].csrf == signed.csrf
            stored = s.scalars(select(StaffSession.token_hash)).all()
            assert signed.token not in stored  # only the digest is kept
        # the same code again (a replay, or a shoulder-surfer) is refused, with the same message
        same = totp.code_at(_SEEDS["mei"], totp.step_at(utcnow().timestamp()))
        assert _failure(db, "mei", code=same) == "sign_in_failed"
        with db.session() as s:
            reasons = [
                e.details.get("reason")
                for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "staff.sign_in_failed"))
            ]
        assert reasons == ["code_reused"]


def test_one_answer_for_every_failure_and_lockout(db: Database) -> None:
    with frozen(T0):
        _enrolled(db, "mei", StaffRole.CASEWORKER)
        advance(60)
        with pytest.raises(staff.StaffError) as unknown:
            _sign_in(db, "mei-x", code="000000")
        with pytest.raises(staff.StaffError) as wrong_pw:
            _sign_in(db, "mei", password="wrong password here")
        with pytest.raises(staff.StaffError) as wrong_code:
            _sign_in(db, "mei", code="000000" if _code_now(db, "mei") != "000000" else "111111")
        assert unknown.value.message == wrong_pw.value.message == wrong_code.value.message
        for _ in range(2):
            _failure(db, "mei", password="wrong password here")
        assert _failure(db, "mei", password="wrong password here") == "sign_in_locked"
        assert _failure(db, "mei") == "sign_in_locked"  # the right password and code are refused too
        advance(16 * 60)
        assert _sign_in(db, "mei").user.handle == "mei"
        with db.session() as s:  # the unknown handle was never written down
            assert not s.scalars(select(AuditEvent).where(AuditEvent.object_id == "mei-x")).all()


def test_idle_and_absolute_expiry(db: Database) -> None:
    with frozen(T0):
        _enrolled(db, "mei", StaffRole.CASEWORKER)
        advance(30)
        token = _sign_in(db, "mei").token
        for _ in range(3):  # busy: each request within the idle limit keeps it alive
            advance(14 * 60)
            with db.session() as s:
                assert staff.session_for(s, token=token, idle_minutes=15) is not None
        advance(15 * 60 + 1)
        with db.session() as s:
            assert staff.session_for(s, token=token, idle_minutes=15) is None
        with db.session() as s:  # ended for good, even if asked with a longer idle limit
            assert staff.session_for(s, token=token, idle_minutes=600) is None
        advance(30)
        token = _sign_in(db, "mei").token
        for _ in range(12 * 4 + 1):
            advance(15 * 60 - 5)
            with db.session() as s:
                alive = staff.session_for(s, token=token, idle_minutes=15) is not None
        assert not alive  # 12 hours after sign-in, however busy


def test_deactivate_and_reset_totp(db: Database) -> None:
    with frozen(T0):
        _enrolled(db, "mei", StaffRole.CASEWORKER)
        advance(30)
        token = _sign_in(db, "mei").token
        with db.session() as s:
            staff.deactivate(s, handle="mei", actor="admin")
        with db.session() as s:
            assert staff.session_for(s, token=token, idle_minutes=15) is None
        advance(30)
        assert _failure(db, "mei") == "sign_in_failed"
        with db.session() as s:
            assert staff.get_user(s, handle="mei").deactivated_at is not None  # kept, never deleted
        _enrolled(db, "lam", StaffRole.INVESTIGATOR)
        with db.session() as s:
            _, again = staff.reset_totp(s, handle="lam", key=KEY, actor="admin")
        advance(30)
        assert _failure(db, "lam") == "sign_in_failed"  # no second factor until she enrols again
        code = _code_now(db, "lam", token=again)
        with db.session() as s, pytest.raises(staff.StaffError) as exc:
            staff.complete_enrolment(s, token=again, password="not her password!", code=code, key=KEY)
        assert exc.value.code == "sign_in_failed"
        with db.session() as s:
            staff.complete_enrolment(s, token=again, password=PASSWORD, code=code, key=KEY)
        with db.session() as s, pytest.raises(staff.StaffError) as used:
            staff.enrolment(s, token=again, key=KEY)
        assert used.value.code == "enrolment_invalid"
        advance(30)
        assert _sign_in(db, "lam").user.handle == "lam"


def test_enrolment_rules(db: Database) -> None:
    with frozen(T0):
        with db.session() as s:
            for bad in ["A", "x", "mei lam", "<b>", "a" * 33, "-mei"]:
                with pytest.raises(staff.StaffError) as exc:
                    staff.create_user(s, handle=bad, role="caseworker", key=KEY, actor="admin")
                assert exc.value.code == "bad_handle"
            with pytest.raises(staff.StaffError) as role:
                staff.create_user(s, handle="mei", role="root", key=KEY, actor="admin")
            assert role.value.code == "bad_role"
            _, token = staff.create_user(s, handle="Mei", role="caseworker", key=KEY, actor="admin")
            with pytest.raises(staff.StaffError) as taken:
                staff.create_user(s, handle="mei", role="caseworker", key=KEY, actor="admin")
            assert taken.value.code == "handle_taken"
        code = _code_now(db, "mei", token=token)
        with db.session() as s:
            for weak in ["short", "mei-is-my-password"]:
                with pytest.raises(staff.StaffError) as exc:
                    staff.complete_enrolment(s, token=token, password=weak, code=code, key=KEY)
                assert exc.value.code == "weak_password"
            with pytest.raises(staff.StaffError) as wrong:
                staff.complete_enrolment(s, token=token, password=PASSWORD, code="000000", key=KEY)
            assert wrong.value.code == "bad_code"
        advance(73 * 3600)
        with db.session() as s, pytest.raises(staff.StaffError) as late:
            staff.enrolment(s, token=token, key=KEY)
        assert late.value.code == "enrolment_invalid"


def test_seed_sealed_under_the_installation_key(db: Database) -> None:
    with frozen(T0):
        _enrolled(db, "mei", StaffRole.CASEWORKER)
        advance(30)
        with db.session() as s, pytest.raises(staff.StaffError) as exc:
            staff.sign_in(
                s,
                handle="mei",
                password=PASSWORD,
                code=_code_now(db, "mei"),
                client="t",
                key=secrets.token_bytes(32),
                session_hours=12,
            )
        assert exc.value.code == "totp_unreadable" and "reset-totp" in exc.value.message


def test_per_case_access(db: Database, tmp_path: Path) -> None:
    with frozen(T0):
        for handle, role in [
            ("mei", StaffRole.CASEWORKER),
            ("ka", StaffRole.CASEWORKER),
            ("sup", StaffRole.SUPERVISOR),
            ("inv", StaffRole.INVESTIGATOR),
        ]:
            with db.session() as s:
                staff.create_user(s, handle=handle, role=role, key=KEY, actor="admin")
        with db.session() as s:
            case = cases.create_case(s, jurisdiction="HK", actor="intake")
            users = {u.handle: u for u in staff.list_users(s)}
            staff.assign(s, handle="mei", case_reference=case.reference, actor="sup")
            with pytest.raises(staff.StaffError):
                staff.assign(s, handle="inv", case_reference=case.reference, actor="sup")
            scan = staff.register_scan(s, folder=tmp_path, label="seized laptop", actor="admin")
            staff.assign(s, handle="inv", scan_id=scan.id, actor="sup")

        def can(h: str) -> bool:
            with db.session() as s:
                u = users[h]
                return staff.can_open_case(s, staff_id=u.id, role=StaffRole(u.role), case_id=case.id)

        assert [can(h) for h in ["mei", "ka", "sup", "inv"]] == [True, False, True, False]
        with db.session() as s:
            assert staff.can_open_scan(
                s, staff_id=users["inv"].id, role=StaffRole.INVESTIGATOR, scan_id=scan.id
            )
            assert not staff.can_open_scan(
                s, staff_id=users["mei"].id, role=StaffRole.CASEWORKER, scan_id=scan.id
            )
            assert staff.unassign(s, handle="mei", case_reference=case.reference, actor="sup")
        assert not can("mei")
