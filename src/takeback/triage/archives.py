"""Read ZIP, TAR and gzip archives in place, with limits: nothing is ever extracted to disk.

Why this care: a seized archive may be hostile. A zip bomb (42.zip, or Fifield's overlapping-entry
construction) expands to petabytes; member names like ``../../etc/passwd`` or ``/root/x`` are
harmless here because nothing is written, but they are suspicious and are reported; links inside an
archive point nowhere real and are recorded, not followed. Limits, all in :class:`ArchiveLimits`:

* **ratio**: a member (or a whole ``.tar.gz``) producing more than ``max_ratio`` times its compressed
  size, once past ``ratio_floor`` bytes, is stopped and reported as ``archive_bomb``;
* **absolute**: ``max_member_bytes`` per member, ``max_total_bytes`` per archive;
* **overlap**: ZIP entries whose data overlap are refused (the non-recursive bomb);
* **depth**: archives nested deeper than ``max_depth`` are recorded, not opened;
* **count**: at most ``max_members`` members are listed.

Sizes are counted as bytes come out of the decompressor, never taken from headers, which lie.
Members up to ``in_memory_bytes`` are returned whole (to be fingerprinted from bytes); larger ones
are hashed as they stream past.
"""

from __future__ import annotations

import gzip
import io
import itertools
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Literal, cast

from takeback.media import HEAD_BYTES
from takeback.media.walk import display_path
from takeback.triage import errors as codes
from takeback.triage.digests import Digests

ArchiveFormat = Literal["zip", "tar", "gzip"]
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_depth: int = 3
    max_ratio: int = 200
    ratio_floor: int = 16 * 1024 * 1024
    max_member_bytes: int = 16 * 1024 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024 * 1024
    max_members: int = 1_000_000
    in_memory_bytes: int = 512 * 1024 * 1024


@dataclass(slots=True)
class Problem:
    code: str
    message: str


@dataclass(slots=True)
class Member:
    """One archive entry as listed. ``index`` is its position, stable for the same archive bytes."""

    index: int
    name: str  # display form (non-UTF-8 bytes escaped)
    raw: bytes
    kind: Literal["file", "dir", "link", "other"]
    size: int | None = None  # as declared (headers can lie; reads count for themselves)
    compressed: int | None = None
    mtime: str | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class Streamed:
    """A member too large to hold in memory: its digests, computed while it streamed past."""

    size: int
    sha256: str
    md5: str
    sha1: str
    head: bytes


@dataclass(slots=True)
class Refused:
    code: str
    message: str


MemberData = bytes | Streamed | Refused


