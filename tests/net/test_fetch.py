"""The SSRF-safe fetcher against a real local HTTP server: loopback refused unless a test allows it."""

from __future__ import annotations

import hashlib
import http.server
import ipaddress
import threading
import time
import typing
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from takeback.net.fetch import (
    FetchError,
    FetchPolicy,
    blocked_reason,
    fetch_to_file,
    fetch_url_bytes,
    resolve_as_public,
)

BODY = b"\x89PNG\r\n\x1a\n" + b"evidence bytes " * 1000
LOOPBACK_OK = FetchPolicy(allow_loopback=True, timeout_s=10)


class Handler(http.server.BaseHTTPRequestHandler):
    routes: typing.ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
    drip = False

    def do_GET(self) -> None:
        if self.path == "/drip":
            self.send_response(200)
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
            return
        if self.path == "/endless":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the limit must be counted while streaming
            try:
                for _ in range(10_000):
                    self.wfile.write(b"y" * 4096)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    Handler.routes = {
        "/img.png": (200, {"Content-Type": "image/png"}, BODY),
        "/to-img": (302, {"Location": "/img.png"}, b""),
        "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        "/to-private": (301, {"Location": "http://10.0.0.1/admin"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/big": (200, {}, b"z" * 5000),
        "/gone": (410, {}, b"gone"),
    }
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield base
    srv.shutdown()
    srv.server_close()


def test_loopback_is_refused_by_default_by_address_and_by_name(server: str, tmp_path: Path) -> None:
    port = server.rsplit(":", 1)[1]
    for url in (
        f"{server}/img.png",
        f"http://localhost:{port}/img.png",
        f"http://[::ffff:127.0.0.1]:{port}/x",
    ):
        dest = tmp_path / "out"
        with pytest.raises(FetchError) as err:
            fetch_to_file(url, dest)
        assert err.value.code == "blocked_address", url
        assert "loopback" in err.value.message
        assert not dest.exists()
    # a decimal-encoded loopback address is caught after resolution too
    with pytest.raises(FetchError) as err:
        fetch_to_file(f"http://2130706433:{port}/img.png", tmp_path / "o2")
    assert err.value.code == "blocked_address"


def test_allowed_loopback_fetches_and_follows_a_safe_redirect(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    r = fetch_to_file(f"{server}/to-img", dest, policy=LOOPBACK_OK)
    assert dest.read_bytes() == BODY
    assert (r.status, r.size, r.sha256) == (200, len(BODY), hashlib.sha256(BODY).hexdigest())
    assert r.final_url == f"{server}/img.png" and r.redirects == [f"{server}/to-img"]
    assert (r.content_type, r.peer) == ("image/png", "127.0.0.1")
    assert dest.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/to-metadata", "blocked_address"),
        ("/to-private", "blocked_address"),
        ("/to-file", "bad_url"),
        ("/loop", "too_many_redirects"),
        ("/gone", "http_error"),
    ],
)
def test_every_redirect_is_checked_and_errors_leave_no_file(
    server: str, tmp_path: Path, path: str, code: str
) -> None:
    dest = tmp_path / "out"
    with pytest.raises(FetchError) as err:
        fetch_to_file(f"{server}{path}", dest, policy=LOOPBACK_OK)
    assert err.value.code == code
    assert not dest.exists()


def test_size_and_time_limits(server: str, tmp_path: Path) -> None:
    small = FetchPolicy(allow_loopback=True, max_bytes=1000)
    with pytest.raises(FetchError) as err:
        fetch_to_file(f"{server}/big", tmp_path / "a", policy=small)
    assert err.value.code == "too_large" and "5,000 bytes" in err.value.message
    with pytest.raises(FetchError) as err:
        fetch_to_file(
            f"{server}/endless", tmp_path / "b", policy=FetchPolicy(allow_loopback=True, max_bytes=100_000)
        )
    assert err.value.code == "too_large"
    assert not (tmp_path / "b").exists()
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch_to_file(
            f"{server}/drip",
            tmp_path / "c",
            policy=FetchPolicy(allow_loopback=True, timeout_s=1.0, read_timeout_s=5.0),
        )
    assert err.value.code == "timeout"
    assert time.monotonic() - started < 4  # the overall deadline, not the per-read timeout, stopped it


