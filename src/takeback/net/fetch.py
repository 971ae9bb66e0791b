"""THE way takeback fetches a URL someone gave it (evidence capture, URL hashing in the service).

Why this is its own module: fetching a user-supplied URL from a server is a classic way in
(server-side request forgery): ``http://169.254.169.254/`` reads cloud credentials,
``http://localhost:5432/`` probes internal services, and a public URL can redirect to either, or
resolve to a private address only when we connect (DNS rebinding). So:

* only ``http``/``https``, no credentials in the URL, optional host allow-list and port list;
* the address check happens **at connect time, on the resolved IP we actually connect to**
  (a guarded network backend under httpcore), for the first request and for every redirect; a
  name that resolves to any blocked address is refused outright;
* blocked: anything that is not a global unicast address — loopback, private (RFC 1918, ULA),
  link-local (incl. 169.254.169.254 metadata), carrier-grade NAT (incl. 100.100.100.200),
  multicast, reserved, unspecified, IPv6 outside ``2000::/3``, and every IPv6 form that embeds an
  IPv4 address pointing at those (mapped, translated, NAT64, IPv4-compatible, 6to4, Teredo, ISATAP);
* redirects are followed by hand (at most ``max_redirects``), never across to other schemes;
* a size limit (Content-Length checked first, then counted while streaming) and an overall
  deadline as well as per-operation timeouts, so a slow-drip server cannot hold us;
* no proxies from the environment, no content decoding (evidence keeps the bytes as served).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from takeback.errors import TakebackError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOOPBACK_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
#: the only IPv6 space handed out as global unicast (RFC 4291, IANA); everything else is refused
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d, deprecated (RFC 4291): never fetched
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # ::ffff:a.b.c.d reaches a.b.c.d
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (SIIT, RFC 2765)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052): a.b.c.d last
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215): never fetched
_6TO4 = ipaddress.ip_network("2002::/16")  # 2002:AABB:CCDD::/48 carries a.b.c.d
_TEREDO = ipaddress.ip_network("2001::/32")  # server IPv4 in bits 32-63, client IPv4 XORed at the end
_ISATAP_IDS = (0x0000_5EFE, 0x0200_5EFE)  # interface id 0:5efe:a.b.c.d (or 200:5efe:...), any prefix
#: forms that are routed to their embedded IPv4 address: allowed when that address is public
_V4_ROUTED = (_MAPPED, _TRANSLATED, _NAT64)


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address the IPv6 address ``ip`` carries, in any of the standard embeddings."""
    value = int(ip)
    low32 = ipaddress.IPv4Address(value & 0xFFFF_FFFF)
    if ip in _MAPPED or ip in _TRANSLATED or ip in _NAT64 or ip in _COMPATIBLE:
        return [low32]
    if ip in _6TO4:
        return [ipaddress.IPv4Address((value >> 80) & 0xFFFF_FFFF)]
    if ip in _TEREDO:
        server = ipaddress.IPv4Address((value >> 64) & 0xFFFF_FFFF)
        return [server, ipaddress.IPv4Address(~value & 0xFFFF_FFFF)]  # the client is XORed
    if (value >> 32) & 0xFFFF_FFFF in _ISATAP_IDS:
        return [low32]
    return []


class FetchError(TakebackError):
    code = "fetch_error"
    #: the HTTP status when the server answered one that is not a success (``http_error``)
    status: int | None = None


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 100 * 1024 * 1024
    timeout_s: float = 30.0  # the whole fetch, redirects included
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    max_redirects: int = 5
    allowed_hosts: frozenset[str] | None = None  # None: any public host
    allowed_ports: frozenset[int] | None = None  # None: any port
    #: for tests with a local server only: loopback is allowed, everything else stays blocked
    allow_loopback: bool = False
    user_agent: str = "takeback (evidence capture; +https://github.com/takeback)"


