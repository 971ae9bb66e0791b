"""Request-body limits as plain ASGI middleware: size (413) and time (408).

A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as it
streams and refused as soon as it passes the limit, so no upload can make the service buffer more
than ``max_upload_bytes`` (plus one network chunk). Time has two limits, both 408: a body that stops
arriving for ``body_timeout_s`` (a dead client), and a whole-body deadline, so a client dripping a
byte just inside that gap cannot hold a connection and a task for long either: the body must arrive
within ``body_deadline_s`` of the request, plus one second per ``body_min_rate`` bytes it holds (the
declared length, or what has arrived), so a large upload on a slow link still fits. The request head
has its own limits, in the protocol (``protocol.py``).
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _message(limit: int) -> str:
    return f"The request body is over the limit of {limit:,} bytes (TAKEBACK_MAX_UPLOAD_BYTES)."


class _TooLarge(HTTPException):
    """An HTTP exception, so FastAPI's body parsing passes it through and the JSON handler answers."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit))


class _TooSlow(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(408, message)


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        body_timeout_s: float = 30.0,
        body_deadline_s: float = 30.0,
        body_min_rate: int = 64 * 1024,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        self.body_deadline_s = body_deadline_s
        self.body_min_rate = body_min_rate

    async def _reject(self, send: Send, status: int = 413, message: str | None = None) -> None:
        code = "payload_too_large" if status == 413 else "request_timeout"
        body = json.dumps({"code": code, "message": message or _message(self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
                break
        seen = 0
        started = False
        body_done = False
        clock = asyncio.get_running_loop().time
        begun = clock()

        async def counting_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # afterwards the app only listens for a disconnect: no deadline
                return await receive()
            allowed = self.body_deadline_s + max(declared, seen) / self.body_min_rate
            left = begun + allowed - clock()
            try:
                if left <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), min(self.body_timeout_s, left))
            except TimeoutError:
                if left <= self.body_timeout_s:  # the deadline, not the gap, ended the wait
                    raise _TooSlow(
                        f"The request body did not arrive within {round(allowed, 1):g} s; "
                        "send it again, faster."
                    ) from None
                raise _TooSlow(
                    f"The request body stopped arriving for {self.body_timeout_s:g} s; send it again."
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:  # raised where no handler could answer it
            if started:
                raise
            await self._reject(send, exc.status_code, str(exc.detail))
