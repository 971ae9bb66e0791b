"""Hostile archives (issue 12): oversized TAR headers are refused before they are read (under a memory
limit), forged ZIP sizes and offsets cost only their own entry, refused members commit as they go."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from takeback.triage import archives, pipeline
from takeback.triage import errors as codes
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import ScanFn, items, rows

ROOT = Path(__file__).resolve().parents[2]
JPEG = encode(synthetic_photo(200, 150, seed=1), "JPEG")
GB = 1 << 30


# --- building hostile archives from raw bytes ---------------------------------------------------------


def _tar_header(name: str, size: int, type_: bytes) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mtime = size, type_, 0
    return ti.tobuf(format=tarfile.USTAR_FORMAT)


def _tar_member(name: str, data: bytes) -> bytes:
    return _tar_header(name, len(data), tarfile.REGTYPE) + data + b"\0" * (-len(data) % 512)


def _gzip(pieces: list[tuple[bytes, int]]) -> bytes:
    """A gzip stream of each ``block`` repeated ``times``. After a full flush deflate forgets its
    history, so a repeated block compresses to the same bytes: a gigabyte costs a megabyte, built in
    a second, never held."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"]
    crc = size = 0
    for block, times in pieces:
        first = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
        out.append(first)
        if times > 1:
            again = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
            out.append(again * (times - 1))
        for _ in range(times):
            crc = zlib.crc32(block, crc)
        size += len(block) * times
    out.append(z.flush())
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


def _tar_gz_with_metadata(meta_type: bytes, meta_size: int) -> bytes:
    """a.jpg, then a ``meta_type`` header declaring ``meta_size`` bytes (and that many), then b.jpg."""
    assert meta_size % (1 << 20) == 0
    return _gzip(
        [
            (_tar_member("a.jpg", JPEG) + _tar_header("././@LongLink", meta_size, meta_type), 1),
            (b"a" * (1 << 20), meta_size >> 20),
            (_tar_member("b.jpg", JPEG) + b"\0" * 1024, 1),
        ]
    )


_SCAN_UNDER_LIMIT = """
import json, resource, sys
from pathlib import Path
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from takeback.evidence.signing import Signer
from takeback.triage import service
from takeback.triage.models import ScanSettings
from takeback.triage.pipeline import RunOptions

run = RunOptions(signer=Signer.generate(), examiner="examiner-1", jobs=0)
case = Path(sys.argv[2])
for sources in (sys.argv[3:], None):  # the scan, then the same case again (a resume)
    db, summary = service.scan(case, sources, settings=ScanSettings(nudity=False, match_banks=False), run=run)
    db.close()
    print(json.dumps({"items": summary.items, "errors": summary.errors, "resumed": summary.resumed}))
"""