def blocked_reason(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why connecting to ``ip`` is refused, or None when it is a public (global unicast) address.

    An IPv6 address is refused when any IPv4 address it embeds is (mapped, translated, NAT64,
    IPv4-compatible, 6to4, Teredo server or client, ISATAP), and unless it is global unicast
    (``2000::/3`` and public) or a form routed to the public IPv4 address it carries.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped IPv6 address"
        if allow_loopback and ip in _LOOPBACK_NETS[1]:
            return None
        for inner in _embedded_v4(ip):
            why = blocked_reason(inner, allow_loopback=allow_loopback)
            if why is not None:
                return f"{why} (embedded in {ip})"
        if ip == ipaddress.IPv6Address("::1"):
            return "a loopback address"
        if ip == ipaddress.IPv6Address("::"):
            return "an unspecified address"
        if ip in _COMPATIBLE:
            return "an IPv4-compatible IPv6 address (deprecated)"
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if any(ip in net for net in _V4_ROUTED):
            return None  # reaches the public IPv4 address checked above
        if ip.is_multicast:
            return "a multicast address"
        if ip not in _GLOBAL_UNICAST:
            return "not a global unicast address"
    if allow_loopback and any(ip in net for net in _LOOPBACK_NETS):
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata services live here)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private network address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a non-public address"
    return None


#: test-only stand-ins for DNS (see :func:`resolve_as_public`); always empty in production
_PUBLIC_STAND_INS: dict[str, tuple[str, ...]] = {}
_STAND_INS_LOCK = threading.Lock()


@contextlib.contextmanager
def resolve_as_public(host: str, *addresses: str) -> Iterator[None]:
    """For tests only: while the block runs, ``host`` resolves to ``addresses`` and they count as
    public (a local server on 127.0.0.1 stands in for an allow-listed public host).

    Nothing else changes: the allow-list, ports, redirects, sizes and deadlines apply as always, and
    every other host, including any other name for the same addresses, is checked as in production.
    No setting or environment variable reaches this; only code that calls it.
    """
    key = host.rstrip(".").lower()
    for a in addresses:
        ipaddress.ip_address(a)  # addresses, not names
    with _STAND_INS_LOCK:
        if key in _PUBLIC_STAND_INS:
            raise RuntimeError(f"{host} already has stand-in addresses")
        _PUBLIC_STAND_INS[key] = tuple(addresses)
    try:
        yield
    finally:
        with _STAND_INS_LOCK:
            _PUBLIC_STAND_INS.pop(key, None)


def resolve_checked(host: str, port: int, policy: FetchPolicy) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if any of them is blocked."""
    stand_in = _PUBLIC_STAND_INS.get(host.rstrip(".").lower())
    if stand_in is not None:
        return list(stand_in)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"Could not resolve {host}: {exc}.", code="dns_failed") from None
    addrs: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(sockaddr[0])
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        why = blocked_reason(ip, allow_loopback=policy.allow_loopback)
        if why is not None:
            raise FetchError(
                f"Refused to fetch from {host}: it resolves to "
                f"{ip}, {why}. takeback only fetches from public "
                "internet addresses.",
                code="blocked_address",
            )
        if addr not in addrs:
            addrs.append(addr)
    if not addrs:
        raise FetchError(f"{host} has no addresses.", code="dns_failed")
    return addrs


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to checked addresses; every connection (first request and redirects) comes here."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()
        self.peers: list[str] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for addr in resolve_checked(host, port, self.policy):
            try:
                stream = self.inner.connect_tcp(addr, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            self.peers.append(addr)
            return stream
        raise last or httpcore.ConnectError(f"could not connect to {host}")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise FetchError("Unix sockets are never fetched.", code="blocked_address")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class FetchResult:
    url: str
    final_url: str
    status: int
    content_type: str | None
    size: int
    sha256: str
    peer: str | None
    redirects: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "final_url": self.final_url,
            "status": self.status,
            "content_type": self.content_type,
            "size": self.size,
            "peer": self.peer,
            "redirects": list(self.redirects),
        }


def check_url(url: str, policy: FetchPolicy) -> tuple[str, str, int]:
    """Validate a URL's shape and policy (not its addresses); returns (scheme, host, port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise FetchError(f"{url!r} is not a valid URL.", code="bad_url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            f"Only http and https URLs can be fetched, not {scheme or 'this'}: {url}", code="bad_url"
        )
    if parts.username or parts.password:
        raise FetchError("URLs with a user name or password are not fetched.", code="bad_url")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise FetchError(f"{url!r} has no host.", code="bad_url")
    port = port or (443 if scheme == "https" else 80)
    if policy.allowed_hosts is not None and host not in policy.allowed_hosts:
        raise FetchError(
            f"{host} is not on the list of hosts takeback may fetch from.", code="host_not_allowed"
        )
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        raise FetchError(f"Port {port} is not allowed for fetching.", code="port_not_allowed")
    return scheme, host, port


