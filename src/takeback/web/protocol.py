"""Uvicorn's httptools protocol with the request-head limits it lacks: size and time.

Why a protocol class: the ASGI app only sees a request once its head (request line and headers) is
complete, so nothing in the app can refuse an 8-MB header or a client that sends its headers one
byte a second (slow-loris): Uvicorn's httptools protocol buffers the first without limit and waits
for the second forever (``h11_max_incomplete_event_size`` applies to the slower h11 protocol only).
``takeback serve`` runs Uvicorn with ``--http takeback.web.protocol:GuardedHttpToolsProtocol``:

* **size**: the request line and headers together may hold ``TAKEBACK_MAX_HEADER_BYTES`` (64 KiB),
  each header line ``TAKEBACK_MAX_HEADER_LINE_BYTES`` (8 KiB); over either: **431** (a request line
  over the total: **414**) and the connection closes. Counted from the parser's callbacks, and from
  the raw bytes while a head is incomplete, so an endless header line is cut at the limit;
* **time**: a request head must arrive within ``TAKEBACK_HEADER_TIMEOUT_SECONDS`` (20 s) of its
  first byte, else **408** and the connection closes. Before the first byte a connection is idle,
  as between requests: Uvicorn's keep-alive timeout (30 s under ``takeback serve``) closes it, now
  also for a new connection that never sends anything (Uvicorn only armed it after a response);
* **unread bodies**: when the response is sent before the request body has arrived (a 401, a 403,
  a GET with a body), the rest is read and dropped for at most the header timeout, then the
  connection closes, so a body no one reads cannot hold it open either (a body that does finish
  leaves the connection alive). Bodies that are read have their own deadlines (``limits.py``).

On the hot path (a lookup whose head arrives in one packet) this adds a few comparisons per header
and no timer: the head timer is only armed when a head is still incomplete after a read.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

_PHRASES = {408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large"}
_CODES = {408: "request_timeout", 414: "uri_too_long", 431: "header_too_large"}


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int = 64 * 1024
    max_line_bytes: int = 8 * 1024
    timeout_s: float = 20.0

    @classmethod
    def from_settings(cls) -> HeadLimits:
        from takeback.config import get_settings

        s = get_settings()
        return cls(s.max_header_bytes, s.max_header_line_bytes, s.header_timeout_seconds)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    #: the limits every connection of this class enforces; ``None``: from ``TAKEBACK_*`` settings
    limits: ClassVar[HeadLimits | None] = None

    @classmethod
    def with_limits(cls, limits: HeadLimits) -> type[GuardedHttpToolsProtocol]:
        """A subclass enforcing ``limits`` (for a server started in-process, e.g. by tests)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        cls = type(self)
        if cls.limits is None:
            cls.limits = HeadLimits.from_settings()
        self._limits = cls.limits
        #: loop time the head in progress began (its first byte); None: no head in progress
        self._head_since: float | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None  # an answered request's body still due
        self._head_bytes = 0  # request line and header lines seen by the parser
        self._raw_head_bytes = 0  # raw bytes of reads that began and ended inside the head
        self._in_message = False  # from a request's first byte to the end of its body
        self._in_head = False  # from a request's first byte to the end of its headers
        self._refused = False
        self._refusal: tuple[int, str] = (400, "")

    # --- connection -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Before its first byte a connection is idle, as between requests: Uvicorn's keep-alive
        # timeout closes it (Uvicorn arms it only after a response). The head timer starts at the
        # first byte, so a loaded server slow to read a waiting request does not count against it.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered and closing: nothing more is parsed
        head_before = self._in_head
        super().data_received(data)
        if self._refused:
            self._answer_refusal()
            return
        if self._in_head and not self.transport.is_closing():
            if head_before:  # this read began and ended inside the head: all of it is head
                self._raw_head_bytes += len(data)
                if self._raw_head_bytes > self._limits.max_bytes:
                    self._refuse(431, f"The request headers are over {self._limits.max_bytes:,} bytes.")
                    self._answer_refusal()
                    return
            self._arm_head_timer()

    def send_400_response(self, msg: str) -> None:
        if self._refused:  # the parser choked on what followed a refused head: answer the refusal
            self._answer_refusal()
        else:
            super().send_400_response(msg)

    def on_response_complete(self) -> None:
        # Is the parser inside the body of the request just answered (the latest cycle; a pipelined
        # later request would have a cycle of its own, not yet answered)? Nobody will read the rest.
        answered = self.cycle is not None and self.cycle.response_complete
        unread = self._in_message and not self._in_head and answered
        super().on_response_complete()
        if unread and not self.transport.is_closing():
            # Read and drop the rest for a while, then close: closing at once would reset the
            # connection under data still arriving, and the reset can destroy the response on its
            # way to the client; waiting without a bound would let a dripping body hold it open.
            self._linger_timer = self.loop.call_later(self._limits.timeout_s, self._linger_over)

    # --- parser callbacks -----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._in_message = self._in_head = True
        self._head_bytes = self._raw_head_bytes = 0
        if self._head_since is None:
            self._head_since = self.loop.time()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        if len(self.url) + len(url) > self._limits.max_bytes:
            self._refuse(414, f"The request line is over {self._limits.max_bytes:,} bytes.")
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        line = len(name) + len(value) + 4  # "name: value\r\n"
        if line > self._limits.max_line_bytes:
            self._refuse(431, f"A request header line is over {self._limits.max_line_bytes:,} bytes.")
            return
        self._head_bytes += line
        if len(self.url) + self._head_bytes > self._limits.max_bytes:
            self._refuse(431, f"The request headers are over {self._limits.max_bytes:,} bytes.")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._head_since = None
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_message = False
        super().on_message_complete()
        if self._linger_timer is not None:  # an answered request's unread body is done: idle now
            self._linger_timer.cancel()
            self._linger_timer = None
            if self.timeout_keep_alive_task is None and not self.transport.is_closing():
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def _linger_over(self) -> None:
        self._linger_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    # --- refusing -------------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None and self._head_since is not None:
            deadline = self._head_since + self._limits.timeout_s
            self._head_timer = self.loop.call_at(deadline, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._refused or not self._in_head:
            return
        self._refuse(408, f"The request headers did not arrive within {self._limits.timeout_s:g} s.")
        self._answer_refusal()

    def _refuse(self, status: int, message: str) -> None:
        """Stop parsing this connection; :meth:`_answer_refusal` answers once the read is done."""
        if not self._refused:
            self._refused = True
            self._refusal = (status, message)

    def _answer_refusal(self) -> None:
        self._disarm_head_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # a pipelined request's head went wrong while the one before is still being answered:
            # let that response finish, then close (no second response written into it)
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        status, message = self._refusal
        body = json.dumps({"code": _CODES[status], "message": message}).encode()
        head = (
            f"HTTP/1.1 {status} {_PHRASES[status]}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        self.logger.info("refused a request: %s", message)
        self.transport.write(head + body)
        self.transport.close()
