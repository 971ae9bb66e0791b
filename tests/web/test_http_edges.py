"""The server's edges over real sockets, against a real ``takeback serve`` with its limits lowered:
request heads are bounded in size (431/414) and time (408), a request body must arrive within a
whole-body deadline (408) and not only within a gap, and a body nobody reads cannot hold a
connection open. The generous client-side waits below only decide when the test gives up."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.procserver import ServeProcess, start_serve

HEAD_TIMEOUT = 2
BODY_GAP = 5
BODY_DEADLINE = 3
MAX_HEAD = 16 * 1024
MAX_LINE = 4 * 1024
GIVE_UP = 30.0  # seconds a client waits for the server to act; far above every limit


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    srv = start_serve(
        tmp_path_factory.mktemp("edges") / "data",
        extra_env={
            "TAKEBACK_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
            "TAKEBACK_MAX_HEADER_BYTES": str(MAX_HEAD),
            "TAKEBACK_MAX_HEADER_LINE_BYTES": str(MAX_LINE),
            "TAKEBACK_BODY_TIMEOUT_SECONDS": str(BODY_GAP),
            "TAKEBACK_BODY_DEADLINE_SECONDS": str(BODY_DEADLINE),
        },
    )
    try:
        yield srv
    finally:
        srv.kill()


def _connect(serve: ServeProcess) -> socket.socket:
    port = int(serve.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (or GIVE_UP passes: then the test fails on what it got)."""
    out = b""
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            return out + b"<closed>"
        out += chunk
    return out


def _drip(sock: socket.socket, data: bytes, every: float) -> tuple[bytes, int]:
    """Send ``data`` a byte at a time until the server answers or closes: (reply, bytes sent)."""
    sock.settimeout(every)
    sent = 0
    deadline = time.monotonic() + GIVE_UP
    for byte in data:
        if time.monotonic() > deadline:
            break
        try:
            reply = sock.recv(65536)
            sock.settimeout(GIVE_UP)
            return reply + _read_all(sock) if reply else b"<closed>", sent
        except TimeoutError:
            pass
        except ConnectionResetError:
            return b"<reset>", sent
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            sock.settimeout(GIVE_UP)
            return _read_all(sock), sent
        sent += 1
    return b"<no answer>", sent


def test_a_header_line_over_the_limit_is_431(serve: ServeProcess) -> None:
    with _connect(serve) as sock:
        big = b"X-Big: " + b"a" * MAX_LINE + b"\r\n"
        sock.sendall(b"GET /status/live HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
    assert b"header_too_large" in reply and reply.endswith(b"<closed>")


def test_headers_over_the_total_are_431_and_a_long_request_line_414(serve: ServeProcess) -> None:
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(MAX_HEAD // 1000 + 2))
    with _connect(serve) as sock:
        sock.sendall(b"GET /status/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
    with _connect(serve) as sock:
        sock.sendall(b"GET /status/live?" + b"q" * MAX_HEAD + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 414"), reply[:200]


def test_an_8_mb_header_is_cut_off_at_the_limit(serve: ServeProcess) -> None:
    """The issue's request: 8 MB in one header, never finished. The server stops reading it near the
    limit (the client cannot send it all) and answers 431 if the client is still there to hear it."""
    with _connect(serve) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.sendall(b"GET /status/live HTTP/1.1\r\nHost: x\r\nX-Huge: ")
        sent, reply = 0, b""
        chunk = b"z" * 65536
        try:
            while sent < 8 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        with contextlib.suppress(OSError):
            reply = _read_all(sock)
    assert sent < 4 * 1024 * 1024, f"the server kept reading: {sent:,} bytes accepted"
    assert reply == b"" or reply.startswith(b"HTTP/1.1 431"), reply[:200]


def test_a_slow_loris_head_is_408_after_the_header_timeout(serve: ServeProcess) -> None:
    head = b"GET /status/live HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"s" * 200 + b"\r\n\r\n"
    with _connect(serve) as sock:
        reply, sent = _drip(sock, head, every=0.25)
    assert reply.startswith(b"HTTP/1.1 408"), (reply[:200], sent)
    assert b"request_timeout" in reply and sent < len(head)


def test_a_dripping_body_is_408_at_the_whole_body_deadline(serve: ServeProcess) -> None:
    """One byte a second never trips the 5-s gap; the 3-s whole-body deadline ends it."""
    assert serve.admin
    body = b'{"name": "' + b"d" * 200 + b'"}'
    head = (
        f"POST /c/banks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {serve.admin}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(serve) as sock:
        sock.sendall(head)
        reply, sent = _drip(sock, body, every=1.0)
    assert reply.startswith(b"HTTP/1.1 408"), (reply[:300], sent)
    assert b"did not arrive within" in reply and sent < len(body)


def test_a_body_nobody_reads_does_not_hold_the_connection(serve: ServeProcess) -> None:
    """A GET whose body keeps dripping: answered, then closed while the client still drips (it used
    to be kept alive for as long as the drip went on)."""
    with _connect(serve) as sock:
        sock.sendall(b"GET /status/live HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        sock.settimeout(0.5)
        got, closed = b"", False
        deadline = time.monotonic() + GIVE_UP
        while not closed and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
                got += chunk
                closed = not chunk
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert closed, "the connection stayed open while the unread body dripped"


def test_ordinary_requests_keep_working(serve: ServeProcess) -> None:
    """Keep-alive, pipelining, a head split across reads, headers just inside the limits."""
    line = b"X-Fits: " + b"f" * (MAX_LINE - 20) + b"\r\n"
    req = b"GET /status/live HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n"
    with _connect(serve) as sock:
        sock.sendall(req + req)  # pipelined
        sock.sendall(req[:30])
        time.sleep(HEAD_TIMEOUT / 4)
        sock.sendall(req[30:] + b"GET /status/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = _read_all(sock)
    assert reply.count(b"HTTP/1.1 200") == 4, reply[:500]
    # a keep-alive connection idle between requests is not a slow head: it still works after the
    # header timeout (until Uvicorn's keep-alive timeout)
    with _connect(serve) as sock:
        sock.sendall(b"GET /status/live HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"\r\n\r\nI-AM-ALIVE"):  # /status/live answers as HMA's
            first += sock.recv(65536)
        time.sleep(HEAD_TIMEOUT + 1)
        sock.sendall(b"GET /status/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        second = _read_all(sock)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200"), (first, second)


def test_serve_runs_the_guarded_protocol(serve: ServeProcess) -> None:
    from takeback.cli.serve_cmd import HTTP_PROTOCOL

    assert HTTP_PROTOCOL == "takeback.web.protocol:GuardedHttpToolsProtocol"
    assert Path(serve.log).exists()
