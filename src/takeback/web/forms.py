"""Reading an urlencoded form: bounded (a huge body is refused, never parsed) and strict (bad
UTF-8 or too many fields is a clear refusal). The portal and the staff pages read forms this way."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from fastapi import Request

from takeback.errors import TakebackError


class FormError(TakebackError):
    code = "invalid_request"


@dataclass(frozen=True)
class Form:
    """First value of each field (``get``), every value of a repeated one (``all``)."""

    first: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.first.get(name, default)

    def all(self, name: str) -> list[str]:
        return self.lists.get(name, [])


async def read_form(request: Request, *, max_bytes: int, max_fields: int = 2000) -> Form:
    body = await request.body()
    if len(body) > max_bytes:
        raise FormError("The form is too large.", code="too_large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise FormError("The form could not be read.", code="invalid_request") from None
    form = Form()
    for k, v in pairs:
        form.first.setdefault(k, v)
        form.lists.setdefault(k, []).append(v)
    return form
