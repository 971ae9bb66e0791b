"""RFC 6238 one-time codes (HMAC-SHA-1, 30-second steps, 6 digits), as every authenticator app makes.

Written here rather than taken from a package: it is twenty lines over ``hmac``, and what matters
for safety is around it (a code is good once: ``verify`` returns the step it matched, and the
caller refuses any step not later than the last one used).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
#: steps either side of now that are still accepted (a phone's clock a little off, a slow typist)
WINDOW = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation for HMAC-SHA-1


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def step_at(seconds: float) -> int:
    return int(seconds // STEP_SECONDS)


def code_at(secret: bytes, step: int) -> str:
    """The code for one time step (RFC 4226 dynamic truncation)."""
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def verify(secret: bytes, code: str, *, now: float, after_step: int | None = None) -> int | None:
    """The step ``code`` matches within the window around ``now`` and later than ``after_step``
    (the last step used), or None. Every candidate is compared in constant time."""
    typed = "".join(ch for ch in code if not ch.isspace())
    if len(typed) != DIGITS or not typed.isascii() or not typed.isdigit():
        return None
    current = step_at(now)
    found: int | None = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), typed) and (after_step is None or step > after_step):
            found = step if found is None else found
    return found


def base32(secret: bytes) -> str:
    """The secret as people type it into an app that cannot scan (RFC 4648 base32, no padding)."""
    return base64.b32encode(secret).decode().rstrip("=")


def from_base32(text: str) -> bytes:
    """A seed as typed from an enrolment page (spaces and case ignored, padding optional)."""
    clean = "".join(text.split()).upper().rstrip("=")
    return base64.b32decode(clean + "=" * (-len(clean) % 8))


def provisioning_uri(secret: bytes, *, account: str, issuer: str = "takeback") -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code (Key Uri Format)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {
            "secret": base32(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code, made here (segno, BSD-3-Clause): the seed never goes to
    another site to be drawn. Dark modules on white with a quiet zone, as scanners need."""
    import segno

    qr = segno.make(uri, error="m")
    svg: str = qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title="QR code")
    return svg
