"""The portal's routes: parse the form, call ``takeback.portal.service`` (or guidance), render a page.

Public pages need no key (the brief: "auth on every route except health and the public portal
pages"); the pages under ``/case`` need the sign-in cookie that case number + PIN give. Every form
carries a one-time token (``guard``). Nothing here sees an image: the browser sends hashes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from takeback.cases.models import Case
from takeback.errors import TakebackError
from takeback.evidence.signing import Signer
from takeback.guidance.kb import GuidanceError, load_kb
from takeback.guidance.pathway import Fact, Situation, build_pathway
from takeback.guidance.render import pathway_document
from takeback.guidance.situation import VictimAge
from takeback.i18n import translate
from takeback.portal import service as ps
from takeback.web.deps import ServiceState
from takeback.web.forms import FormError, read_form
from takeback.web.jsonbody import GuardedRoute, loads_bounded
from takeback.web.portal import guard
from takeback.web.portal.pages import page_lang, render, url_for_lang

router = APIRouter(include_in_schema=False, route_class=GuardedRoute)
T = TypeVar("T")

#: the largest form the portal takes (a submission of ``portal_max_files`` hashes is ~0.5 kB each)
MAX_FORM_BYTES = 2 * 1024 * 1024
FACTS = (Fact.CREATED, Fact.POSSESSED, Fact.SHARED, Fact.THREATENED)


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.takeback
    return state


def _secret(request: Request) -> bytes:
    app_state = request.app.state
    secret: bytes | None = getattr(app_state, "portal_secret", None)
    if secret is None:
        secret = guard.load_secret(_state(request).settings.ensure_data_dir())
        app_state.portal_secret = secret
    return secret


async def _db(request: Request, work: Callable[[Session], T]) -> T:
    return await anyio.to_thread.run_sync(lambda: _state(request).db.run(work))


def _zone(code: str | None = None) -> str:
    try:
        return load_kb().get(code or "HK").timezone
    except (KeyError, TakebackError):
        return "UTC"


def _jurisdictions(lang: str) -> list[tuple[str, str]]:
    return [(j.code, j.name.get(lang)) for j in load_kb().jurisdictions.values()]


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form, one value per field (a repeated field keeps its first value; lists use
    ``_form_list``); bounded, so a huge body is refused rather than parsed."""
    try:
        form = await read_form(request, max_bytes=MAX_FORM_BYTES)
    except FormError as exc:
        raise ps.PortalError(exc.message, code=exc.code) from None
    request.state.form_lists = form.lists
    return dict(form.first)


def _form_list(request: Request, name: str) -> list[str]:
    lists: dict[str, list[str]] = getattr(request.state, "form_lists", {})
    return lists.get(name, [])


async def _spend_token(request: Request, form: dict[str, str], bound: str = "") -> str | None:
    """None when the form's token is good and now used; else the message key to show."""
    nonce = guard.check_form_token(_secret(request), form.get("token", ""), bound)
    if nonce is None:
        return "portal.error.token"
    fresh = await _db(request, lambda s: ps.use_form_token(s, nonce))
    return None if fresh else "portal.error.twice"


def _lang_of(request: Request, form: dict[str, str] | None = None) -> str:
    if form and form.get("lang") in ("en", "zh-Hant"):
        return form["lang"]
    return page_lang(request)


def _client(request: Request) -> str:
    return guard.client_key(_secret(request), request.client.host if request.client else None)


# --- public pages ---------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    lang = page_lang(request)
    return render(request, "home.html", lang=lang, title_key="portal.home.title")


@router.get("/start")
async def start(request: Request) -> Response:
    lang = page_lang(request)
    return render(
        request,
        "start.html",
        lang=lang,
        title_key="portal.age.title",
        token=guard.form_token(_secret(request)),
    )


