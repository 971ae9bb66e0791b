"""Read ZIP, TAR and gzip archives in place, with limits: nothing is ever extracted to disk.

Why this care: a seized archive may be hostile. A zip bomb (42.zip, or Fifield's overlapping-entry
construction) expands to petabytes; member names like ``../../etc/passwd`` or ``/root/x`` are
harmless here because nothing is written, but they are suspicious and are reported; links inside an
archive point nowhere real and are recorded, not followed. Limits, all in :class:`ArchiveLimits`:

* **ratio**: a member (or a whole ``.tar.gz``) producing more than ``max_ratio`` times its compressed
  size, once past ``ratio_floor`` bytes, is stopped and reported as ``archive_bomb``;
* **absolute**: ``max_member_bytes`` per member, ``max_total_bytes`` per archive;
* **overlap**: a ZIP entry whose data runs into another entry's (the non-recursive bomb), whose local
  header is missing, or whose compressed size runs past the central directory is refused on its own,
  and the other entries are read; the ratio is taken over compressed bytes the entry really has;
* **headers**: TAR metadata (GNU long names ``L``/``K``, pax ``x``/``g``, sparse maps) over
  ``max_header_bytes`` is refused before :mod:`tarfile` reads it (it reads a whole long name into
  memory first): the header is recorded as a refused entry and the rest of the archive is read when the
  budget lets the stream be followed past it;
* **depth**: archives nested deeper than ``max_depth`` are recorded, not opened;
* **count**: at most ``max_members`` members are listed.

Sizes are counted as bytes come out of the decompressor, never taken from headers, which lie. A TAR
that is damaged or over budget part-way keeps the entries listed before that point
(:attr:`ArchiveReader.stopped` says why the rest was not listed).
Members up to ``in_memory_bytes`` are returned whole (to be fingerprinted from bytes); larger ones
are hashed as they stream past.
"""

from __future__ import annotations

import bisect
import gzip
import io
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Literal, cast

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
    #: one TAR entry's metadata (long name, pax records, sparse map); PATH_MAX is 4 KB
    max_header_bytes: int = 1024 * 1024


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
    #: why the entry is refused without being read (a forged ZIP entry, an oversized TAR header)
    refused: Problem | None = None


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


