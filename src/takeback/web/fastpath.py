"""A short way in for the hottest routes: ``GET /m/raw_lookup`` and ``GET /m/lookup?signal=...``.

Why: FastAPI's routing, dependency solving and parameter validation cost about as much CPU as the
lookup itself (measured in-process: ~330 µs of ~700 µs per request). For these two routes this
middleware parses the query string, authenticates with the same key cache, and calls **the same
route functions** (``api.matching.raw_lookup`` / ``lookup_get``) with the same arguments, so there is
still one implementation of each route. Anything it does not recognise exactly — another parameter,
a repeated one, a boolean that is not ``true``/``false``/``1``/``0``, a URL lookup — goes to FastAPI
unchanged, which then answers as it always would (including its 422s).

The answers are documented by those routes' ``response_model`` (``web/responses.py``) in
``/openapi.json``; here they are rendered as the route returned them, never validated by pydantic
on the way out (``tests/web/test_openapi.py`` checks them against the document instead).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from takeback.auth import Permission
from takeback.errors import TakebackError
from takeback.web.errors import error_response
from takeback.web.security import api_token

_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def _routes() -> dict[str, tuple[Callable[..., Awaitable[Any]], frozenset[str], frozenset[str]]]:
    from takeback.web.api.matching import lookup_get, raw_lookup

    return {
        # path: (route function, string parameters, boolean parameters)
        "/m/raw_lookup": (
            raw_lookup,
            frozenset({"signal_type", "signal", "banks"}),
            frozenset({"include_distance"}),
        ),
        "/m/lookup": (
            lookup_get,
            frozenset({"signal_type", "signal", "banks", "seed", "bypass_coinflip"}),
            frozenset({"include_metadata"}),
        ),
    }


class FastLookups:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = _routes()

    def _arguments(
        self, scope: Scope
    ) -> tuple[Callable[..., Awaitable[Any]], dict[str, Any], str | None] | None:
        route = self.routes.get(scope["path"])
        if route is None:
            return None
        func, texts, flags = route
        try:
            pairs = parse_qsl(
                scope["query_string"].decode("latin-1"), keep_blank_values=True, strict_parsing=False
            )
        except ValueError:
            return None
        kwargs: dict[str, Any] = {}
        for name, value in pairs:
            if name in kwargs:
                return None  # repeated parameter: let FastAPI decide
            if name in texts:
                kwargs[name] = value
            elif name in flags:
                flag = _BOOLS.get(value.lower())
                if flag is None:
                    return None
                kwargs[name] = flag
            else:
                return None
        if "signal" not in kwargs or "signal_type" not in kwargs:
            return None  # URL lookups and missing parameters take the documented way
        authorization = x_api_key = None  # the first of each, as Starlette's headers.get reads them
        for header, value in scope["headers"]:
            if header == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif header == b"x-api-key" and x_api_key is None:
                x_api_key = value.decode("latin-1")
        return func, kwargs, api_token(authorization, x_api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        parsed = self._arguments(scope)
        if parsed is None:
            await self.app(scope, receive, send)
            return
        func, kwargs, token = parsed
        state = scope["app"].state.takeback
        try:
            caller = await state.keys.authenticate(token)
            caller.require(Permission.LOOKUP)
            response: JSONResponse = JSONResponse(await func(caller=caller, state=state, **kwargs))
        except TakebackError as exc:
            response = error_response(exc, hma=True)
        await response(scope, receive, send)
