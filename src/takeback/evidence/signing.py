"""The installation's Ed25519 signing key: signs custody entries and evidence bundles.

Why one key per installation, kept in the data dir with owner-only permissions: custody records and
bundles must say which installation made them, and a verifier must be able to check that with only
the public key (printed by ``takeback evidence verify`` as a fingerprint a recipient can compare
out of band). The private key never leaves the data dir and is never logged.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from takeback.evidence.errors import EvidenceError

KEY_DIR = "keys"
KEY_FILE = "installation-ed25519.pem"


def key_id_of(public_raw: bytes) -> str:
    """A short, stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class PublicKey:
    """A verifier's view of a signing key."""

    raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    @property
    def fingerprint(self) -> str:
        """The full SHA-256 of the key in groups of four, for reading aloud or comparing by eye."""
        h = hashlib.sha256(self.raw).hexdigest()
        return " ".join(h[i : i + 4] for i in range(0, len(h), 4))

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        raw = unb64(text)
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return cls(raw)

    def to_b64(self) -> str:
        return b64(self.raw)

    def matches(self, wanted: str) -> bool:
        """Whether ``wanted`` (a key id, the full fingerprint with or without spaces, or the base64
        key) names this key: what a person pins with ``--trusted-key``."""
        w = wanted.replace(" ", "").lower()
        return w in (self.key_id, self.fingerprint.replace(" ", "")) or wanted.strip() == self.to_b64()


class Signer:
    """Holds a private key and signs; one per installation (or per test)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = PublicKey(
            private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Signer:
        """The installation key from ``data_dir/keys``; created (owner-only) on first use."""
        folder = data_dir / KEY_DIR
        path = folder / KEY_FILE
        if path.exists():
            return cls._load(path)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never replaces a key another process created meanwhile
        except FileExistsError:
            tmp.unlink()
            return cls._load(path)
        tmp.unlink()
        return cls(private)

    @classmethod
    def _load(cls, path: Path) -> Signer:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)  # others must never read the installation key
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError):
            raise EvidenceError(
                f"The installation signing key at {path} is damaged. Restore it from a backup; a new key "
                "would make earlier custody records unverifiable against this installation.",
                code="signing_key_damaged",
            ) from None
        if not isinstance(private, Ed25519PrivateKey):
            raise EvidenceError(f"{path} is not an Ed25519 key.", code="signing_key_damaged")
        return cls(private)
