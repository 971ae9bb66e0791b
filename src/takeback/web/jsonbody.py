"""THE way the service parses JSON from a client: strict and bounded, in one place.

Why: Python's ``json`` builds whatever it is given. ``{"a":`` repeated 100,000 times raises a
``RecursionError``; a structure 900 levels deep parses and then breaks whatever walks it next (a
validator, the database driver, the response encoder); a 100,000-digit number raises ``ValueError``;
``NaN`` and ``Infinity`` are not JSON at all and a response that echoes them cannot be encoded;
duplicate keys mean different things to different parsers; a lone surrogate (``"\\ud800"``) or a
NUL cannot be stored as text. Every JSON body and every JSON form field goes through
:func:`loads_bounded`, which refuses all of these with a sentence, so no body can reach a handler in
a shape that makes it fail with a 500.

FastAPI parses a route's JSON body with ``Request.json()``, and routes that read the body
themselves call the same method, so :class:`GuardedRoute` (every router's ``route_class``) hands
handlers a :class:`GuardedRequest` whose ``json()`` is :func:`loads_bounded`: one parse, one set of
rules, for both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

#: how deep objects and arrays may nest (takeback's own bodies nest 3 deep; metadata a few more)
MAX_DEPTH = 32
#: characters in one number literal (a 64-bit integer has 20; a double needs about 25)
MAX_NUMBER_CHARS = 100


class JsonBodyError(ValueError):
    """Text that is not JSON, or JSON outside the service's bounds; the message says which."""


class InvalidJson(HTTPException):
    """An HTTP exception, so FastAPI's body parsing passes it through and the handler answers 400."""

    code = "invalid_json"

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonBodyError(f"the key {key[:50]!r} appears twice in one object")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise JsonBodyError(f"{name} is not a JSON value")


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonBodyError(f"a number of {len(text):,} characters is over the limit of {MAX_NUMBER_CHARS}")
    value = float(text)
    if not math.isfinite(value):
        raise JsonBodyError(f"the number {text[:30]} is too large")
    return value


def _int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonBodyError(f"a number of {len(text):,} digits is over the limit of {MAX_NUMBER_CHARS}")
    return int(text)


def _too_deep(value: Any) -> bool:
    """Whether containers nest deeper than ``MAX_DEPTH`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _bad_text(value: Any) -> str | None:
    """A string (or key) no store can hold as text: a lone surrogate or a NUL; else ``None``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\0" in item:
                return "a NUL character (\\u0000) in a string"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "an unpaired surrogate (\\ud800-\\udfff) in a string"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def loads_bounded(data: bytes | str) -> Any:
    """Parse JSON text (UTF-8; a leading byte-order mark is ignored) within the bounds above.

    Raises :class:`JsonBodyError` for anything that is not strict RFC 8259 JSON inside them.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonBodyError(f"it is not UTF-8 text (bad byte at offset {exc.start})") from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float, parse_int=_int
        )
    except json.JSONDecodeError as exc:
        raise JsonBodyError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except RecursionError:
        raise JsonBodyError(f"it nests deeper than {MAX_DEPTH} levels") from None
    # Cheap pre-checks keep the walks off ordinary bodies (a 10,000-hash batch has two brackets).
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise JsonBodyError(f"it nests deeper than {MAX_DEPTH} levels")
    if "\\u" in text or "\\U" in text:
        why = _bad_text(value)
        if why is not None:
            raise JsonBodyError(f"it holds {why}")
    return value


class GuardedRequest(Request):
    """A request whose ``json()`` is :func:`loads_bounded` (a refusal is 400 ``invalid_json``)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads_bounded(await self.body())
            except JsonBodyError as exc:
                raise InvalidJson(f"The request body is not acceptable JSON: {exc}.") from None
        return self._json


class GuardedRoute(APIRoute):
    """A route whose handler (and FastAPI's body parsing for it) sees a :class:`GuardedRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            return await handler(GuardedRequest(request.scope, request.receive))

        return guarded