@router.post("/start")
async def start_answer(request: Request) -> Response:
    form = await _form(request)
    lang = _lang_of(request, form)
    answer = form.get("age")
    if answer not in ("adult", "minor", "unsure"):
        return render(
            request,
            "start.html",
            lang=lang,
            status=400,
            title_key="portal.age.title",
            token=guard.form_token(_secret(request)),
            error=translate("portal.age.choose", lang),
        )
    if answer == "adult":
        return RedirectResponse(url_for_lang("/submit", lang), status_code=303)
    return RedirectResponse(url_for_lang("/under-18", lang), status_code=303)


@router.get("/under-18")
async def under_18(request: Request) -> Response:
    lang = page_lang(request)
    settings = _state(request).settings
    code = request.query_params.get("j") or settings.portal_jurisdiction
    try:
        p = build_pathway(
            Situation(jurisdiction=code, facts=frozenset({Fact.CREATED}), victim_age=VictimAge.MINOR),
            lang=lang,
        )
    except (KeyError, TakebackError):
        code = settings.portal_jurisdiction
        p = build_pathway(
            Situation(jurisdiction=code, facts=frozenset({Fact.CREATED}), victim_age=VictimAge.MINOR),
            lang=lang,
        )
    return render(
        request,
        "under18.html",
        lang=lang,
        title_key="portal.minor.title",
        pathway=p,
        child_routes=[r for r in p.routes if r.child_route],
        contact_keys=("web", "phone", "note"),
        jurisdictions=_jurisdictions(lang),
        code=p.jurisdiction,
    )


def _submit_page(request: Request, lang: str, *, status: int = 200, error: str | None = None) -> Response:
    settings = _state(request).settings
    return render(
        request,
        "submit.html",
        lang=lang,
        status=status,
        title_key="portal.submit.title",
        token=guard.form_token(_secret(request)),
        jurisdictions=_jurisdictions(lang),
        code=settings.portal_jurisdiction,
        max_files=settings.portal_max_files,
        problems=json.dumps(_hash_problems(lang), ensure_ascii=False),
        video_limits=json.dumps(_video_limits(settings)),
        error=error,
    )


#: the codes the browser's hashing engine reports (static/js/messages.js), in the page's words
HASH_PROBLEMS = (
    "empty_file",
    "read_error",
    "not_an_image",
    "not_decodable",
    "image_file_too_large",
    "too_many_pixels",
    "no_dimensions",
    "no_pixels",
    "corrupt_image",
    "video_hashes_only",
    "video_too_long",
    "video_too_large",
    "cancelled",
    "internal",
)


def _hash_problems(lang: str) -> dict[str, str]:
    words = {code: translate(f"portal.hash.{code}", lang) for code in HASH_PROBLEMS}
    words["@minutes"] = translate("portal.duration.minutes", lang)
    words["@seconds"] = translate("portal.duration.seconds", lang)
    return words


def _video_limits(settings: Any) -> dict[str, float]:
    """The installation's video limits, for the browser to refuse what the server would (hashing.js's
    ``videoLimits``)."""
    return {
        "maxSeconds": settings.max_video_seconds,
        "maxFrames": settings.max_video_frames,
        "maxWidth": settings.max_video_width,
        "maxHeight": settings.max_video_height,
        "maxPixels": settings.max_video_pixels,
    }


@router.get("/submit")
async def submit_form(request: Request) -> Response:
    return _submit_page(request, page_lang(request))