def test_url_shape_and_policy(tmp_path: Path) -> None:
    cases = {
        "ftp://example.com/x": "bad_url",
        "file:///etc/passwd": "bad_url",
        "gopher://example.com/": "bad_url",
        "http://user:pw@example.com/": "bad_url",
        "http:///nohost": "bad_url",
        "http://example.com:99999/": "bad_url",
    }
    for url, code in cases.items():
        with pytest.raises(FetchError) as err:
            fetch_to_file(url, tmp_path / "x")
        assert err.value.code == code, url
    with pytest.raises(FetchError) as err:
        fetch_to_file(
            "https://other.example/x", tmp_path / "x", policy=FetchPolicy(allowed_hosts=frozenset({"a.b"}))
        )
    assert err.value.code == "host_not_allowed"
    with pytest.raises(FetchError) as err:
        fetch_to_file(
            "https://a.b:8443/x",
            tmp_path / "x",
            policy=FetchPolicy(allowed_hosts=frozenset({"a.b"}), allowed_ports=frozenset({443})),
        )
    assert err.value.code == "port_not_allowed"
    with pytest.raises(FetchError) as err:
        fetch_to_file("http://no-such-host.invalid/x", tmp_path / "x")
    assert err.value.code == "dns_failed"


@pytest.mark.parametrize(
    ("ip", "blocked"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("100.100.100.200", True),  # Alibaba metadata (carrier-grade NAT range)
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fd00:ec2::254", True),  # AWS IPv6 metadata
        ("fe80::1", True),
        ("::ffff:169.254.169.254", True),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("::ffff:8.8.8.8", False),
    ],
)
def test_address_rules(ip: str, blocked: bool) -> None:
    assert (blocked_reason(ipaddress.ip_address(ip)) is not None) == blocked
    if ip in ("127.0.0.1", "::1"):
        assert blocked_reason(ipaddress.ip_address(ip), allow_loopback=True) is None
    if ip == "169.254.169.254":
        assert blocked_reason(ipaddress.ip_address(ip), allow_loopback=True) is not None