class ArchiveError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unsafe_name(name: str) -> str | None:
    """Why a member name would escape an extraction folder, or ``None`` when it is ordinary."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return "an absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "a '..' (parent folder) component"
    return None


def _name_problems(name: str) -> list[Problem]:
    why = unsafe_name(name)
    if why is None:
        return []
    return [
        Problem(
            codes.ARCHIVE_UNSAFE_PATH,
            f"The archive entry name {name!r} contains {why}; extracting it would write outside the "
            "target folder (nothing was extracted: the entry was read in place).",
        )
    ]


def _iso_local(dt: tuple[int, int, int, int, int, int]) -> str | None:
    try:
        return datetime(*dt).isoformat()  # ZIP times carry no zone
    except ValueError:
        return None


def _iso_epoch(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


class _Budget:
    """Bytes an archive may still produce: an absolute limit, and for compressed streams (``.tar.gz``,
    ``.gz``, where members have no compressed size of their own) a ratio over the whole archive."""

    def __init__(self, limits: ArchiveLimits, compressed_size: int, *, ratio: bool = True) -> None:
        self.limits = limits
        self.compressed_size = max(1, compressed_size)
        self.ratio = ratio
        self.produced = 0

    def take(self, n: int) -> Refused | None:
        self.produced += n
        if self.produced > self.limits.max_total_bytes:
            return Refused(
                codes.ARCHIVE_BOMB,
                f"The archive expanded past {self.limits.max_total_bytes:,} bytes in total; the rest of "
                "it was not read (a guard against decompression bombs).",
            )
        if (
            self.ratio
            and self.produced > self.limits.ratio_floor
            and self.produced > self.limits.max_ratio * self.compressed_size
        ):
            return Refused(
                codes.ARCHIVE_BOMB,
                f"The archive expanded more than {self.limits.max_ratio}x its own size; the rest of it "
                "was not read (a guard against decompression bombs).",
            )
        return None


def _read_bounded(
    stream: IO[bytes], *, limits: ArchiveLimits, compressed: int | None, budget: _Budget
) -> MemberData:
    """Read one member: whole when small, digests when large, refused past a limit."""
    buf = bytearray()
    digests: Digests | None = None
    head = b""
    produced = 0
    try:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            produced += len(chunk)
            refused = budget.take(len(chunk))
            if refused is not None:
                return refused
            if produced > limits.max_member_bytes:
                return Refused(
                    codes.ARCHIVE_BOMB,
                    f"The entry expanded past {limits.max_member_bytes:,} bytes; it was not read further.",
                )
            if (
                compressed is not None
                and produced > limits.ratio_floor
                and produced > limits.max_ratio * max(1, compressed)
            ):
                return Refused(
                    codes.ARCHIVE_BOMB,
                    f"The entry expanded more than {limits.max_ratio}x its compressed size "
                    f"({compressed:,} bytes); it was not read further (a decompression bomb?).",
                )
            if digests is None:
                buf += chunk
                if len(buf) > limits.in_memory_bytes:
                    digests = Digests(bytes(buf))
                    head = bytes(buf[:HEAD_BYTES])
                    buf = bytearray()
            else:
                digests.update(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, tarfile.TarError, NotImplementedError) as exc:
        return Refused(codes.ARCHIVE_CORRUPT, f"The entry could not be read: {exc}.")
    if digests is None:
        return bytes(buf)
    return Streamed(size=produced, sha256=digests.sha256, md5=digests.md5, sha1=digests.sha1, head=head)


def detect(head: bytes) -> ArchiveFormat | None:
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


class ArchiveReader:
    """One open archive over a seekable binary stream (a file, or a nested archive's bytes)."""

    def __init__(
        self, fh: IO[bytes], fmt: ArchiveFormat, *, size: int, limits: ArchiveLimits, name: str = ""
    ) -> None:
        self.fh = fh
        self.fmt = fmt
        self.size = size
        self.limits = limits
        self.name = name
        self._zip: zipfile.ZipFile | None = None
        self._gz_tar: bool | None = None

    # --- listing -----------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """Every entry (at most ``max_members``). Raises :class:`ArchiveError` for a bad archive."""
        if self.fmt == "zip":
            return self._zip_members()
        if self.fmt == "gzip" and not self._is_tar_gz():
            return [self._gzip_member()]
        return self._tar_members()

    def _open_zip(self) -> zipfile.ZipFile:
        if self._zip is None:
            try:
                self.fh.seek(0)
                self._zip = zipfile.ZipFile(self.fh)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                raise ArchiveError(codes.ARCHIVE_CORRUPT, f"The ZIP archive cannot be read: {exc}.") from None
        return self._zip

    def _zip_members(self) -> list[Member]:
        zf = self._open_zip()
        infos = zf.infolist()
        if len(infos) > self.limits.max_members:
            raise ArchiveError(
                codes.ARCHIVE_BOMB,
                f"The ZIP archive lists {len(infos):,} entries, over the limit of "
                f"{self.limits.max_members:,}.",
            )
        spans = sorted(
            (i.header_offset, i.header_offset + 30 + len(i.filename.encode()) + i.compress_size, n)
            for n, i in enumerate(infos)
            if not i.is_dir()
        )
        for (start_a, end_a, _), (start_b, _, _) in itertools.pairwise(spans):
            if start_b < end_a and start_b >= start_a:
                raise ArchiveError(
                    codes.ARCHIVE_BOMB,
                    "The ZIP archive's entries overlap (several entries share the same compressed data): "
                    "the construction of a non-recursive zip bomb. It was not expanded.",
                )
        out = []
        for n, info in enumerate(infos):
            raw = info.filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "surrogateescape")
            mode = info.external_attr >> 16
            kind: Literal["file", "dir", "link", "other"] = "file"
            if info.is_dir():
                kind = "dir"
            elif stat.S_ISLNK(mode):
                kind = "link"
            m = Member(
                index=n,
                name=display_path(info.filename),
                raw=raw,
                kind=kind,
                size=info.file_size,
                compressed=info.compress_size,
                mtime=_iso_local(info.date_time),
                problems=_name_problems(info.filename),
            )
            if info.flag_bits & 0x1:
                m.problems.append(
                    Problem(codes.ARCHIVE_ENCRYPTED, "The entry is encrypted; its content was not read.")
                )
            if kind == "link":
                m.problems.append(
                    Problem(
                        codes.ARCHIVE_LINK, "The entry is a symbolic link; it was recorded, not followed."
                    )
                )
            out.append(m)
        return out

    def _is_tar_gz(self) -> bool:
        if self._gz_tar is None:
            try:
                self.fh.seek(0)
                with gzip.GzipFile(fileobj=self.fh) as gz:
                    block = gz.read(512)
                self._gz_tar = len(block) == 512 and (block[257:262] == b"ustar" or _tar_checksum_ok(block))
            except (OSError, EOFError, zlib.error):
                self._gz_tar = False
        return self._gz_tar

    def _gzip_member(self) -> Member:
        base = self.name.rsplit("/", 1)[-1]
        inner = base[:-3] if base.lower().endswith(".gz") else (base + ".out" if base else "content")
        raw = inner.encode("utf-8", "surrogateescape")
        return Member(index=0, name=display_path(inner), raw=raw, kind="file", compressed=self.size)

    def _open_tar(self) -> tarfile.TarFile:
        """Streaming mode: one forward pass, which is all a ``.tar.gz`` allows anyway."""
        self.fh.seek(0)
        try:
            return tarfile.open(fileobj=self.fh, mode="r|*")
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(codes.ARCHIVE_CORRUPT, f"The TAR archive cannot be read: {exc}.") from None

    def _tar_members(self) -> list[Member]:
        out: list[Member] = []
        tf = self._open_tar()
        budget = _Budget(self.limits, self.size)
        try:
            for n, ti in enumerate(_iter_tar(tf)):
                if n >= self.limits.max_members:
                    raise ArchiveError(
                        codes.ARCHIVE_BOMB,
                        f"The TAR archive has more than {self.limits.max_members:,} entries (the limit).",
                    )
                refused = budget.take(ti.size + 512)
                if refused is not None:
                    raise ArchiveError(refused.code, refused.message)
                out.append(_tar_member(n, ti))
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(codes.ARCHIVE_CORRUPT, f"The TAR archive is damaged: {exc}.") from None
        finally:
            tf.close()
        return out

    # --- reading -----------------------------------------------------------------------------------

    def read(self, wanted: Iterable[int]) -> Iterator[tuple[int, MemberData]]:
        """``(index, data)`` for each wanted regular-file member, in archive order."""
        want = sorted(set(wanted))
        if not want:
            return
        if self.fmt == "zip":
            yield from self._read_zip(want)
        elif self.fmt == "gzip" and not self._is_tar_gz():
            yield from self._read_gzip(want)
        else:
            yield from self._read_tar(set(want))

    def _read_zip(self, want: list[int]) -> Iterator[tuple[int, MemberData]]:
        zf = self._open_zip()
        infos = zf.infolist()
        budget = _Budget(self.limits, self.size, ratio=False)  # each entry has its own ratio check
        for n in want:
            if n >= len(infos):
                continue
            info = infos[n]
            try:
                with zf.open(info) as stream:
                    data = _read_bounded(
                        stream, limits=self.limits, compressed=info.compress_size, budget=budget
                    )
            except (
                zipfile.BadZipFile,
                RuntimeError,
                NotImplementedError,
                OSError,
                zlib.error,
                EOFError,
            ) as exc:
                data = Refused(codes.ARCHIVE_CORRUPT, f"The entry could not be read: {exc}.")
            yield n, data

    def _read_gzip(self, want: list[int]) -> Iterator[tuple[int, MemberData]]:
        if 0 not in want:
            return
        self.fh.seek(0)
        budget = _Budget(self.limits, self.size)
        with gzip.GzipFile(fileobj=self.fh) as gz:
            yield (
                0,
                _read_bounded(cast(IO[bytes], gz), limits=self.limits, compressed=self.size, budget=budget),
            )

    def _read_tar(self, want: set[int]) -> Iterator[tuple[int, MemberData]]:
        tf = self._open_tar()
        budget = _Budget(self.limits, self.size)
        last = max(want)
        try:
            for n, ti in enumerate(_iter_tar(tf)):
                if n > last:
                    break
                if n not in want:
                    refused = budget.take(ti.size)
                    if refused is not None:
                        yield from ((k, refused) for k in sorted(want) if k >= n)
                        return
                    continue
                stream = tf.extractfile(ti) if ti.isreg() else None
                if stream is None:
                    continue
                yield n, _read_bounded(stream, limits=self.limits, compressed=self.size, budget=budget)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            yield -1, Refused(codes.ARCHIVE_CORRUPT, f"The TAR archive is damaged: {exc}.")
        finally:
            tf.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tar_checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\x00", 1)[0].strip() or b"0", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    return stored == unsigned and any(block[:100])