@router.post("/submit")
async def submit(request: Request) -> Response:
    settings = _state(request).settings
    try:
        form = await _form(request)
    except ps.PortalError as exc:
        return _submit_page(request, page_lang(request), status=413, error=exc.message)
    lang = _lang_of(request, form)
    problem = await _spend_token(request, form)
    if problem is not None:
        return _submit_page(request, lang, status=400, error=translate(problem, lang))
    if form.get("adult") != "yes":  # the age question came first; a direct post must say so too
        return RedirectResponse(url_for_lang("/start", lang), status_code=303)
    try:
        raw = loads_bounded(form.get("files") or "null")  # bounded: depth, size, numbers
        files = ps.parse_files(raw, max_files=settings.portal_max_files)
    except ValueError:
        return _submit_page(request, lang, status=400, error=translate("portal.error.files", lang))
    except ps.PortalError as exc:
        return _submit_page(
            request, lang, status=400, error=translate("portal.error.bad_files", lang, detail=exc.message)
        )
    code = form.get("jurisdiction") or settings.portal_jurisdiction
    try:
        code = load_kb().get(code).code
    except (KeyError, TakebackError):
        code = settings.portal_jurisdiction
    client = _client(request)

    def work(s: Session) -> ps.Opened | None:
        if not ps.throttle(
            s, f"submit:{client}", limit=settings.portal_submissions_per_hour, window=timedelta(hours=1)
        ):
            return None
        return ps.submit(
            s,
            files=files,
            block=form.get("consent_block") == "yes",
            contact=form.get("consent_contact") == "yes",
            contact_detail=form.get("contact_detail"),
            jurisdiction=code,
            bank_name=settings.portal_bank,
        )

    opened = await _db(request, work)
    if opened is None:
        return _submit_page(
            request, lang, status=429, error=translate("portal.error.too_many_submissions", lang)
        )
    return render(
        request,
        "submitted.html",
        lang=lang,
        title_key="portal.done.title",
        reference=opened.reference,
        pin=f"{opened.pin[:4]} {opened.pin[4:]}",
        submitted=opened.submitted,
        banked=opened.banked,
        blocked=form.get("consent_block") == "yes",
    )


@router.get("/guide")
async def guide(request: Request) -> Response:
    lang = page_lang(request)
    q = request.query_params
    settings = _state(request).settings
    code = q.get("j") or settings.portal_jurisdiction
    chosen = [f for f in FACTS if f.value in q.getlist("facts")]
    age = q.get("age") or "adult"
    pathway = error = None
    act_date: date | None = None
    if q.get("date"):
        try:
            act_date = date.fromisoformat(q["date"])
        except ValueError:
            error = translate("portal.guide.bad_date", lang)
    if "j" in q and error is None:
        if age not in ("adult", "was-minor", "minor"):
            age = "adult"
        if not chosen:
            error = translate("portal.guide.choose", lang)
        else:
            try:
                pathway = build_pathway(
                    Situation(
                        jurisdiction=code,
                        facts=frozenset(chosen),
                        victim_age=VictimAge(age),
                        act_date=act_date,
                    ),
                    lang=lang,
                )
            except (GuidanceError, KeyError, TakebackError) as exc:
                error = (
                    exc.message if isinstance(exc, TakebackError) else translate("portal.guide.choose", lang)
                )
    return render(
        request,
        "guide.html",
        lang=lang,
        status=400 if error else 200,
        title_key="portal.guide.title",
        jurisdictions=_jurisdictions(lang),
        code=code,
        facts=[f.value for f in FACTS],
        chosen={f.value for f in chosen},
        age=age,
        act_date=q.get("date", ""),
        pathway=pathway,
        pathway_doc=pathway_document(pathway) if pathway else None,
        error=error,
        zone=_zone(code),
    )


@router.get("/verify")
async def verify_page(request: Request) -> Response:
    lang = page_lang(request)
    signer = Signer.load_or_create(_state(request).settings.ensure_data_dir())
    return render(
        request,
        "verify.html",
        lang=lang,
        title_key="portal.verify.title",
        key_b64=signer.public.to_b64(),
        fingerprint=signer.public.fingerprint,
    )


@router.get("/fonts/portal-tc.woff")
async def portal_font(request: Request) -> Response:
    """The Traditional Chinese web font (see ``fonts.py``); cached a day by the browser."""
    from fastapi.responses import FileResponse

    from takeback.web.portal.fonts import font_file

    path = await anyio.to_thread.run_sync(font_file, _state(request).settings.ensure_data_dir())
    return FileResponse(path, media_type="font/woff", headers={"cache-control": "public, max-age=86400"})


