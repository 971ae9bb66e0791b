"""TOTP against RFC 6238's own test vectors (Appendix B, SHA-1, 8 digits reduced to our 6) and the
one-use rule."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from takeback.staff import totp

RFC_SECRET = b"12345678901234567890"
# (Unix time, RFC 6238 8-digit SHA-1 value); the 6-digit code is its last six digits
VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("when", "value"), VECTORS)
def test_rfc6238_vectors(when: int, value: str) -> None:
    assert totp.code_at(RFC_SECRET, totp.step_at(when)) == value[-6:]


def test_window_and_replay() -> None:
    now = 1234567890.0
    code = totp.code_at(RFC_SECRET, totp.step_at(now))
    step = totp.verify(RFC_SECRET, code, now=now)
    assert step == totp.step_at(now)
    assert totp.verify(RFC_SECRET, code, now=now + 30) == step  # one step late is still accepted
    assert totp.verify(RFC_SECRET, code, now=now + 90) is None  # three steps late is not
    assert totp.verify(RFC_SECRET, code, now=now, after_step=step) is None  # a code is good once
    assert totp.verify(RFC_SECRET, " ".join([code[:3], code[3:]]), now=now) == step  # "123 456" as apps show
    for bad in ["", "12345", "1234567", "abcdef", "１２３４５６", code + "\n0"]:
        assert totp.verify(RFC_SECRET, bad, now=now) is None


def test_provisioning_uri_and_qr() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, account="mei")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parsed.path == "/takeback:mei"
    q = parse_qs(parsed.query)
    assert q["secret"] == ["GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"] and q["issuer"] == ["takeback"]
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "<path" in svg and "http" not in svg.split(">", 1)[1]
