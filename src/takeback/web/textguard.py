"""Refuse a request whose address holds a NUL, before anything tries to store or look it up.

Why: PostgreSQL text cannot hold NUL (``%00``); a path value such as ``/c/bank/%00`` reached a
query and the driver raised, so the client saw a 500 where SQLite answered 404. No name, id or
parameter takeback knows can contain NUL, so the whole request is refused with a 400 that says why,
on every store alike. JSON bodies have the same rule in ``jsonbody.py``.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

_MESSAGE = "The request address holds a NUL character (%00); no name, id or parameter can contain one."


def _has_nul(scope: Scope) -> bool:
    if "\0" in scope.get("path", ""):
        return True
    query: bytes = scope.get("query_string", b"")
    return b"\0" in query or b"%00" in query


class RefuseNulAddresses:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_nul(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"code": "invalid_request", "message": _MESSAGE}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
