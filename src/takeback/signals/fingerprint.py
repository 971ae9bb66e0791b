"""The one hashing entry point: a file (or an upload's bytes) in, a :class:`Fingerprint` out.

Reads each file once: the bytes feed SHA-256 and MD5 while they stream past, and images are then
decoded from memory (never twice from disk). Expected failures become an ``error`` on the record
instead of an exception, so one bad file never stops a batch.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from takeback.media import HEAD_BYTES, Limits, MediaError, MediaType, decode_image, sniff
from takeback.media import errors as codes
from takeback.media.types import Kind
from takeback.media.walk import display_path
from takeback.signals.pdq import pdq_from_luma

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FingerprintOptions:
    """What to compute beyond the always-on SHA-256, MD5 and PDQ."""

    dihedral: bool = False
    limits: Limits = field(default_factory=Limits)


@dataclass(slots=True)
class Fingerprint:
    """Everything computed for one file. ``error`` is ``{code, message}`` when something failed."""

    path: str
    size: int | None = None
    media_type: str | None = None
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_dihedral: list[str] | None = None
    width: int | None = None
    height: int | None = None
    error: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, exc: MediaError) -> Fingerprint:
        self.error = exc.to_dict()
        return self

    def to_record(self, *, dihedral: bool = False) -> dict[str, Any]:
        """The public record: exactly the documented fields, in order."""
        rec: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "md5": self.md5,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
        }
        if dihedral:
            rec["pdq_dihedral"] = self.pdq_dihedral
        rec["error"] = self.error
        return rec


def _os_error(exc: OSError, what: str) -> MediaError:
    if exc.errno == errno.ENOENT:
        return MediaError(f"No such file: {what}.", code=codes.NOT_FOUND)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return MediaError(f"Permission denied reading {what}.", code=codes.PERMISSION_DENIED)
    if exc.errno == errno.ELOOP:
        return MediaError(f"Symbolic link loop at {what}.", code=codes.SYMLINK_LOOP)
    if exc.errno == errno.EISDIR:
        return MediaError(f"{what} is a directory.", code=codes.NOT_A_FILE)
    return MediaError(f"Could not read {what}: {exc.strerror or exc}.", code=codes.READ_ERROR)


def _apply_image(fp: Fingerprint, data: bytes, mt: MediaType, options: FingerprintOptions) -> None:
    decoded = decode_image(data, limits=options.limits, want="luma", media_type=mt)
    result = pdq_from_luma(decoded.pixels, dihedral=options.dihedral)
    fp.pdq = result.hex
    fp.pdq_quality = result.quality
    fp.width, fp.height = decoded.width, decoded.height
    if result.dihedral is not None:
        fp.pdq_dihedral = [h.hex() for h in result.dihedral]


def _non_image_error(mt: MediaType) -> MediaError | None:
    if mt.kind is Kind.IMAGE or mt.kind is Kind.VIDEO:
        return None
    label = {
        Kind.DOCUMENT: "a document",
        Kind.ARCHIVE: "an archive",
        Kind.TEXT: "a text file",
    }.get(mt.kind, "not a recognised image or video")
    return MediaError(
        f"Not an image or video ({mt.mime}: {label}); only SHA-256 and MD5 were computed.",
        code=codes.UNSUPPORTED_TYPE,
    )


def fingerprint_bytes(
    data: bytes, *, name: str = "<upload>", options: FingerprintOptions | None = None
) -> Fingerprint:
    """Fingerprint content already in memory (an upload, an archive member)."""
    opts = options or FingerprintOptions()
    fp = Fingerprint(path=name, size=len(data))
    mt = sniff(data[:HEAD_BYTES])
    fp.media_type = mt.mime
    fp.sha256 = hashlib.sha256(data).hexdigest()
    fp.md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if not data:
        return fp.fail(MediaError("The file is empty (0 bytes).", code=codes.EMPTY_FILE))
    problem = _non_image_error(mt)
    if problem is not None:
        return fp.fail(problem)
    if mt.is_image:
        try:
            _apply_image(fp, data, mt, opts)
        except MediaError as exc:
            fp.fail(exc)
    return fp


def fingerprint_file(
    path: str | os.PathLike[str], *, options: FingerprintOptions | None = None
) -> Fingerprint:
    """Fingerprint one file on disk. Never raises for a bad file: the record carries the error."""
    opts = options or FingerprintOptions()
    shown = display_path(path)
    fp = Fingerprint(path=shown)
    try:
        st = os.stat(path)
    except OSError as exc:
        return fp.fail(_os_error(exc, shown))
    if stat.S_ISDIR(st.st_mode):
        return fp.fail(MediaError(f"{shown} is a directory.", code=codes.NOT_A_FILE))
    if not stat.S_ISREG(st.st_mode):
        return fp.fail(
            MediaError(f"{shown} is not a regular file (device, pipe or socket).", code=codes.NOT_A_FILE)
        )
    fp.size = st.st_size
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
            mt = sniff(head)
            fp.media_type = mt.mime
            if mt.is_image and st.st_size <= opts.limits.max_file_bytes:
                data = head + fh.read()
                fp.size = len(data)
                fp.sha256 = hashlib.sha256(data).hexdigest()
                fp.md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            else:
                data = b""
                sha, md5 = hashlib.sha256(head), hashlib.md5(head, usedforsecurity=False)
                size = len(head)
                while chunk := fh.read(_CHUNK):
                    sha.update(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                fp.size, fp.sha256, fp.md5 = size, sha.hexdigest(), md5.hexdigest()
    except OSError as exc:
        return fp.fail(_os_error(exc, shown))
    if fp.size == 0:
        return fp.fail(MediaError("The file is empty (0 bytes).", code=codes.EMPTY_FILE))
    problem = _non_image_error(mt)
    if problem is not None:
        return fp.fail(problem)
    if mt.is_image:
        if not data:
            return fp.fail(
                MediaError(
                    f"The file is {fp.size:,} bytes, over the decode limit of "
                    f"{opts.limits.max_file_bytes:,} (TAKEBACK_MAX_FILE_BYTES); SHA-256 and MD5 were "
                    "computed, PDQ was not.",
                    code=codes.FILE_TOO_LARGE,
                )
            )
        try:
            _apply_image(fp, data, mt, opts)
        except MediaError as exc:
            fp.fail(exc)
    return fp
