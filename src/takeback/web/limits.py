"""Request-body limits as plain ASGI middleware: size (413) and time (408).

A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as it
streams and refused as soon as it passes the limit, so no upload can make the service buffer more
than ``max_upload_bytes`` (plus one network chunk). A client that stops sending halfway through a
body (a slow-drip or dead client) gets 408 after ``body_timeout_s`` of silence instead of holding a
connection and a task forever.
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
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"The request body stopped arriving for {seconds:g} s; send it again.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, body_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

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

        async def counting_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # afterwards the app only listens for a disconnect: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                raise _TooSlow(self.body_timeout_s) from None
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