def _scan_under_memory_limit(case: Path, sources: list[Path], limit: int) -> list[dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-c", _SCAN_UNDER_LIMIT, str(limit), str(case), *map(str, sources)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "TAKEBACK_DATA_DIR": str(case.parent / "data")},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


# --- TAR metadata ---------------------------------------------------------------------------------------


def test_gigabyte_tar_headers_are_refused_under_a_memory_limit(tmp_path: Path) -> None:
    """The probe's 1-MB ``.tar.gz`` with a 1-GB GNU long name (and the same as a pax ``x`` and ``g``
    record) went to 5.4 GB and died in SQLite; under a 2-GB address-space limit (the scan itself
    needs ~0.4 GB) each scan and its resume complete, the header is one refused entry, the entries
    before it are read, and the archive says where it stopped."""
    src = tmp_path / "src"
    src.mkdir()
    for t in (tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE, tarfile.XGLTYPE):
        (src / f"{t.decode()}.tar.gz").write_bytes(_tar_gz_with_metadata(t, GB))
    assert all(p.stat().st_size < 2 << 20 for p in src.iterdir())
    case = tmp_path / "case"
    runs = _scan_under_memory_limit(case, [src], 2 * GB)
    assert [r["items"] for r in runs] == [9, 9] and runs[1]["resumed"]
    got = items(case)
    for t in ("L", "x", "g"):
        archive = str(src / f"{t}.tar.gz")
        assert got[f"{archive}!/a.jpg"]["pdq"] and got[f"{archive}!/a.jpg"]["error_code"] is None
        header = got[f"{archive}!/././@LongLink"]
        assert header["error_code"] == codes.ARCHIVE_HEADER_TOO_LARGE, t
        assert "1,073,741,824 bytes" in header["error_message"] and header["state"] == "done"
        # skipping the gigabyte would inflate 1,000x the archive: the rest is not followed, and said so
        assert codes.ARCHIVE_BOMB in got[archive]["warnings"]
        assert f"{archive}!/b.jpg" not in got


def test_a_long_header_the_budget_can_skip_is_refused_and_the_rest_read(tmp_path: Path, scan: ScanFn) -> None:
    """A 2-MB long name in a plain TAR (no ratio to speak of): the header is refused and skipped, and
    the entries after it are read."""
    tar = tmp_path / "long.tar"
    with open(tar, "wb") as fh:
        fh.write(_tar_member("a.jpg", JPEG))
        fh.write(_tar_header("././@LongLink", 2 << 20, tarfile.GNUTYPE_LONGNAME) + b"n" * (2 << 20))
        fh.write(_tar_member("b.jpg", JPEG) + _tar_member("c.jpg", JPEG) + b"\0" * 1024)
    case = tmp_path / "case"
    scan(case, [tar])
    got = items(case)
    assert got[f"{tar}!/././@LongLink"]["error_code"] == codes.ARCHIVE_HEADER_TOO_LARGE
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        assert got[f"{tar}!/{name}"]["pdq"], name
    assert got[str(tar)]["error_code"] is None


def test_a_sparse_map_past_the_limit_stops_the_listing_not_the_scan() -> None:
    """Old GNU sparse entries chain extension blocks (each parsed into memory); past the metadata
    limit the listing stops there, keeping what came before."""
    ext = bytearray(512)
    ext[504] = 1  # isextended: another block follows
    sparse = bytearray(_tar_header("sparse.bin", 0, tarfile.GNUTYPE_SPARSE))
    sparse[482] = 1
    struct.pack_into("8s", sparse, 148, b"        ")
    sparse[148:156] = b"%06o\0 " % sum(sparse)
    data = _tar_member("a.jpg", JPEG) + bytes(sparse) + bytes(ext) * 64 + b"\0" * 1024
    limits = archives.ArchiveLimits(max_header_bytes=4096)
    reader = archives.open_bytes(data, "tar", limits=limits)
    names = [m.name for m in reader.members()]
    assert names == ["a.jpg"]
    assert reader.stopped is not None and reader.stopped.code == codes.ARCHIVE_HEADER_TOO_LARGE


# --- ZIP central directories that lie ---------------------------------------------------------------------


def _zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def _patch_central(
    data: bytes, name: bytes, *, compress_size: int | None = None, offset: int | None = None
) -> bytes:
    """Rewrite one central-directory record's compressed size or local-header offset."""
    out = bytearray(data)
    pos = 0
    while True:
        pos = out.index(b"PK\x01\x02", pos)
        n_len = struct.unpack_from("<H", out, pos + 28)[0]
        if bytes(out[pos + 46 : pos + 46 + n_len]) == name:
            break
        pos += 4
    if compress_size is not None:
        struct.pack_into("<I", out, pos + 20, compress_size)
    if offset is not None:
        struct.pack_into("<I", out, pos + 42, offset)
    return bytes(out)


ZEROS = b"\0" * (24 << 20)  # deflates ~1,000x: a bomb under the scan's ratio limit of 100 below
BOMB_LIMITS = {"archive_ratio_floor": 1 << 20, "archive_max_ratio": 100}


def test_a_forged_compressed_size_does_not_defeat_the_ratio_guard(tmp_path: Path, scan: ScanFn) -> None:
    """A compressed size of ~4 GB in the central directory made the ratio limit 400 GB: the bomb was
    inflated whole (or, first in the archive, made every entry an 'overlap'). Now the forged entry is
    refused on its own, with a message that says why, and the others are read."""
    last = tmp_path / "last.zip"  # the forged entry runs past the central directory
    last.write_bytes(
        _patch_central(_zip([("ok.jpg", JPEG), ("zeros.bin", ZEROS)]), b"zeros.bin", compress_size=0xFFFFFFF0)
    )
    first = tmp_path / "first.zip"  # the forged entry runs into the next entry
    first.write_bytes(
        _patch_central(_zip([("zeros.bin", ZEROS), ("ok.jpg", JPEG)]), b"zeros.bin", compress_size=0xFFFFFFF0)
    )
    case = tmp_path / "case"
    scan(case, [last, first], **BOMB_LIMITS)
    got = items(case)
    for arc, code in ((last, codes.ARCHIVE_CORRUPT), (first, codes.ARCHIVE_BOMB)):
        bomb = got[f"{arc}!/zeros.bin"]
        assert bomb["error_code"] == code and bomb["sha256"] is None, dict(bomb)
        assert "4,294,967,280" in bomb["error_message"] or "overlaps" in bomb["error_message"]
        assert got[f"{arc}!/ok.jpg"]["pdq"] and got[f"{arc}!/ok.jpg"]["error_code"] is None
        assert got[str(arc)]["error_code"] is None
    for r in rows(case, "SELECT error_message FROM item WHERE error_message IS NOT NULL"):
        assert ": ." not in r["error_message"] and not r["error_message"].endswith(": ")


def test_the_ratio_guard_counts_the_bytes_an_entry_really_has(tmp_path: Path) -> None:
    """An honest bomb and the same bomb with a forged size stop at the same point: the limit is over
    compressed bytes present in the archive, never over a declared size."""
    limits = archives.ArchiveLimits(ratio_floor=1 << 20, max_ratio=100)
    honest = _zip([("zeros.bin", ZEROS)])
    reader = archives.open_bytes(honest, "zip", limits=limits)
    [(_, data)] = list(reader.read([0]))
    assert isinstance(data, archives.Refused) and data.code == codes.ARCHIVE_BOMB
    forged = archives.open_bytes(
        _patch_central(honest, b"zeros.bin", compress_size=0xFFFFFFF0), "zip", limits=limits
    )
    [member] = forged.members()
    assert member.refused is not None and member.refused.code == codes.ARCHIVE_CORRUPT
    [(_, data)] = list(forged.read([0]))
    assert isinstance(data, archives.Refused) and "forged" in data.message


def test_one_bad_header_offset_costs_only_its_entry(tmp_path: Path, scan: ScanFn) -> None:
    photos = [(f"{i}.jpg", encode(synthetic_photo(120, 90, seed=10 + i), "JPEG")) for i in range(3)]
    good = _zip(photos, zipfile.ZIP_STORED)
    info = zipfile.ZipFile(io.BytesIO(good)).getinfo("0.jpg")
    inside = info.header_offset + 30 + len("0.jpg") + 500  # into 0.jpg's own data
    arc = tmp_path / "bad-offset.zip"
    arc.write_bytes(_patch_central(good, b"1.jpg", offset=inside))
    case = tmp_path / "case"
    scan(case, [arc])
    got = items(case)
    assert got[str(arc)]["error_code"] is None  # the archive is not a "bomb"
    bad = got[f"{arc}!/1.jpg"]
    assert bad["error_code"] == codes.ARCHIVE_CORRUPT and "no entry header" in bad["error_message"]
    assert got[f"{arc}!/0.jpg"]["pdq"] and got[f"{arc}!/2.jpg"]["pdq"]


def test_an_entry_error_never_has_an_empty_reason() -> None:
    assert archives.why(EOFError()).startswith("its data ends before")
    assert archives.why(zipfile.BadZipFile()) == "BadZipFile while reading it"
    assert (
        archives.why(zlib.error("Error -3 while decompressing data.")) == "Error -3 while decompressing data"
    )


# --- refused members commit as they go -----------------------------------------------------------------


def _bad_crc_zip(n: int) -> bytes:
    """``n`` stored entries whose CRC-32 is wrong: each is refused when read (cheaply)."""
    data = bytearray(_zip([(f"{i:03d}.bin", b"payload %d" % i) for i in range(n)], zipfile.ZIP_STORED))
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        data[pos + 16] ^= 0xFF  # CRC in the central directory
        pos += 4
    return bytes(data)


def test_refused_members_of_a_nested_archive_commit_as_they_go(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scan: ScanFn
) -> None:
    """A nested archive whose members are all refused: they used to be held until the whole archive
    ended, so a kill lost them all and a resume made no progress. The scan dies (as under ``kill -9``:
    nothing in memory survives) on the 150th refusal; what was refused before is already committed,
    and the resume does only the rest."""
    outer = tmp_path / "outer.zip"
    outer.write_bytes(_zip([("inner.zip", _bad_crc_zip(200))], zipfile.ZIP_STORED))
    real = archives._read_bounded
    calls = 0

    def dies(*a: object, **k: object) -> archives.MemberData:
        nonlocal calls
        result = real(*a, **k)  # type: ignore[arg-type]
        if isinstance(result, archives.Refused):
            calls += 1
            if calls == 150:
                raise SystemExit("killed")
        return result

    monkeypatch.setattr(archives, "_read_bounded", dies)
    case = tmp_path / "case"
    with pytest.raises(SystemExit):
        scan(case, [outer], outputs=False)
    committed = rows(case, "SELECT count(*) AS n FROM item WHERE depth = 2 AND state = 'done'")[0]["n"]
    assert committed >= 150 - pipeline.COMMIT_EVERY_N
    monkeypatch.setattr(archives, "_read_bounded", real)
    summary = scan(case, None)
    assert summary.resumed
    inner = rows(case, "SELECT error_code, attempts FROM item WHERE depth = 2")
    assert len(inner) == 200 and all(r["error_code"] == codes.ARCHIVE_CORRUPT for r in inner)
    assert sum(r["attempts"] > 1 for r in inner) <= 150 - committed


def test_a_forty_kilobyte_member_name_does_not_break_the_report(tmp_path: Path, scan: ScanFn) -> None:
    """ZIP names may be 65,535 bytes; one table row cannot break across PDF pages, so the report (and
    every re-run, which writes it again) failed. The report shows the name cut in the middle; the
    exports keep it whole."""
    name = "d/" * 20_000 + "x.jpg"
    arc = tmp_path / "long-name.zip"
    arc.write_bytes(_zip([(name, JPEG), ("../escape.jpg", JPEG)]))
    case = tmp_path / "case"
    scan(case, [arc])
    assert (case / "report.pdf").stat().st_size > 0
    assert "characters] …" in (case / "report.html").read_text()
    assert f"{arc}!/{name}" in (case / "items.csv").read_text()
