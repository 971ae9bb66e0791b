"""The console's own pages: sign-in with a second factor, enrolment, sign-out, the admin's
accounts and scan folders, the supervisor's assignments. Case pages are in ``cases.py``.

Every page calls ``takeback.staff.service``, as ``takeback users`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from takeback.i18n import has, translate
from takeback.portal import casework
from takeback.staff import service as staff_service
from takeback.staff import totp
from takeback.staff.models import StaffRole
from takeback.web.console.pages import page_lang, render
from takeback.web.forms import Form, FormError, read_form
from takeback.web.jsonbody import GuardedRoute
from takeback.web.portal import guard
from takeback.web.staffauth import (
    COOKIE,
    MAX_FORM_BYTES,
    Staff,
    StaffDenied,
    form_secret,
    in_db,
    safe_next,
    secure_cookie,
    staff_form,
    staff_form_with,
    staff_key,
    staff_page,
    staff_with,
    state_of,
)

router = APIRouter(include_in_schema=False, route_class=GuardedRoute)

AdminDep = Annotated[Staff, Depends(staff_with(StaffRole.ADMIN))]
SupervisorDep = Annotated[Staff, Depends(staff_with(StaffRole.SUPERVISOR))]
AdminFormDep = Annotated[tuple[Staff, Form], Depends(staff_form_with(StaffRole.ADMIN))]
SupervisorFormDep = Annotated[tuple[Staff, Form], Depends(staff_form_with(StaffRole.SUPERVISOR))]


def _lang(request: Request, form_lang: str | None = None) -> str:
    return form_lang if form_lang in ("en", "zh-Hant") else page_lang(request)


def _home_for(role: StaffRole) -> str:
    return {
        StaffRole.CASEWORKER: "/console/cases",
        StaffRole.SUPERVISOR: "/console/cases",
        StaffRole.INVESTIGATOR: "/review",
        StaffRole.ADMIN: "/console/admin/users",
    }[role]


def _see_other(path: str, lang: str) -> RedirectResponse:
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}lang={lang}", status_code=303)


@router.get("/console")
async def console_home(request: Request, who: Annotated[Staff, Depends(staff_page)]) -> Response:
    return _see_other(_home_for(who.role), page_lang(request))


# --- signing in ------------------------------------------------------------------------------------


def _login_page(
    request: Request,
    lang: str,
    *,
    error: str | None = None,
    handle: str = "",
    next_path: str = "/console",
    status: int = 200,
    notice: str | None = None,
) -> Response:
    return render(
        request,
        "login.html",
        staff=None,
        lang=lang,
        title_key="console.login.title",
        status=status,
        error=error,
        notice=notice,
        handle=handle,
        next_path=safe_next(next_path),
        form_token=guard.form_token(form_secret(request), "login"),
    )


@router.get("/console/login")
async def login_page(request: Request) -> Response:
    lang = page_lang(request)
    notice = translate("console.login.enrolled", lang) if request.query_params.get("enrolled") else None
    if request.query_params.get("ended"):
        notice = translate("console.login.ended", lang)
    return _login_page(request, lang, next_path=request.query_params.get("next", "/console"), notice=notice)


@router.post("/console/login")
async def login(request: Request) -> Response:
    try:
        form = await read_form(request, max_bytes=MAX_FORM_BYTES)
    except FormError as exc:
        return _login_page(request, page_lang(request), error=exc.message, status=400)
    lang = _lang(request, form.get("lang"))
    next_path = form.get("next", "/console")
    if guard.check_form_token(form_secret(request), form.get("token"), "login") is None:
        return _login_page(
            request, lang, error=translate("portal.error.token", lang), next_path=next_path, status=403
        )
    settings = state_of(request).settings
    key = staff_key(request)
    client = guard.client_key(form_secret(request), request.client.host if request.client else None)

    def attempt(s: Session) -> staff_service.SignedIn | staff_service.StaffError:
        try:
            return staff_service.sign_in(
                s,
                handle=form.get("handle"),
                password=form.get("password"),
                code=form.get("code"),
                client=client,
                key=key,
                session_hours=settings.console_session_hours,
            )
        except staff_service.StaffError as exc:  # committed: the failure count is the point
            return exc

    result = await in_db(request, attempt)
    if isinstance(result, staff_service.StaffError):
        key_name = "console.login.locked" if result.code == "sign_in_locked" else "console.login.failed"
        if result.code == "totp_unreadable":
            key_name = "console.login.unreadable"
        return _login_page(
            request,
            lang,
            error=translate(key_name, lang),
            handle=form.get("handle")[:64],
            next_path=next_path,
            status=401
            if result.code == "sign_in_failed"
            else 403
            if result.code == "sign_in_locked"
            else 500,
        )
    target = safe_next(next_path)
    if target == "/console":
        target = _home_for(StaffRole(result.user.role))
    response = _see_other(target, lang)
    response.set_cookie(
        COOKIE,
        result.token,
        max_age=settings.console_session_hours * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
    )
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    form_lang: str | None = None
    try:
        _who, form = await staff_form(request)
        form_lang = form.get("lang")
        await in_db(request, lambda s: staff_service.sign_out(s, token=token))
    except StaffDenied:  # an ended session or a stale form still signs this browser out
        pass
    response = _see_other("/console/login?ended=1", _lang(request, form_lang))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookie(request))
    return response


# --- enrolment -------------------------------------------------------------------------------------


def _enrol_page(
    request: Request, token: str, lang: str, *, error: str | None = None, status: int = 200
) -> Response:
    key = staff_key(request)

    def look(s: Session) -> staff_service.Enrolling | staff_service.StaffError:
        try:
            return staff_service.enrolment(s, token=token, key=key)
        except staff_service.StaffError as exc:
            return exc

    found = state_of(request).db.run(look)
    if isinstance(found, staff_service.StaffError):
        return render(
            request,
            "message.html",
            staff=None,
            lang=lang,
            title_key="console.enrol.invalid_title",
            status=404,
            message=translate("console.enrol.invalid", lang),
            link=None,
            link_text="",
        )
    return render(
        request,
        "enrol.html",
        staff=None,
        lang=lang,
        title_key="console.enrol.title",
        status=status,
        error=error,
        enrolling=found,
        token=token,
        qr_svg=totp.qr_svg(found.uri),
    )


@router.get("/console/enrol/{token}")
def enrol_page(request: Request, token: str) -> Response:
    return _enrol_page(request, token, page_lang(request))


_ENROL_ERRORS = {
    "weak_password": "console.enrol.weak",
    "bad_code": "console.enrol.bad_code",
    "sign_in_failed": "console.enrol.wrong_password",
}


@router.post("/console/enrol/{token}")
async def enrol(request: Request, token: str) -> Response:
    try:
        form = await read_form(request, max_bytes=MAX_FORM_BYTES)
    except FormError as exc:
        problem = exc.message
        return await anyio.to_thread.run_sync(
            lambda: _enrol_page(request, token, page_lang(request), error=problem, status=400)
        )
    lang = _lang(request, form.get("lang"))
    key = staff_key(request)
    try:
        await in_db(
            request,
            lambda s: staff_service.complete_enrolment(
                s, token=token, password=form.get("password"), code=form.get("code"), key=key
            ),
        )
    except staff_service.StaffError as exc:
        if exc.code not in _ENROL_ERRORS:  # the link is no longer valid: that page says so
            return await anyio.to_thread.run_sync(lambda: _enrol_page(request, token, lang))
        problem = translate(_ENROL_ERRORS[exc.code], lang)
        return await anyio.to_thread.run_sync(
            lambda: _enrol_page(request, token, lang, error=problem, status=400)
        )
    return _see_other("/console/login?enrolled=1", lang)


# --- accounts (admin) ------------------------------------------------------------------------------


def _users_page(
    request: Request,
    who: Staff,
    lang: str,
    *,
    created: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    def load(s: Session) -> tuple[list[object], list[object]]:
        return list(staff_service.list_users(s)), list(staff_service.list_scans(s))

    users, scans = state_of(request).db.run(load)
    return render(
        request,
        "users.html",
        staff=who,
        lang=lang,
        title_key="console.users.title",
        status=status,
        users=users,
        scans=scans,
        roles=[r.value for r in StaffRole],
        created=created,
        error=error,
        notice=notice,
    )


@router.get("/console/admin/users")
def users_page(request: Request, who: AdminDep) -> Response:
    return _users_page(request, who, page_lang(request))


def _enrol_link(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/console/enrol/{token}"


def _problem(exc: staff_service.StaffError, lang: str) -> str:
    """A staff service's refusal in the page's language (its English message where none is written)."""
    key = f"console.staff_error.{exc.code}"
    text = translate(key, lang) if has(key) else exc.message
    return text


@router.post("/console/admin/users")
def create_user(request: Request, sent: AdminFormDep) -> Response:
    who, form = sent
    lang = _lang(request, form.get("lang"))
    key = staff_key(request)
    try:
        user, token = state_of(request).db.run(
            lambda s: staff_service.create_user(
                s, handle=form.get("handle"), role=form.get("role"), key=key, actor=who.actor
            )
        )
    except staff_service.StaffError as exc:
        return _users_page(request, who, lang, error=_problem(exc, lang), status=400)
    return _users_page(
        request, who, lang, created={"handle": user.handle, "link": _enrol_link(request, token)}
    )


@router.post("/console/admin/users/{handle}/reset-totp")
def reset_totp(request: Request, handle: str, sent: AdminFormDep) -> Response:
    who, form = sent
    lang = _lang(request, form.get("lang"))
    key = staff_key(request)
    try:
        user, token = state_of(request).db.run(
            lambda s: staff_service.reset_totp(s, handle=handle, key=key, actor=who.actor)
        )
    except staff_service.StaffError as exc:
        return _users_page(request, who, lang, error=_problem(exc, lang), status=400)
    return _users_page(
        request, who, lang, created={"handle": user.handle, "link": _enrol_link(request, token)}
    )


@router.post("/console/admin/users/{handle}/deactivate")
def deactivate(request: Request, handle: str, sent: AdminFormDep) -> Response:
    who, form = sent
    lang = _lang(request, form.get("lang"))
    if staff_service.normalise_handle(handle) == who.handle:
        return _users_page(request, who, lang, error=translate("console.users.not_self", lang), status=400)
    try:
        state_of(request).db.run(lambda s: staff_service.deactivate(s, handle=handle, actor=who.actor))
    except staff_service.StaffError as exc:
        return _users_page(request, who, lang, error=_problem(exc, lang), status=400)
    return _users_page(request, who, lang, notice=translate("console.users.deactivated", lang, handle=handle))


@router.post("/console/admin/scans")
def register_scan(request: Request, sent: AdminFormDep) -> Response:
    who, form = sent
    lang = _lang(request, form.get("lang"))
    folder = Path(form.get("folder").strip())
    if not folder.is_absolute() or not (folder / "case.db").is_file():
        return _users_page(request, who, lang, error=translate("console.scans.not_a_case", lang), status=400)
    try:
        state_of(request).db.run(
            lambda s: staff_service.register_scan(s, folder=folder, label=form.get("label"), actor=who.actor)
        )
    except staff_service.StaffError as exc:
        return _users_page(request, who, lang, error=_problem(exc, lang), status=400)
    return _users_page(request, who, lang, notice=translate("console.scans.registered", lang))


# --- assignments (supervisor) ----------------------------------------------------------------------


def _assign_page(
    request: Request,
    who: Staff,
    lang: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    def load(s: Session) -> dict[str, object]:
        users = [u for u in staff_service.list_users(s) if u.active]
        rows = staff_service.list_assignments(s)
        return {
            "caseworkers": [u for u in users if u.role in (StaffRole.CASEWORKER, StaffRole.SUPERVISOR)],
            "investigators": [u for u in users if u.role in (StaffRole.INVESTIGATOR, StaffRole.SUPERVISOR)],
            "scans": staff_service.list_scans(s),
            "assignments": [
                {
                    "handle": r.handle,
                    "case": r.case_reference,
                    "scan": r.scan_id,
                    "what": r.case_reference or f"{r.scan_label} ({r.scan_id})",
                    "at": r.assigned_at,
                }
                for r in rows
            ],
        }

    return render(
        request,
        "assign.html",
        staff=who,
        lang=lang,
        title_key="console.assign.title",
        status=status,
        error=error,
        notice=notice,
        **state_of(request).db.run(load),
    )


@router.get("/console/assign")
def assign_page(request: Request, who: SupervisorDep) -> Response:
    return _assign_page(request, who, page_lang(request))


def _scan_id(form: Form) -> int | None:
    value = form.get("scan").strip()
    return int(value) if value.isdigit() and len(value) < 12 else None


@router.post("/console/assign")
def assign(request: Request, sent: SupervisorFormDep) -> Response:
    who, form = sent
    lang = _lang(request, form.get("lang"))
    case_ref = form.get("case").strip() or None
    scan = _scan_id(form)
    try:
        state_of(request).db.run(
            lambda s: staff_service.assign(
                s,
                handle=form.get("handle"),
                case_reference=case_ref,
                scan_id=scan,
                actor=who.actor,
                closed=casework.closed_case,
            )
        )
    except staff_service.StaffError as exc:
        return _assign_page(request, who, lang, error=_problem(exc, lang), status=400)
    return _assign_page(request, who, lang, notice=translate("console.assign.done", lang))


@router.post("/console/assign/remove")
def unassign(request: Request, sent: SupervisorFormDep) -> Response:
    who, form = sent
    lang = _lang(request, form.get("lang"))
    case_ref = form.get("case").strip() or None
    try:
        state_of(request).db.run(
            lambda s: staff_service.unassign(
                s, handle=form.get("handle"), case_reference=case_ref, scan_id=_scan_id(form), actor=who.actor
            )
        )
    except staff_service.StaffError as exc:
        return _assign_page(request, who, lang, error=_problem(exc, lang), status=400)
    return _assign_page(request, who, lang, notice=translate("console.assign.removed", lang))