def why(exc: BaseException) -> str:
    """A readable reason for a decompression or parsing failure (some carry no message at all:
    ``EOFError()`` from zipfile when an entry's data ends before its declared size)."""
    if isinstance(exc, EOFError):
        return (
            "its data ends before the size its header declares (the archive is truncated or the size forged)"
        )
    text = str(exc).strip().rstrip(".")
    return text or f"{type(exc).__name__} while reading it"


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
        return Refused(codes.ARCHIVE_CORRUPT, f"The entry could not be read: {why(exc)}.")
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
        self._zip_refusals: dict[int, Problem] | None = None
        self._gz_tar: bool | None = None
        #: why a TAR's listing ended early (damaged, over budget, an unfollowable header), if it did
        self.stopped: Problem | None = None

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
                raise ArchiveError(
                    codes.ARCHIVE_CORRUPT, f"The ZIP archive cannot be read: {why(exc)}."
                ) from None
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
        refused = self._zip_refused()
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
                refused=refused.get(n),
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

    def _zip_refused(self) -> dict[int, Problem]:
        """Entries whose data cannot be trusted, each refused on its own: no local header where the
        central directory says; data that runs into another entry's (several entries sharing data: the
        non-recursive zip bomb); a compressed size running past the central directory (a forged size
        that would also defeat the ratio guard). Every other entry's compressed size is then bounded
        by the bytes it really has."""
        if self._zip_refusals is not None:
            return self._zip_refusals
        zf = self._open_zip()
        infos = zf.infolist()
        end = min(int(getattr(zf, "start_dir", self.size)), self.size)
        refused: dict[int, Problem] = {}
        local: dict[int, tuple[int, int]] = {}  # entry -> (header offset, data offset), names agreeing
        strays: list[int] = []  # a local header is there, but it names another entry
        for n, info in enumerate(infos):
            off = info.header_offset
            header = b""
            if 0 <= off <= end - 30:
                self.fh.seek(off)
                header = self.fh.read(30)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                refused[n] = Problem(
                    codes.ARCHIVE_CORRUPT,
                    f"The central directory places the entry at offset {off:,}, where there is no entry "
                    "header (a damaged or forged directory); it was not read.",
                )
                continue
            flags = int.from_bytes(header[6:8], "little")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            raw = self.fh.read(name_len)
            name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
            if name != info.orig_filename:
                strays.append(n)
                continue
            local[n] = (off, off + 30 + name_len + extra_len)
        owners = sorted((off, n) for n, (off, _) in local.items())
        starts = [off for off, _ in owners]
        overlap = Problem(
            codes.ARCHIVE_BOMB,
            "The entry's data overlaps another entry's (several entries sharing compressed data: the "
            "construction of a non-recursive zip bomb); it was not expanded.",
        )
        kept: list[tuple[int, int, int]] = []  # (start, declared end, entry)
        for i, (off, n) in enumerate(owners):
            if i and starts[i - 1] == off:
                refused[n] = overlap  # the same header claimed twice
                continue
            j = bisect.bisect_right(starts, off)
            nxt = starts[j] if j < len(starts) else None
            data_end = local[n][1] + infos[n].compress_size
            if nxt is not None and data_end > nxt:
                refused[n] = overlap
            elif nxt is None and data_end > end:
                refused[n] = Problem(
                    codes.ARCHIVE_CORRUPT,
                    f"The entry declares {infos[n].compress_size:,} compressed bytes, more than the "
                    f"{max(0, end - local[n][1]):,} the archive holds for it (a forged size); it was not "
                    "read.",
                )
            kept.append((off, data_end, n))
        kept_starts = [k[0] for k in kept]
        for n in strays:
            off = infos[n].header_offset
            i = bisect.bisect_right(kept_starts, off) - 1
            inside = i >= 0 and off < max(kept[i][1], kept[i][0] + 1)
            refused[n] = (
                overlap
                if inside
                else Problem(
                    codes.ARCHIVE_CORRUPT,
                    "The entry's header names another entry (a damaged or forged directory); it was not "
                    "read.",
                )
            )
        self._zip_refusals = refused
        return refused

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
        """Streaming mode: one forward pass, which is all a ``.tar.gz`` allows anyway. Headers are
        parsed by :class:`_GuardedTarInfo`, which refuses oversized metadata before it is read."""
        self.fh.seek(0)
        guarded = type(
            "_LimitedTarInfo", (_GuardedTarInfo,), {"max_header_bytes": self.limits.max_header_bytes}
        )
        try:
            return tarfile.open(fileobj=self.fh, mode="r|*", tarinfo=guarded)
        except _HeaderTooLargeError as exc:
            raise ArchiveError(codes.ARCHIVE_HEADER_TOO_LARGE, exc.message) from None
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(
                codes.ARCHIVE_CORRUPT, f"The TAR archive cannot be read: {why(exc)}."
            ) from None

    def _tar_members(self) -> list[Member]:
        """Entries up to the end, or up to where the archive stops being followable (damaged, over
        budget, a header that cannot be skipped): those listed before stay, :attr:`stopped` says why."""
        out: list[Member] = []
        tf = self._open_tar()
        budget = _Budget(self.limits, self.size)
        self.stopped = None
        try:
            for n, ti in enumerate(_iter_tar(tf)):
                if n >= self.limits.max_members:
                    raise ArchiveError(
                        codes.ARCHIVE_BOMB,
                        f"The TAR archive has more than {self.limits.max_members:,} entries (the limit).",
                    )
                out.append(_tar_member(n, ti))
                refused = budget.take(ti.size + 512)  # what skipping to the next header will inflate
                if refused is not None:
                    self.stopped = Problem(refused.code, refused.message)
                    break
        except _HeaderTooLargeError as exc:
            self.stopped = Problem(codes.ARCHIVE_HEADER_TOO_LARGE, exc.message)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            if not out:
                raise ArchiveError(
                    codes.ARCHIVE_CORRUPT, f"The TAR archive is damaged: {why(exc)}."
                ) from None
            self.stopped = Problem(
                codes.ARCHIVE_CORRUPT,
                f"The TAR archive is damaged after its first {len(out):,} entries ({why(exc)}); the rest "
                "of it was not read.",
            )
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
        refused = self._zip_refused()
        for n in want:
            if n >= len(infos):
                continue
            info = infos[n]
            problem = refused.get(n)
            if problem is not None:
                yield n, Refused(problem.code, problem.message)
                continue
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
                data = Refused(codes.ARCHIVE_CORRUPT, f"The entry could not be read: {why(exc)}.")
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
                if n not in want or getattr(ti, "refused", None) is not None:
                    refused = budget.take(ti.size)
                    if refused is not None:
                        yield from ((k, refused) for k in sorted(want) if k >= n)
                        return
                    continue
                stream = tf.extractfile(ti) if ti.isreg() else None
                if stream is None:
                    continue
                yield n, _read_bounded(stream, limits=self.limits, compressed=self.size, budget=budget)
        except _HeaderTooLargeError as exc:
            yield -1, Refused(codes.ARCHIVE_HEADER_TOO_LARGE, exc.message)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            yield -1, Refused(codes.ARCHIVE_CORRUPT, f"The TAR archive is damaged: {why(exc)}.")
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