def fetch_to_file(
    url: str, dest: Path, *, policy: FetchPolicy | None = None, headers: dict[str, str] | None = None
) -> FetchResult:
    """Fetch ``url`` into ``dest`` (created, owner-only). On any failure ``dest`` does not exist.

    ``headers`` (an API key, say) go only to ``url``'s own origin: a redirect elsewhere drops them."""
    p = policy or FetchPolicy()
    origin = urlsplit(url.strip())[:2]
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    deadline = time.monotonic() + p.timeout_s
    backend = _GuardedBackend(p)
    redirects: list[str] = []
    current = url.strip()
    try:
        with httpcore.ConnectionPool(network_backend=backend, retries=0, max_connections=2) as pool:
            for _hop in range(p.max_redirects + 1):
                check_url(current, p)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError(f"Fetching {url} took longer than {p.timeout_s:g} s.", code="timeout")
                timeouts = {
                    "connect": min(p.connect_timeout_s, left),
                    "read": min(p.read_timeout_s, left),
                    "write": min(p.read_timeout_s, left),
                    "pool": min(p.connect_timeout_s, left),
                }
                sent = [
                    (b"User-Agent", p.user_agent.encode()),
                    (b"Accept", b"*/*"),
                    (b"Accept-Encoding", b"identity"),
                    *(extra if urlsplit(current)[:2] == origin else []),
                ]
                with pool.stream("GET", current, headers=sent, extensions={"timeout": timeouts}) as resp:
                    status = resp.status
                    hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers}
                    if status in (301, 302, 303, 307, 308) and "location" in hdrs:
                        redirects.append(current)
                        current = urljoin(current, hdrs["location"])
                        continue
                    if not 200 <= status < 300:
                        answered = FetchError(f"{current} answered HTTP {status}.", code="http_error")
                        answered.status = status
                        raise answered
                    declared = hdrs.get("content-length")
                    if declared and declared.isdigit() and int(declared) > p.max_bytes:
                        raise FetchError(
                            f"{current} is {int(declared):,} bytes, over the limit of {p.max_bytes:,}.",
                            code="too_large",
                        )
                    sha = hashlib.sha256()
                    size = 0
                    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        for chunk in resp.iter_stream():
                            size += len(chunk)
                            if size > p.max_bytes:
                                raise FetchError(
                                    f"{current} sent more than the limit of {p.max_bytes:,} bytes.",
                                    code="too_large",
                                )
                            if time.monotonic() > deadline:
                                raise FetchError(
                                    f"Fetching {url} took longer than {p.timeout_s:g} s.", code="timeout"
                                )
                            sha.update(chunk)
                            out.write(chunk)
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=status,
                        content_type=hdrs.get("content-type"),
                        size=size,
                        sha256=sha.hexdigest(),
                        peer=backend.peers[-1] if backend.peers else None,
                        redirects=redirects,
                    )
            raise FetchError(
                f"{url} redirected more than {p.max_redirects} times.", code="too_many_redirects"
            )
    except FetchError:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise
    except httpcore.TimeoutException:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise FetchError(f"Fetching {url} timed out.", code="timeout") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise FetchError(f"Could not fetch {url}: {exc}", code="connect_failed") from None


