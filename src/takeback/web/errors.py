"""Errors as JSON, in one place: every failure leaves the service as ``{"code", "message"}``.

Domain packages raise :class:`~takeback.errors.TakebackError` subclasses with stable codes and know
nothing about HTTP; the table below is the only place a code becomes a status. ``field`` names the
offending parameter when there is one.

HMA's routes (``/c``, ``/m``, ``/h``, ``/status``) answer in HMA's contract instead: the body is
only ``{"message": ...}``, a request HMA validates by hand is 400 (not 422), a duplicate is 403, and
a typed parameter that fails validation is 422 with a list of pydantic errors, as HMA's
flask-openapi3 writes it. See :func:`is_hma_path`; ``/v1`` keeps the rich errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from takeback.errors import TakebackError
from takeback.media import MediaError
from takeback.media import errors as media_codes

log = logging.getLogger("takeback.web")

HMA_INTERNAL_ERROR = (
    "The server encountered an internal error and was unable to complete your request. Either the "
    "server is overloaded or there is an error in the application."
)


class ApiError(TakebackError):
    """An error raised by the web layer itself, with its status; ``field`` names a bad parameter."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.field = field
        self.headers = headers


#: stable code -> HTTP status. Codes not listed are 400 (the request was wrong in some other way).
STATUS_BY_CODE: dict[str, int] = {
    # authentication (401) and authorisation (403)
    "missing_key": 401,
    "invalid_key": 401,
    "key_revoked": 401,
    "key_expired": 401,
    "forbidden": 403,
    # not found
    "not_found": 404,
    "unknown_bank": 404,
    "bank_not_found": 404,
    "unknown_content": 404,
    "content_not_found": 404,
    "unknown_key": 404,
    "method_not_allowed": 405,
    # conflicts
    "bank_exists": 409,
    "duplicate_bank": 409,
    "duplicate_content": 409,
    "not_held": 409,
    # bodies
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "invalid_signal": 422,
    "invalid_request": 422,
    "invalid_bank_name": 422,
    "invalid_threshold": 422,
    "invalid_note": 422,
    "invalid_metadata": 422,
    "invalid_quality": 422,
    "invalid_until": 422,
    "invalid_hold_reason": 422,
    "invalid_pdq_cap": 422,
    "no_signals": 422,
    "invalid_role": 422,
    "invalid_expiry": 422,
    "invalid_rate_limit": 422,
    "invalid_scope": 422,
    "invalid_opinion": 422,
    "invalid_giver": 422,
    "invalid_feedback": 422,
    "too_many_items": 422,
    "rate_limited": 429,
    # the service cannot answer right now
    "index_not_ready": 503,
    "database_locked": 503,
    "database_unavailable": 503,
    "audit_unavailable": 503,
    # URL hashing (takeback.net.fetch)
    "url_fetch_disabled": 403,
    "host_not_allowed": 403,
    "port_not_allowed": 403,
    "blocked_address": 403,
    "bad_url": 422,
    "too_large": 413,
    "dns_failed": 502,
    "connect_failed": 502,
    "http_error": 502,
    "too_many_redirects": 502,
    "timeout": 504,
}


#: the request field a domain error code is about, for codes raised without one
FIELD_BY_CODE: dict[str, str] = {
    "invalid_bank_name": "name",
    "invalid_threshold": "pdq_threshold",
    "invalid_note": "note",
    "invalid_metadata": "metadata",
    "invalid_until": "disabled_until",
    "invalid_expiry": "expires_at",
    "invalid_rate_limit": "rate_limit",
    "invalid_scope": "banks",
    "invalid_role": "role",
    "invalid_opinion": "opinion",
    "invalid_giver": "giver",
    "too_many_items": "items",
    "bad_url": "url",
    "host_not_allowed": "url",
    "port_not_allowed": "url",
    "blocked_address": "url",
    "url_fetch_disabled": "url",
}