_META_TYPES = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


class _HeaderTooLargeError(tarfile.TarError):
    """An entry's metadata grew past the limit while :mod:`tarfile` parsed it (a sparse map, a chain
    of headers): the stream position is lost, so the archive cannot be followed further."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _MetadataBudget:
    """The stream :mod:`tarfile` reads one entry's metadata from, refusing reads past ``left`` bytes
    before they happen (so nothing oversized is ever buffered)."""

    def __init__(self, inner: IO[bytes], left: int) -> None:
        self.inner = inner
        self.left = left

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            raise _HeaderTooLargeError(
                "An entry's TAR metadata (sparse map or chained headers) runs past the limit; the rest of "
                "the archive was not read."
            )
        data = self.inner.read(n)
        self.left -= len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _GuardedTarInfo(tarfile.TarInfo):
    """A :class:`tarfile.TarInfo` that looks at a metadata entry's declared size (``L``/``K`` GNU long
    names, ``x``/``g`` pax records) before :mod:`tarfile` reads that many bytes into memory. One over
    ``max_header_bytes`` becomes an entry of its own, marked ``refused``, whose data is skipped like a
    file's (the following entry keeps the name in its own header); any other metadata read is bounded.
    It hooks :meth:`tarfile.TarInfo._proc_member`, the one place where every header is dispatched."""

    max_header_bytes = 1024 * 1024
    refused: Problem | None = None

    def _proc_member(self, archive: Any) -> Any:
        limit = self.max_header_bytes
        if self.type in _META_TYPES and self.size > limit:
            what = "GNU long-name" if self.type in (b"L", b"K") else "pax"
            self.refused = Problem(
                codes.ARCHIVE_HEADER_TOO_LARGE,
                f"A {what} header declares {self.size:,} bytes of metadata, over the limit of {limit:,}; "
                "it was not read (the next entry keeps the short name in its own header).",
            )
            self.offset_data = archive.fileobj.tell()
            archive.offset = self.offset_data + -(-self.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            return self
        if (self.type in _META_TYPES or self.type == tarfile.GNUTYPE_SPARSE) and not isinstance(
            archive.fileobj, _MetadataBudget
        ):
            inner = archive.fileobj
            archive.fileobj = _MetadataBudget(inner, 4 * limit)
            try:
                return super()._proc_member(archive)  # type: ignore[misc]
            finally:
                archive.fileobj = inner
        return super()._proc_member(archive)  # type: ignore[misc]


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
        refused=getattr(ti, "refused", None),
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
