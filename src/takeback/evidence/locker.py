"""The evidence locker: originals encrypted at rest, streamed in chunks, under a passphrase.

Layout (in the data dir)::

    locker/locker.key          key file: KDF salt and parameters + the locker key, wrapped
    locker/blobs/ab/ab12....tbe  one encrypted original per evidence item

Key hierarchy. A random 256-bit *locker key* encrypts everything; it is stored only wrapped with
AES-256-GCM under a key derived from the passphrase with Argon2id (memory-hard, so a stolen
locker cannot be brute-forced cheaply). A wrong passphrase fails the wrap's authentication tag
before any item is touched. Each item gets its own key, derived with HKDF from the locker key and a
random 32-byte salt in the item's header, so nonces never repeat across items.

Item format (``.tbe``): a 64-byte header (magic, version, locker id, salt, chunk size, nonce
prefix), then chunks of AES-256-GCM ciphertext. Chunk *i* uses the nonce ``prefix(7) || i (4, big
endian) || last (1)`` and the whole header as associated data, so chunks cannot be reordered,
dropped, moved between items, or the stream cut short after a full chunk: only the final chunk
carries ``last = 1`` and a stream that ends without it does not verify. Memory stays at one chunk
(1 MiB by default) whatever the file size.

Decryption to a file writes to a temporary name and renames only after the final chunk verified:
a wrong key, a damaged chunk or a truncated item never leaves partial plaintext behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from takeback.evidence.errors import LockerError
from takeback.evidence.signing import b64, unb64

MAGIC = b"TBLOCK\x00"
VERSION = 1
HEADER = struct.Struct(">7sB16s32sI7s")  # magic, version, locker id, salt, chunk size, nonce prefix
assert HEADER.size == 67
TAG = 16
DEFAULT_CHUNK = 1 << 20
MAX_CHUNK = 64 << 20
KEY_FILE = "locker.key"
BLOB_DIR = "blobs"
BLOB_SUFFIX = ".tbe"


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters; kept in the key file so they can be raised later without breaking old lockers."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 1

    @classmethod
    def for_tests(cls) -> KdfParams:
        """Cheap parameters for test suites only (a real locker uses the defaults)."""
        return cls(time_cost=1, memory_kib=8 * 1024, parallelism=1)


def _derive(passphrase: str, salt: bytes, p: KdfParams) -> bytes:
    return hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=p.time_cost,
        memory_cost=p.memory_kib,
        parallelism=p.parallelism,
        hash_len=32,
        type=Type.ID,
    )


def _item_key(master: bytes, locker_id: bytes, salt: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"takeback-locker-item-v1" + locker_id
    ).derive(master)


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= 1 << 32:
        raise LockerError("The item is too large for one encrypted stream.", code="item_too_large")
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class StoredBlob:
    """What encrypting one original produced: where it is and what was in it."""

    blob_id: str
    size: int
    sha256: str
    encrypted_size: int


def has_locker(root: Path) -> bool:
    return (root / KEY_FILE).exists()


class Locker:
    """An opened locker (the passphrase was right). Cheap to keep; holds the locker key in memory."""

    def __init__(self, root: Path, locker_id: bytes, master: bytes, chunk_size: int = DEFAULT_CHUNK) -> None:
        self.root = root
        self.locker_id = locker_id
        self._master = master
        self.chunk_size = chunk_size

    # --- creating and opening --------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, passphrase: str, *, kdf: KdfParams | None = None) -> Locker:
        """Create a new locker at ``root``; refuses to overwrite one."""
        if len(passphrase) < 8:
            raise LockerError("Choose a passphrase of at least 8 characters.", code="weak_passphrase")
        params = kdf or KdfParams()
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path = root / KEY_FILE
        if key_path.exists():
            raise LockerError(f"A locker already exists at {root}.", code="locker_exists")
        blobs = root / BLOB_DIR
        if blobs.exists() and any(blobs.rglob(f"*{BLOB_SUFFIX}")):
            raise _missing_key_error(root)
        locker_id = secrets.token_bytes(16)
        master = secrets.token_bytes(32)
        salt = secrets.token_bytes(16)
        kek = _derive(passphrase, salt, params)
        nonce = secrets.token_bytes(12)
        wrapped = AESGCM(kek).encrypt(nonce, master, b"takeback-locker-key-v1" + locker_id)
        doc = {
            "format": "takeback-locker",
            "version": VERSION,
            "locker_id": locker_id.hex(),
            "kdf": {
                "alg": "argon2id",
                "salt": b64(salt),
                "time_cost": params.time_cost,
                "memory_kib": params.memory_kib,
                "parallelism": params.parallelism,
            },
            "wrapped_key": {"alg": "aes-256-gcm", "nonce": b64(nonce), "ciphertext": b64(wrapped)},
        }
        tmp = key_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, key_path)
        except FileExistsError:
            raise LockerError(f"A locker already exists at {root}.", code="locker_exists") from None
        finally:
            tmp.unlink(missing_ok=True)
        return cls(root, locker_id, master)

    @classmethod
    def open(cls, root: Path, passphrase: str) -> Locker:
        """Open an existing locker; a wrong passphrase is a clear error and decrypts nothing."""
        key_path = root / KEY_FILE
        if not key_path.exists():
            blobs = root / BLOB_DIR
            if blobs.exists() and any(blobs.rglob(f"*{BLOB_SUFFIX}")):
                raise _missing_key_error(root)
            raise LockerError(
                f"There is no evidence locker at {root} yet; it "
                "is created when the first original is stored.",
                code="locker_missing",
            )
        try:
            doc = json.loads(key_path.read_text(encoding="utf-8"))
            locker_id = bytes.fromhex(doc["locker_id"])
            k = doc["kdf"]
            params = KdfParams(int(k["time_cost"]), int(k["memory_kib"]), int(k["parallelism"]))
            salt = unb64(k["salt"])
            w = doc["wrapped_key"]
            nonce, wrapped = unb64(w["nonce"]), unb64(w["ciphertext"])
            if doc.get("format") != "takeback-locker" or k.get("alg") != "argon2id" or len(locker_id) != 16:
                raise ValueError("format")
        except (OSError, ValueError, KeyError, TypeError):
            raise LockerError(
                f"The locker key file {key_path} is damaged or not "
                "a takeback locker key. Restore it from a backup.",
                code="locker_key_damaged",
            ) from None
        kek = _derive(passphrase, salt, params)
        try:
            master = AESGCM(kek).decrypt(nonce, wrapped, b"takeback-locker-key-v1" + locker_id)
        except InvalidTag:
            raise LockerError(
                "Wrong passphrase for the evidence locker: nothing was decrypted. Check the passphrase "
                "(it is case-sensitive) and try again.",
                code="wrong_passphrase",
            ) from None
        return cls(root, locker_id, master)

    @classmethod
    def open_or_create(cls, root: Path, passphrase: str, *, kdf: KdfParams | None = None) -> Locker:
        if has_locker(root):
            return cls.open(root, passphrase)
        return cls.create(root, passphrase, kdf=kdf)

    # --- blobs -----------------------------------------------------------------------------------

    def blob_path(self, blob_id: str) -> Path:
        if len(blob_id) != 32 or any(c not in "0123456789abcdef" for c in blob_id):
            raise LockerError(f"{blob_id!r} is not a locker item id.", code="bad_blob_id")
        return self.root / BLOB_DIR / blob_id[:2] / f"{blob_id}{BLOB_SUFFIX}"

    def store_stream(self, source: BinaryIO) -> StoredBlob:
        """Encrypt everything ``source`` yields into a new blob; returns its id, size and SHA-256."""
        blob_id = secrets.token_hex(16)
        path = self.blob_path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        salt = secrets.token_bytes(32)
        prefix = secrets.token_bytes(7)
        header = HEADER.pack(MAGIC, VERSION, self.locker_id, salt, self.chunk_size, prefix)
        aead = AESGCM(_item_key(self._master, self.locker_id, salt))
        sha = hashlib.sha256()
        size = 0
        tmp = path.with_suffix(".partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                written = len(header)
                counter = 0
                pending = _read_full(source, self.chunk_size)
                while True:
                    nxt = _read_full(source, self.chunk_size) if len(pending) == self.chunk_size else b""
                    last = not nxt
                    sha.update(pending)
                    size += len(pending)
                    ct = aead.encrypt(_nonce(prefix, counter, last), pending, header)
                    out.write(ct)
                    written += len(ct)
                    counter += 1
                    if last:
                        break
                    pending = nxt
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredBlob(blob_id=blob_id, size=size, sha256=sha.hexdigest(), encrypted_size=written)

    def store_file(self, path: Path) -> StoredBlob:
        with open(path, "rb") as fh:
            return self.store_stream(fh)

    def iter_plaintext(self, blob_id: str) -> Iterator[bytes]:
        """Yield the original's bytes chunk by chunk, each verified before it is yielded.

        A damaged or truncated blob raises :class:`LockerError` mid-way: a caller streaming into
        something must discard what it wrote (``decrypt_to`` and the bundle writer do).
        """
        path = self.blob_path(blob_id)
        try:
            fh = open(path, "rb")  # noqa: SIM115  (closed by the with-block below; the error needs its own message)
        except FileNotFoundError:
            raise LockerError(
                f"The encrypted original {blob_id} is missing from the locker ({path}).", code="blob_missing"
            ) from None
        with fh:
            header = fh.read(HEADER.size)
            if len(header) != HEADER.size:
                raise LockerError(
                    f"The encrypted original {blob_id} is truncated (no header).", code="blob_corrupt"
                )
            magic, version, locker_id, salt, chunk, prefix = HEADER.unpack(header)
            if magic != MAGIC or version != VERSION or not 0 < chunk <= MAX_CHUNK:
                raise LockerError(f"{path} is not a takeback locker item.", code="blob_corrupt")
            if locker_id != self.locker_id:
                raise LockerError(
                    f"The original {blob_id} was encrypted by a "
                    f"different locker (id {locker_id.hex()[:8]}…, this "
                    f"one is {self.locker_id.hex()[:8]}…). Copy the matching locker.key to open it.",
                    code="locker_key_mismatch",
                )
            aead = AESGCM(_item_key(self._master, self.locker_id, salt))
            want = chunk + TAG
            counter = 0
            block = _read_full(fh, want)
            while True:
                nxt = _read_full(fh, want) if len(block) == want else b""
                last = not nxt
                if len(block) < TAG:
                    raise LockerError(
                        f"The encrypted original {blob_id} is truncated at chunk {counter}.",
                        code="blob_corrupt",
                    )
                try:
                    plain = aead.decrypt(_nonce(prefix, counter, last), block, header)
                except InvalidTag:
                    raise LockerError(
                        f"The encrypted original {blob_id} is damaged or truncated (chunk {counter} does not "
                        "verify); nothing from it was kept.",
                        code="blob_corrupt",
                    ) from None
                yield plain
                counter += 1
                if last:
                    return
                block = nxt

    def decrypt_to(self, blob_id: str, dest: Path, *, expected_sha256: str | None = None) -> int:
        """Decrypt into ``dest`` atomically; on any failure ``dest`` is not created."""
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.partial")
        sha = hashlib.sha256()
        n = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in self.iter_plaintext(blob_id):
                    out.write(chunk)
                    sha.update(chunk)
                    n += len(chunk)
            if expected_sha256 is not None and sha.hexdigest() != expected_sha256:
                raise LockerError(
                    f"The decrypted original {blob_id} does not match its recorded SHA-256.",
                    code="blob_hash_mismatch",
                )
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return n

    def remove(self, blob_id: str) -> bool:
        """Delete a blob (case deletion). Without the locker key the ciphertext is already unreadable."""
        path = self.blob_path(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True


def _read_full(fh: BinaryIO, n: int) -> bytes:
    """Read exactly ``n`` bytes unless the stream ends first (pipes and sockets return short reads)."""
    parts: list[bytes] = []
    left = n
    while left > 0:
        chunk = fh.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _missing_key_error(root: Path) -> LockerError:
    return LockerError(
        f"The evidence locker at {root} holds encrypted originals but its key file ({KEY_FILE}) is missing: "
        "the folder was probably copied without it. Copy locker.key from the original data folder. Without "
        "it the originals cannot be decrypted; their hashes and metadata are still in the case database.",
        code="locker_key_missing",
    )


PassphraseSource = Callable[[bool], str]
"""Asks for the passphrase; the argument says whether a new locker is being created (confirm it)."""