@router.get("/safety")
async def safety(request: Request) -> Response:
    return render(request, "safety.html", lang=page_lang(request), title_key="portal.safety.title")


# --- her case (signed in) -------------------------------------------------------------------------


def _signin_page(request: Request, lang: str, *, status: int = 200, error: str | None = None) -> Response:
    return render(
        request,
        "signin.html",
        lang=lang,
        status=status,
        title_key="portal.signin.title",
        token=guard.form_token(_secret(request)),
        error=error,
    )


@router.get("/case")
async def signin_form(request: Request) -> Response:
    return _signin_page(request, page_lang(request))


@router.post("/case")
async def signin(request: Request) -> Response:
    form = await _form(request)
    lang = _lang_of(request, form)
    problem = await _spend_token(request, form)
    if problem is not None:
        return _signin_page(request, lang, status=400, error=translate(problem, lang))
    client = _client(request)

    def work(s: Session) -> int | ps.SignInError:
        try:
            return ps.sign_in(
                s, reference=form.get("reference", ""), pin=form.get("pin", ""), client=client
            ).id
        except ps.SignInError as exc:
            return exc  # returned, not raised: the failure count must be committed

    got = await _db(request, work)
    if isinstance(got, ps.SignInError):
        key = "portal.signin.locked" if got.code == "sign_in_locked" else "portal.signin.mismatch"
        return _signin_page(
            request, lang, status=401 if got.code == "sign_in_failed" else 429, error=translate(key, lang)
        )
    resp = RedirectResponse(url_for_lang("/case/view", lang), status_code=303)
    resp.set_cookie(
        guard.COOKIE,
        guard.session_value(_secret(request), got),
        max_age=guard.SESSION_SECONDS,
        path=guard.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


async def _signed_in(request: Request) -> Case | None:
    cid = guard.session_case(_secret(request), request.cookies.get(guard.COOKIE))
    if cid is None:
        return None
    return await _db(request, lambda s: _detached(s, cid))


def _detached(s: Session, cid: int) -> Case | None:
    case = ps.case_by_id(s, cid)
    if case is not None:
        s.expunge(case)
    return case


def _reload(s: Session, case: Case) -> Case:
    """The signed-in case in this session (a case deleted meanwhile is a sign-in error)."""
    fresh = ps.case_by_id(s, case.id)
    if fresh is None:
        raise ps.SignInError(ps.MISMATCH_MESSAGE)
    return fresh


def _bound(case: Case) -> str:
    return f"case:{case.id}"


def _gone(request: Request) -> Response:
    lang = page_lang(request)
    return _signin_page(request, lang, status=401, error=translate("portal.signin.expired", lang))


@router.get("/case/view")
async def case_view(request: Request, notice: str | None = None) -> Response:
    case = await _signed_in(request)
    if case is None:
        return _gone(request)
    return await _case_page(request, case, page_lang(request), notice=notice)


async def _case_page(
    request: Request,
    case: Case,
    lang: str,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    def read(s: Session) -> tuple[ps.Status, list[Any], list[Any]]:
        c = _reload(s, case)
        st = ps.status(s, case=c)
        log_rows = ps.log_entries(s, case=c)
        sealed = ps.sealed_items(s, case=c)
        for r in [*log_rows, *sealed]:
            s.expunge(r)
        return st, log_rows, sealed

    st, log_rows, sealed = await _db(request, read)
    notices = {"withdrawn", "logged", "deleted"}
    return render(
        request,
        "case.html",
        lang=lang,
        status=status,
        title_key="portal.case.title",
        st=st,
        log=log_rows,
        sealed=[
            {"id": x.id, "size": x.size, "created_at": x.created_at, "params": json.dumps(x.params)}
            for x in sealed
        ],
        # one token per form: a page holds several, and using one must not spend the others
        token=lambda: guard.form_token(_secret(request), _bound(case)),
        log_kinds=ps.LOG_KINDS,
        notice=translate(f"portal.case.notice.{notice}", lang) if notice in notices else None,
        error=error,
        zone=case.timezone,
        today=date.today().isoformat(),
    )


async def _case_form(
    request: Request, *, spend: bool = True
) -> tuple[Case | None, dict[str, str], str, str | None]:
    """The signed-in case, the form, its language, and a problem with the token (if any).

    ``spend=False`` for a form that changes nothing (a receipt: asking twice gives the same
    receipt), whose token is checked but stays good."""
    case = await _signed_in(request)
    form = await _form(request)
    lang = _lang_of(request, form)
    if case is None:
        return None, form, lang, None
    if not spend:
        good = guard.check_form_token(_secret(request), form.get("token", ""), _bound(case)) is not None
        return case, form, lang, None if good else "portal.error.token"
    return case, form, lang, await _spend_token(request, form, _bound(case))


def _back(lang: str, notice: str) -> Response:
    return RedirectResponse(url_for_lang("/case/view", lang, notice=notice), status_code=303)


CaseAct = Callable[[Session, Case, dict[str, str], str], None]


async def _case_action(request: Request, act: CaseAct, notice: str) -> Response:
    """A form on her case page that changes something: sign-in and a one-time token first, then
    ``act(session, case, form, lang)``; a ``PortalError`` is shown on the page, success goes back
    to the page with ``notice`` (a redirect, so a reload does not send the form again)."""
    case, form, lang, problem = await _case_form(request)
    if case is None:
        return _gone(request)
    if problem:
        return await _case_page(request, case, lang, status=400, error=translate(problem, lang))

    def work(s: Session) -> str | None:
        try:
            act(s, _reload(s, case), form, lang)
        except ps.PortalError as exc:
            if exc.code == "empty_entry":
                return translate("portal.case.log_empty", lang)
            if exc.code == "bad_date":
                return translate("portal.guide.bad_date", lang)
            return exc.message
        return None

    err = await _db(request, work)
    if err:
        return await _case_page(request, case, lang, status=400, error=err)
    return _back(lang, notice)


def _number(form: dict[str, str], name: str) -> int | None:
    value = form.get(name, "")
    return int(value) if value.isdigit() and len(value) < 12 else None


@router.post("/case/withdraw")
async def withdraw(request: Request) -> Response:
    bank = _state(request).settings.portal_bank

    def act(s: Session, case: Case, form: dict[str, str], lang: str) -> None:
        ps.withdraw(s, case=case, bank_name=bank, submission_id=_number(form, "submission"))

    return await _case_action(request, act, "withdrawn")


@router.post("/case/receipt")
async def receipt(request: Request) -> Response:
    case, form, lang, problem = await _case_form(request, spend=False)
    if case is None:
        return _gone(request)
    if problem:
        return await _case_page(request, case, lang, status=400, error=translate(problem, lang))
    signer = Signer.load_or_create(_state(request).settings.ensure_data_dir())

    def work(s: Session) -> dict[str, Any] | str:
        try:
            r = ps.receipt(
                s, case=_reload(s, case), signer=signer, submission_id=_number(form, "submission") or -1
            )
        except ps.PortalError as exc:
            return exc.message
        return r.to_json()

    got = await _db(request, work)
    if isinstance(got, str):
        return await _case_page(request, case, lang, status=400, error=got)
    name = f"takeback-receipt-{case.reference}-{got['sha256'][:12]}.json"
    return Response(
        json.dumps(got, indent=2) + "\n",
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.post("/case/log")
async def add_log(request: Request) -> Response:
    def act(s: Session, case: Case, form: dict[str, str], lang: str) -> None:
        happened: date | None = None
        if form.get("happened_on"):
            try:
                happened = date.fromisoformat(form["happened_on"])
            except ValueError:
                raise ps.PortalError("The date could not be read.", code="bad_date") from None
        entry = ps.LogInput(
            kind=form.get("kind", "other"),
            happened_on=happened,
            url=form.get("url"),
            platform=form.get("platform"),
            account=form.get("account"),
            reference=form.get("reference"),
            details=form.get("details"),
        )
        ps.add_log_entry(s, case=case, entry=entry)

    return await _case_action(request, act, "logged")


@router.post("/case/log/delete")
async def delete_log(request: Request) -> Response:
    def act(s: Session, case: Case, form: dict[str, str], lang: str) -> None:
        ps.delete_log_entry(s, case=case, entry_id=_number(form, "entry") or -1)

    return await _case_action(request, act, "deleted")


@router.get("/case/timeline.{fmt}")
async def timeline(request: Request, fmt: str) -> Response:
    from takeback.portal.timeline import timeline_document
    from takeback.reports.html import render_html
    from takeback.reports.pdf import pdf_bytes

    case = await _signed_in(request)
    if case is None:
        return _gone(request)
    if fmt not in ("pdf", "html"):
        return Response(status_code=404)
    lang = page_lang(request)

    def build(s: Session) -> Any:
        c = _reload(s, case)
        return timeline_document(ps.status(s, case=c), ps.log_entries(s, case=c), lang=lang, zone=c.timezone)

    doc = await _db(request, build)
    name = f"takeback-timeline-{case.reference}.{fmt}"
    disposition = {"content-disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        data = await anyio.to_thread.run_sync(pdf_bytes, doc)
        return Response(data, media_type="application/pdf", headers=disposition)
    return Response(render_html(doc), media_type="text/html; charset=utf-8", headers=disposition)


@router.post("/case/sealed")
async def add_sealed(request: Request) -> Response:
    """A file encrypted in her browser: the body is the ciphertext, the parameters and the form
    token come in headers (``X-Sealed-Params``, ``X-Form-Token``). Answers JSON for the page's script."""
    from fastapi.responses import JSONResponse

    case = await _signed_in(request)
    if case is None:
        return JSONResponse({"code": "signed_out", "message": "Signed out: sign in again."}, status_code=401)
    settings = _state(request).settings
    nonce = guard.check_form_token(_secret(request), request.headers.get("x-form-token", ""), _bound(case))
    if nonce is None or not await _db(request, lambda s: ps.use_form_token(s, nonce)):
        return JSONResponse(
            {"code": "invalid_token", "message": translate("portal.error.token", page_lang(request))},
            status_code=400,
        )
    body = await request.body()
    try:
        params = loads_bounded(request.headers.get("x-sealed-params", "null"))
    except ValueError:
        params = None

    def work(s: Session) -> int | ps.PortalError:
        try:
            row = ps.seal(
                s,
                case=_reload(s, case),
                ciphertext=body,
                params=params,
                max_bytes=settings.portal_sealed_max_bytes,
                max_items=settings.portal_sealed_per_case,
            )
        except ps.PortalError as exc:
            return exc
        return row.id

    got = await _db(request, work)
    fresh = guard.form_token(_secret(request), _bound(case))
    if isinstance(got, ps.PortalError):
        return JSONResponse({"code": got.code, "message": got.message, "token": fresh}, status_code=400)
    return JSONResponse({"id": got, "token": fresh})


@router.get("/case/sealed/{sealed_id}")
async def get_sealed(request: Request, sealed_id: int) -> Response:
    case = await _signed_in(request)
    if case is None:
        return Response(status_code=401)

    def work(s: Session) -> bytes | None:
        try:
            return bytes(ps.sealed_item(s, case=_reload(s, case), sealed_id=sealed_id).ciphertext)
        except ps.PortalError:
            return None

    data = await _db(request, work)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="application/octet-stream")


@router.post("/case/sign-out")
async def sign_out(request: Request) -> Response:
    form = await _form(request)
    resp = RedirectResponse(url_for_lang("/", _lang_of(request, form)), status_code=303)
    resp.delete_cookie(guard.COOKIE, path=guard.COOKIE_PATH)
    return resp
