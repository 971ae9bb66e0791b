"""The guarded protocol on its own, fed bytes directly (no sockets): exactly how much of an endless
header it takes in before refusing, that a slow head is refused on time, and that a request whose
head arrives in one read arms no timer (the hot path)."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from takeback.web.protocol import GuardedHttpToolsProtocol, HeadLimits

LIMITS = HeadLimits(max_bytes=16 * 1024, max_line_bytes=4 * 1024, timeout_s=0.3)
CHUNK = 64 * 1024
KEEP_ALIVE = 0.6  # Uvicorn's keep-alive timeout: idle connections, fresh ones included


class Transport(asyncio.Transport):
    """Records what the protocol writes and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"OK"})


def _protocol() -> tuple[GuardedHttpToolsProtocol, Transport]:
    cls = GuardedHttpToolsProtocol.with_limits(LIMITS)
    config = Config(app=_app, http=cls, timeout_keep_alive=KEEP_ALIVE)
    proto = cls(config, ServerState(), {}, asyncio.get_running_loop())
    transport = Transport()
    proto.connection_made(transport)
    return proto, transport


def test_an_endless_header_is_refused_within_a_read_of_the_limit() -> None:
    async def run() -> tuple[int, bytes, bool]:
        proto, transport = _protocol()
        proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: ")
        fed = 0
        for _ in range(8 * 1024 * 1024 // CHUNK):  # 8 MB, as in the issue
            if transport.closed:
                break
            proto.data_received(b"z" * CHUNK)
            fed += CHUNK
        return fed, transport.written, transport.closed

    fed, written, closed = asyncio.run(run())
    assert closed and written.startswith(b"HTTP/1.1 431 "), written[:100]
    assert b'"code": "header_too_large"' in written
    # refused once the head passed the limit: the first read after it at the latest
    assert fed <= LIMITS.max_bytes + 2 * CHUNK, fed


def test_a_slow_head_is_408_and_an_idle_connection_just_closes() -> None:
    async def run() -> tuple[Transport, Transport, bool]:
        proto, slow = _protocol()
        await asyncio.sleep(LIMITS.timeout_s * 1.5)  # idle before the first byte: no head timer yet
        alive = not slow.closed
        proto.data_received(b"GET / HTTP/1.1\r\n")  # the head's clock starts here
        _, idle = _protocol()
        await asyncio.sleep(KEEP_ALIVE * 2)
        return slow, idle, alive

    slow, idle, alive_before_first_byte = asyncio.run(run())
    assert alive_before_first_byte
    assert slow.closed and slow.written.startswith(b"HTTP/1.1 408 "), slow.written[:100]
    assert idle.closed and idle.written == b""  # closed by the keep-alive timeout, no answer


def test_a_head_in_one_read_arms_no_timer_and_keep_alive_stays() -> None:
    async def run() -> tuple[GuardedHttpToolsProtocol, Transport]:
        proto, transport = _protocol()
        await asyncio.sleep(0)
        for _ in range(3):
            proto.data_received(b"GET /m/raw_lookup?signal=ab HTTP/1.1\r\nHost: x\r\n\r\n")
            assert proto._head_timer is None  # the hot-path claim itself
            await asyncio.sleep(0.01)  # the app answers
        await asyncio.sleep(LIMITS.timeout_s * 1.5)  # idle between requests: keep-alive, not a head
        return proto, transport

    _, transport = asyncio.run(run())
    assert transport.written.count(b"HTTP/1.1 200 OK") == 3 and not transport.closed


def test_an_unread_body_is_drained_briefly_then_the_connection_closes() -> None:
    """The app answers without reading the body: a body that then finishes leaves the connection
    alive (no reset under the client's feet); one that keeps dripping is cut at the header timeout."""

    async def run() -> tuple[Transport, bool, Transport]:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
        done, finished = _protocol()
        done.data_received(head)
        await asyncio.sleep(0.05)  # answered before the body came
        done.data_received(b"0123456789")
        await asyncio.sleep(LIMITS.timeout_s * 1.5)  # past the linger bound, within keep-alive
        alive = not finished.closed
        dripping, dripped = _protocol()
        dripping.data_received(head)
        for _ in range(int(LIMITS.timeout_s * 3 / 0.05)):
            await asyncio.sleep(0.05)
            if not dripped.closed:
                dripping.data_received(b"x")  # never the 10th byte in time
        return finished, alive, dripped

    finished, alive, dripped = asyncio.run(run())
    assert finished.written.startswith(b"HTTP/1.1 200") and alive
    assert dripped.written.startswith(b"HTTP/1.1 200") and dripped.closed
