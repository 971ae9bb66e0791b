"""Signed hash receipts: "the installation received these hashes of a file from case X at time T".

Why: the Hong Kong victims could not show later that an image existed, or that they had it, without
sending the image again. A receipt is signed (the installation's Ed25519 key, ``signing.Signer``)
over the file's SHA-256, MD5 and PDQ, the time the server received them and the case number, and
the server never sees the file. Whoever later holds the original can check it against the receipt
(``takeback evidence verify-receipt``, or the portal's verify page in the browser): the SHA-256 pins
the exact bytes, so a one-pixel edit no longer verifies.

The signed message is a fixed text (``signed_text``), not JSON, so a verifier in any language
rebuilds it byte for byte from the receipt's fields without a canonical-JSON library.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from takeback.clock import as_utc, iso_utc
from takeback.evidence.errors import EvidenceError
from takeback.evidence.signing import PublicKey, Signer, b64, unb64

KIND = "takeback.hash-receipt"
VERSION = 1
_HEX = {"sha256": 64, "md5": 32, "pdq": 64}
_CASE = re.compile(r"^TB-[0-9A-Z]{4}-[0-9A-Z]{4}$")
_MAX_RECEIPT_BYTES = 64 * 1024


class ReceiptError(EvidenceError):
    code = "receipt_invalid"


@dataclass(frozen=True, slots=True)
class Receipt:
    case: str
    received_at: datetime
    sha256: str
    md5: str
    pdq: str | None
    key: PublicKey
    signature: bytes = b""

    def signed_text(self) -> str:
        return signed_text(self.case, self.received_at, self.sha256, self.md5, self.pdq, self.key.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": VERSION,
            "case": self.case,
            "received_at": iso_utc(self.received_at),
            "sha256": self.sha256,
            "md5": self.md5,
            "pdq": self.pdq,
            "key_id": self.key.key_id,
            "public_key": self.key.to_b64(),
            "fingerprint": self.key.fingerprint,
            "signature": b64(self.signature),
        }


def signed_text(case: str, received_at: datetime, sha256: str, md5: str, pdq: str | None, key_id: str) -> str:
    return (
        f"{KIND} v{VERSION}\n"
        f"case: {case}\n"
        f"received_at: {iso_utc(received_at)}\n"
        f"sha256: {sha256}\n"
        f"md5: {md5}\n"
        f"pdq: {pdq or '-'}\n"
        f"key_id: {key_id}\n"
    )


def issue_receipt(
    signer: Signer, *, case: str, received_at: datetime, sha256: str, md5: str, pdq: str | None
) -> Receipt:
    at = (as_utc(received_at) or received_at).replace(microsecond=0)
    text = signed_text(case, at, sha256, md5, pdq, signer.key_id)
    return Receipt(case, at, sha256, md5, pdq, signer.public, signer.sign(text.encode("ascii")))


def parse_receipt(data: bytes) -> Receipt:
    """A receipt file's fields, checked for shape (not yet for the signature)."""
    if len(data) > _MAX_RECEIPT_BYTES:
        raise ReceiptError("This is not a takeback receipt: the file is far too large.")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptError("This is not a takeback receipt: it is not JSON text.") from None
    if not isinstance(obj, dict) or obj.get("kind") != KIND:
        raise ReceiptError(f"This is not a takeback receipt (its kind is not {KIND!r}).")
    if obj.get("version") != VERSION:
        raise ReceiptError(f"This receipt's version ({obj.get('version')!r}) is not one this takeback reads.")
    case = obj.get("case")
    if not isinstance(case, str) or not _CASE.match(case):
        raise ReceiptError("The receipt's case number is missing or malformed.")
    values: dict[str, str | None] = {}
    for name, n in _HEX.items():
        v = obj.get(name)
        if v is None and name == "pdq":
            values[name] = None
            continue
        if not isinstance(v, str) or len(v) != n or not re.fullmatch(r"[0-9a-f]+", v):
            raise ReceiptError(f"The receipt's {name} is missing or is not {n} lowercase hex digits.")
        values[name] = v
    try:
        received = datetime.fromisoformat(str(obj.get("received_at")).replace("Z", "+00:00"))
        key = PublicKey.from_b64(str(obj.get("public_key")))
        signature = unb64(str(obj.get("signature")))
    except ValueError:
        raise ReceiptError("The receipt's time, public key or signature is malformed.") from None
    if received.tzinfo is None:
        raise ReceiptError("The receipt's time has no time zone.")
    if obj.get("key_id") != key.key_id:
        raise ReceiptError("The receipt's key id does not belong to its public key.")
    sha256, md5 = values["sha256"], values["md5"]
    assert sha256 is not None and md5 is not None  # checked above: only pdq may be absent
    return Receipt(case, as_utc(received) or received, sha256, md5, values["pdq"], key, signature)


@dataclass
class ReceiptCheck:
    """What ``verify_receipt`` found; ``ok`` only when the signature and the file's SHA-256 agree."""

    ok: bool
    receipt: Receipt | None
    checks: list[str] = field(default_factory=list)
    failure: str | None = None
    trusted: bool | None = None  # None: no key was pinned


def verify_receipt(receipt_bytes: bytes, file_path: Path, *, trusted_key: str | None = None) -> ReceiptCheck:
    """Check a receipt's signature, then that ``file_path`` is the exact file it was made for."""
    try:
        r = parse_receipt(receipt_bytes)
    except ReceiptError as exc:
        return ReceiptCheck(False, None, failure=exc.message)
    check = ReceiptCheck(False, r)
    if not r.key.verify(r.signature, r.signed_text().encode("ascii")):
        check.failure = (
            "The signature does not match the receipt's contents: it was changed after it was issued, "
            "or it was not issued by a takeback installation."
        )
        return check
    check.checks.append(f"signature by key {r.key.key_id}")
    if trusted_key is not None:
        check.trusted = r.key.matches(trusted_key)
        if not check.trusted:
            check.failure = f"The receipt was signed by key {r.key.key_id}, not by the key you named."
            return check
        check.checks.append("signed by the key you named")
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    try:
        with open(file_path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                sha.update(chunk)
                md5.update(chunk)
    except OSError as exc:
        check.failure = f"Cannot read {file_path.name}: {exc.strerror or exc}."
        return check
    if sha.hexdigest() != r.sha256 or md5.hexdigest() != r.md5:
        check.failure = (
            f"{file_path.name} is not the file this receipt was issued for: its SHA-256 differs "
            "(even a one-pixel change or a re-save gives a different SHA-256)."
        )
        return check
    check.checks.append("the file's SHA-256 and MD5 are the receipt's")
    check.ok = True
    return check
