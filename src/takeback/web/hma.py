"""HMA's wire conventions, in one place, for the routes that are HMA's contract (``/c``, ``/m``, ``/h``).

HMA (OpenMediaMatch) names video MD5 ``video_md5``, hashes a ``photo`` to PDQ and a ``video`` to MD5,
answers errors as ``{"message": ...}`` (400 for what its views check by hand), and reads a few
booleans as "the string true, any case". The routes call these helpers so each quirk is written once;
takeback's own names and richer errors stay on ``/v1``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from takeback.signals import REGISTRY
from takeback.web.errors import ApiError
from takeback.web.jsonbody import JsonBodyError, loads_bounded

#: takeback signal-type name -> HMA's (only the ones that differ: each type's ``hma_name``)
HMA_NAME = {t.name: t.hma_name for t in REGISTRY.values() if t.hma_name}
#: HMA's name -> takeback's
TAKEBACK_NAME = {v: k for k, v in HMA_NAME.items()}
#: HMA's signal types, in HMA's order (takeback's other types answer only where asked for by name)
HMA_SIGNAL_TYPES = ("pdq", "video_md5")
#: HMA content type -> the (takeback) signal types HMA computes for it
CONTENT_SIGNALS = {"photo": ("pdq",), "video": ("md5",)}
#: HMA's limit on a note
MAX_NOTE = 255
#: HMA's bank-name rule (fullmatch), at most 255 characters
BANK_NAME_MESSAGE = "Bank names must be UPPER_WITH_UNDERSCORE"

NOT_JSON = "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
BAD_JSON = "The browser (or proxy) sent a request that this server could not understand."


def fail(message: str, status: int = 400) -> ApiError:
    """An error in HMA's shape (``{"message"}``; the handler drops the code on HMA paths)."""
    return ApiError(message, code="hma", status=status)


def hma_name(name: str) -> str:
    return HMA_NAME.get(name, name)


def takeback_name(name: str) -> str:
    return TAKEBACK_NAME.get(name, name)


def hma_signals(values: dict[str, str]) -> dict[str, str]:
    """``{takeback type: hex}`` -> ``{HMA type: hex}``."""
    return {hma_name(k): v for k, v in values.items()}


def true_flag(value: str | None, default: bool = False) -> bool:
    """HMA's hand-read booleans: only the string ``true`` (any case) is true."""
    return default if value is None else value.lower() == "true"


_BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,254}")


def valid_bank_name(name: Any) -> bool:
    return isinstance(name, str) and _BANK_NAME.fullmatch(name) is not None


async def json_body(request: Request) -> Any:
    """``request.get_json()`` as HMA's views call it: 415 unless JSON, 400 for malformed JSON."""
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        raise fail(NOT_JSON, 415)
    raw = await request.body()
    try:
        return loads_bounded(raw.decode("utf-8"))
    except (JsonBodyError, UnicodeDecodeError):
        raise fail(BAD_JSON) from None


def check_note(note: Any) -> str | None:
    """HMA's note: falsy means none; else a string of at most 255 characters."""
    if not note:
        return None
    if not isinstance(note, str):
        raise fail("note should be a string")
    if len(note) > MAX_NOTE:
        raise fail(f"note must be at most {MAX_NOTE} characters")
    return note


class Metadata(BaseModel):
    """HMA's content metadata: exactly these optional keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    content_id: str | None = None
    content_uri: str | None = None
    json_data: dict[str, Any] | None = Field(None, alias="json")


def check_metadata(raw: Any) -> dict[str, Any]:
    """HMA's metadata: an object of ``content_id``/``content_uri``/``json`` (``collab`` dropped);
    null values are left out, and nothing left means no metadata."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail("metadata should be a json object")
    raw = {k: v for k, v in raw.items() if k != "collab"}
    try:
        return Metadata.model_validate(raw).model_dump(by_alias=True, exclude_none=True)
    except ValidationError as exc:
        raise fail(f"Invalid metadata: {exc}") from None


def metadata_form_field(raw: str | None) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return loads_bounded(raw)  # json.loads would recurse into a hostile nesting (a 500)
    except JsonBodyError:
        raise fail("metadata form field must be valid JSON") from None
