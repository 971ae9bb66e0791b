"""The staff web surfaces: the caseworker console at ``/console`` and (``web.review``) the
review grid at ``/review``, over one staff session (``web.staffauth``)."""

from __future__ import annotations

import inspect
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from takeback.i18n import translate
from takeback.web.console.pages import page_lang, render
from takeback.web.staffauth import LoginRequired, StaffDenied, login_url

STAFF_PREFIXES = ("/console", "/review")
_TITLES = {
    400: "console.error.title_bad",
    403: "console.error.title_denied",
    404: "console.error.title_missing",
}


def is_staff_path(path: str) -> bool:
    return path == "/console" or path == "/review" or path.startswith(("/console/", "/review/"))


def error_page(request: Request, status: int, key: str) -> Response:
    """A staff page's refusal as a page (never JSON), in the page's language."""
    lang = page_lang(request)
    staff = getattr(request.state, "staff", None)
    return render(
        request,
        "message.html",
        staff=staff,
        lang=lang,
        title_key=_TITLES.get(status, "console.error.title_bad"),
        status=status,
        message=translate(key, lang),
        link="/console" + f"?lang={lang}",
        link_text=translate("console.error.back", lang),
    )


def install(app: FastAPI) -> None:
    """Routes, assets and error pages of the staff surfaces."""
    from takeback.web.console import routes

    app.mount("/staff-assets", StaticFiles(directory=Path(__file__).parent / "static"), name="staff-assets")
    app.include_router(routes.router)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    async def denied(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StaffDenied)
        return error_page(request, exc.status, exc.key)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(StaffDenied, denied)
    api_http_error = app.exception_handlers[StarletteHTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if is_staff_path(request.url.path) and exc.status_code in _TITLES:
            return error_page(request, exc.status_code, f"console.error.http_{exc.status_code}")
        answer = api_http_error(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, http_error)