#: IPv6 forms that embed a private, loopback or metadata IPv4 address, or are not global unicast
EMBEDDING_FORMS = [
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("::8.8.8.8", "IPv4-compatible (deprecated, even when public)"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:0:169.254.169.254", "IPv4-translated metadata"),
    ("2002:7f00:1::1", "6to4 of loopback"),
    ("2002:a9fe:a9fe::", "6to4 of metadata"),
    ("64:ff9b::127.0.0.1", "NAT64 of loopback"),
    ("64:ff9b::192.168.0.1", "NAT64 of private"),
    ("64:ff9b:1::7f00:1", "local-use NAT64"),
    ("64:ff9b:1:0:808:808::", "local-use NAT64, public-looking"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo, client 127.0.0.1 (XORed)"),
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "Teredo, server 10.0.0.1"),
    ("2607:f8b0::5efe:7f00:1", "ISATAP of loopback"),
    ("2607:f8b0::200:5efe:a9fe:a9fe", "ISATAP (u/l bit set) of metadata"),
    ("4000::1", "outside 2000::/3"),
    ("100::1", "discard prefix"),
    ("ff0e::1", "global-scope multicast"),
]


@pytest.mark.parametrize(("ip", "what"), EMBEDDING_FORMS, ids=[w for _, w in EMBEDDING_FORMS])
def test_ipv6_forms_embedding_private_ipv4_are_refused(ip: str, what: str) -> None:
    assert blocked_reason(ipaddress.ip_address(ip)) is not None, what
    if "loopback" not in what:  # the tests' loopback allowance opens loopback only
        assert blocked_reason(ipaddress.ip_address(ip), allow_loopback=True) is not None, what


@pytest.mark.parametrize(
    "ip", ["2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "2a00:1450::1"]
)
def test_global_unicast_and_public_embeddings_are_allowed(ip: str) -> None:
    assert blocked_reason(ipaddress.ip_address(ip)) is None


def test_refusal_happens_before_any_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Literal addresses and names resolving to them: refused with blocked_address, and the network
    backend's connect is never called (it records any attempt instead of connecting)."""
    import socket

    import httpcore

    attempts: list[str] = []

    def connect_tcp(self: object, host: str, port: int, *args: object, **kw: object) -> typing.NoReturn:
        attempts.append(host)
        raise httpcore.ConnectError("the test refuses every connection")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    real = socket.getaddrinfo
    answers: dict[str, str] = {}

    def getaddrinfo(host: str, port: int, *args: typing.Any, **kw: typing.Any) -> typing.Any:
        if host in answers:  # a hostile DNS answer, no resolver asked
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (answers[host], port, 0, 0))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for i, (ip, what) in enumerate(EMBEDDING_FORMS):
        answers[f"h{i}.example"] = ip
        for url in (f"http://[{ip}]:8080/x", f"http://h{i}.example/x"):
            with pytest.raises(FetchError) as err:
                fetch_to_file(url, tmp_path / "x")
            assert err.value.code == "blocked_address", (what, url, err.value.message)
            assert not (tmp_path / "x").exists()
    assert attempts == []


def test_service_url_hashing_is_off_without_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TAKEBACK_URL_ALLOWLIST", raising=False)
    with pytest.raises(FetchError) as err:
        fetch_url_bytes("https://example.com/x.jpg", settings=SimpleNamespace())
    assert err.value.code == "url_fetch_disabled"
    with pytest.raises(FetchError) as err:
        fetch_url_bytes(
            "https://example.com/x.jpg", settings=SimpleNamespace(url_allowlist="cdn.example.org")
        )
    assert err.value.code == "host_not_allowed"


def test_a_test_only_stand_in_makes_one_host_public_and_nothing_else(server: str, tmp_path: Path) -> None:
    """``resolve_as_public`` (the HMA twins' image server): only the named host, only inside the
    block; redirects to private addresses and the allow-list still apply."""
    port = server.rsplit(":", 1)[1]
    allow = SimpleNamespace(url_allowlist="127.0.0.1,localhost,10.0.0.1,169.254.169.254")
    with pytest.raises(FetchError) as err:  # production: loopback refused, allow-listed or not
        fetch_url_bytes(f"{server}/img.png", settings=allow)
    assert err.value.code == "blocked_address"
    with resolve_as_public("127.0.0.1", "127.0.0.1"):
        assert fetch_url_bytes(f"{server}/img.png", settings=allow) == BODY
        for url, code in (
            (f"http://localhost:{port}/img.png", "blocked_address"),  # another name: checked as ever
            (f"{server}/to-private", "blocked_address"),  # a redirect leaving the stand-in
            (f"{server}/to-metadata", "blocked_address"),
        ):
            with pytest.raises(FetchError) as err:
                fetch_url_bytes(url, settings=allow)
            assert err.value.code == code, url
        with pytest.raises(FetchError) as err:
            fetch_url_bytes(f"{server}/img.png", settings=SimpleNamespace(url_allowlist="example.org"))
        assert err.value.code == "host_not_allowed"
        with pytest.raises(RuntimeError), resolve_as_public("127.0.0.1", "127.0.0.1"):
            pass  # one stand-in per host at a time
        with pytest.raises(ValueError):
            resolve_as_public("cdn.example.org", "not-an-address").__enter__()
    with pytest.raises(FetchError) as err:  # gone again after the block
        fetch_url_bytes(f"{server}/img.png", settings=allow)
    assert err.value.code == "blocked_address"