def _iter_tar(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members without keeping them all (``TarFile`` remembers every member it has seen)."""
    for ti in tf:
        yield ti
        tf.members = []  # type: ignore[attr-defined]  # streaming: nothing needs earlier entries


def _tar_member(n: int, ti: tarfile.TarInfo) -> Member:
    name = ti.name
    raw = name.encode("utf-8", "surrogateescape")
    kind: Literal["file", "dir", "link", "other"]
    if ti.isreg():
        kind = "file"
    elif ti.isdir():
        kind = "dir"
    elif ti.issym() or ti.islnk():
        kind = "link"
    else:
        kind = "other"
    m = Member(
        index=n,
        name=display_path(name),
        raw=raw,
        kind=kind,
        size=ti.size,
        mtime=_iso_epoch(ti.mtime),
        problems=_name_problems(name),
    )
    if kind == "link":
        target = display_path(ti.linkname)
        m.problems.append(
            Problem(
                codes.ARCHIVE_LINK,
                f"The entry is a {'hard' if ti.islnk() else 'symbolic'} link to {target!r}; it was recorded, "
                "not followed.",
            )
        )
    return m


def open_bytes(data: bytes, fmt: ArchiveFormat, *, limits: ArchiveLimits, name: str = "") -> ArchiveReader:
    return ArchiveReader(io.BytesIO(data), fmt, size=len(data), limits=limits, name=name)