def fetch_bytes(
    url: str, *, policy: FetchPolicy | None = None, headers: dict[str, str] | None = None
) -> tuple[bytes, FetchResult]:
    """Fetch into memory (bounded by ``policy.max_bytes``): for callers that hash small content."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="takeback-fetch-") as tmp:
        dest = Path(tmp) / "content"
        result = fetch_to_file(url, dest, policy=policy, headers=headers)
        return dest.read_bytes(), result


def allowlist_from(settings: Any) -> frozenset[str]:
    """Hosts named by ``settings.url_allowlist`` or ``TAKEBACK_URL_ALLOWLIST`` (comma-separated)."""
    raw = getattr(settings, "url_allowlist", None)
    if raw is None:
        raw = os.environ.get("TAKEBACK_URL_ALLOWLIST", "")
    items = raw if isinstance(raw, list | tuple | set | frozenset) else str(raw).split(",")
    return frozenset(h.strip().rstrip(".").lower() for h in items if h and h.strip())


def fetch_url_bytes(url: str, *, settings: Any) -> bytes:
    """The HTTP service's URL hashing: off unless an allow-list names hosts; size limit from settings."""
    hosts = allowlist_from(settings)
    if not hosts:
        raise FetchError(
            "Fetching URLs is off: set TAKEBACK_URL_ALLOWLIST to the hosts that may be fetched.",
            code="url_fetch_disabled",
        )
    limit = int(getattr(settings, "max_upload_bytes", 0) or getattr(settings, "max_file_bytes", 0) or 0)
    policy = FetchPolicy(allowed_hosts=hosts)
    if limit > 0:
        policy = dataclasses.replace(policy, max_bytes=limit)
    data, _ = fetch_bytes(url, policy=policy)
    return data


def post_bytes(
    url: str,
    body: bytes,
    *,
    policy: FetchPolicy | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` under the same address rules as a fetch; ``(status, response body)``
    whatever the status, so the caller can tell a refusal (4xx) from an outage.

    Redirects are never followed (a 3xx comes back as its status): a redirected POST would carry the
    caller's credentials and body to wherever the server points. The response is bounded by
    ``policy.max_bytes`` and the whole exchange by ``policy.timeout_s``."""
    p = policy or FetchPolicy()
    check_url(url, p)
    deadline = time.monotonic() + p.timeout_s
    backend = _GuardedBackend(p)
    sent = [
        (b"User-Agent", p.user_agent.encode()),
        (b"Accept", b"application/json"),
        (b"Accept-Encoding", b"identity"),
        (b"Content-Type", content_type.encode("latin-1")),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
    ]
    timeouts = {
        "connect": p.connect_timeout_s,
        "read": p.read_timeout_s,
        "write": p.read_timeout_s,
        "pool": p.connect_timeout_s,
    }
    try:
        with (
            httpcore.ConnectionPool(network_backend=backend, retries=0, max_connections=1) as pool,
            pool.stream(
                "POST", url.strip(), headers=sent, content=body, extensions={"timeout": timeouts}
            ) as resp,
        ):
            out = bytearray()
            for chunk in resp.iter_stream():
                out += chunk
                if len(out) > p.max_bytes:
                    raise FetchError(
                        f"{url} answered more than the limit of {p.max_bytes:,} bytes.", code="too_large"
                    )
                if time.monotonic() > deadline:
                    raise FetchError(f"Posting to {url} took longer than {p.timeout_s:g} s.", code="timeout")
            return resp.status, bytes(out)
    except httpcore.TimeoutException:
        raise FetchError(f"Posting to {url} timed out.", code="timeout") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
        raise FetchError(f"Could not reach {url}: {exc}", code="connect_failed") from None