#: path prefixes that are HMA's contract (everything else, ``/v1`` first, is takeback's own)
HMA_PREFIXES = ("/c/", "/m/", "/h/", "/status")


#: takeback's own protections, which HMA does not have (API keys, roles, rate and size limits, the
#: URL-fetch guard): HMA has no answer to match, so they keep ``code`` on HMA routes too, and a
#: client can tell a revoked key from an expired one (docs/API.md lists them as the differences)
OWN_PROTECTIONS = frozenset(
    {
        "missing_key",
        "invalid_key",
        "key_revoked",
        "key_expired",
        "forbidden",
        "rate_limited",
        "payload_too_large",
        "request_timeout",
        "url_fetch_disabled",
        "host_not_allowed",
        "port_not_allowed",
        "blocked_address",
    }
)


def is_hma_path(path: str) -> bool:
    return path.startswith(HMA_PREFIXES)


def hma_status(status: int) -> int:
    """HMA's status for one of ours: its views check input by hand (400) and refuse a duplicate 403."""
    return {422: 400, 409: 403}.get(status, status)


def status_for(exc: TakebackError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, MediaError):
        if exc.code == media_codes.UNSUPPORTED_TYPE:
            return 415
        if exc.code == media_codes.FILE_TOO_LARGE:
            return 413
        return 422  # the decoder refused the content: its code says why
    return STATUS_BY_CODE.get(exc.code, 400)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return body


def _field_of(loc: Any) -> str:
    """``("query", "signal")`` -> ``signal``; ``("body", "hashes", 3)`` -> ``hashes[3]``."""
    parts = [p for p in loc if p not in ("query", "body", "path", "header", "form")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


async def _takeback_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TakebackError)
    return error_response(exc, hma=is_hma_path(request.url.path))


def error_response(exc: TakebackError, *, hma: bool = False) -> JSONResponse:
    """The JSON response for a domain error (status from the table above); ``hma``: in HMA's shape."""
    status = status_for(exc)
    field = getattr(exc, "field", None) or FIELD_BY_CODE.get(exc.code)
    headers = getattr(exc, "headers", None)
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    if status >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    if hma and exc.code not in OWN_PROTECTIONS:
        return JSONResponse({"message": exc.message}, status_code=hma_status(status), headers=headers)
    return JSONResponse(error_body(exc.code, exc.message, field), status_code=status, headers=headers)


def _pydantic_list(errors: Any) -> list[dict[str, Any]]:
    """HMA's 422 body: pydantic's errors with the location inside the model (no ``query``/``body``)."""
    out = []
    for e in errors:
        item = {k: v for k, v in dict(e).items() if k in ("type", "loc", "msg", "input", "ctx")}
        loc = list(item.get("loc", ()))
        item["loc"] = loc[1:] if loc and loc[0] in ("query", "body", "path") else loc
        out.append(item)
    encoded: list[dict[str, Any]] = jsonable_encoder(out, custom_encoder={BaseException: str})
    return encoded


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if is_hma_path(request.url.path):
        return JSONResponse(_pydantic_list(errors), status_code=422)
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = _field_of(first.get("loc", ()))
    msg = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return JSONResponse(
        error_body("invalid_request", f"{field}: {msg}{more}.", field),
        status_code=422,
    )


_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    if exc.status_code == 404 and message == "Not Found":
        message = "No such route; see /docs for the API."
    if is_hma_path(request.url.path) and code not in OWN_PROTECTIONS:
        return JSONResponse(
            {"message": message},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
    return JSONResponse(
        error_body(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never log request bodies or parameters (they may hold hashes of someone's images): type only.
    log.error("unexpected %s while serving a request", type(exc).__name__, exc_info=exc)
    if is_hma_path(request.url.path):
        return JSONResponse({"message": HMA_INTERNAL_ERROR}, status_code=500)
    return JSONResponse(
        error_body("internal_error", "The service hit an unexpected error; it has been logged."),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TakebackError, _takeback_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
