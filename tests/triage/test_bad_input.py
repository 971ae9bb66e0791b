"""Hostile and broken input: every problem lands on an item (and in the report's error table), and
the scan always completes."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from takeback.triage import errors as codes
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import ScanFn, custody_actions, items, rows

JPEG = encode(synthetic_photo(200, 150, seed=1), "JPEG")


def test_zip_bomb_by_ratio_is_refused_and_the_rest_is_read(tmp_path: Path, scan: ScanFn) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", b"\0" * (24 << 20))  # ~24 KB compressed: ratio ~1000
        z.writestr("ok.jpg", JPEG)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(buf.getvalue())
    case = tmp_path / "case"
    summary = scan(case, [bomb], archive_ratio_floor=1 << 20, archive_max_ratio=100)
    got = items(case)
    assert got[f"{bomb}!/zeros.bin"]["error_code"] == codes.ARCHIVE_BOMB
    assert got[f"{bomb}!/zeros.bin"]["sha256"] is None  # nothing recorded from a partial read
    assert got[f"{bomb}!/ok.jpg"]["pdq"]
    assert summary.errors == 1


def test_zip_bomb_by_absolute_size(tmp_path: Path, scan: ScanFn) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", os.urandom(64 << 10) * 40)  # 2.5 MB, compresses well but under the ratio
    bomb = tmp_path / "big.zip"
    bomb.write_bytes(buf.getvalue())
    case = tmp_path / "case"
    scan(case, [bomb], archive_max_member_bytes=1 << 20)
    assert items(case)[f"{bomb}!/big.bin"]["error_code"] == codes.ARCHIVE_BOMB


def _overlapping_zip() -> bytes:
    """Two central-directory entries pointing at the same local data (Fifield's construction)."""
    data = zlib.compress(b"A" * 100_000)[2:-4]
    crc = zlib.crc32(b"A" * 100_000)
    name = b"a.txt"
    local = (
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), 100_000, len(name), 0)
        + name
        + data
    )
    central = b""
    for n in (b"a.txt", b"b.txt"):
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(data),
                100_000,
                len(n),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + n
        )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(central), len(local), 0)
    return local + central + end


def test_overlapping_zip_entries_are_refused(tmp_path: Path, scan: ScanFn) -> None:
    """The entry that shares another's data is refused on its own; the one the data belongs to (its
    local header names it) is read, and the archive itself is hashed as evidence."""
    bomb = tmp_path / "overlap.zip"
    bomb.write_bytes(_overlapping_zip())
    case = tmp_path / "case"
    scan(case, [bomb])
    got = items(case)
    assert got[str(bomb)]["sha256"]
    rec = got[f"{bomb}!/b.txt"]
    assert rec["error_code"] == codes.ARCHIVE_BOMB and "overlaps" in rec["error_message"]
    assert rec["sha256"] is None  # never expanded
    assert got[f"{bomb}!/a.txt"]["size"] == 100_000 and got[f"{bomb}!/a.txt"]["error_code"] is None


def test_unsafe_member_names_are_flagged_and_still_hashed(tmp_path: Path, scan: ScanFn) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../escape.jpg", JPEG)
        z.writestr("/etc/abs.jpg", JPEG)
        z.writestr("fine/ok.jpg", JPEG)
    arc = tmp_path / "names.zip"
    arc.write_bytes(buf.getvalue())
    case = tmp_path / "case"
    scan(case, [arc])
    got = items(case)
    for name in ("../../escape.jpg", "/etc/abs.jpg"):
        rec = got[f"{arc}!/{name}"]
        assert codes.ARCHIVE_UNSAFE_PATH in rec["warnings"] and rec["pdq"]
    assert got[f"{arc}!/fine/ok.jpg"]["warnings"] is None
    assert not (tmp_path / "escape.jpg").exists() and not (tmp_path.parent / "escape.jpg").exists()


def test_symlinks_out_of_the_source_and_loops(tmp_path: Path, scan: ScanFn) -> None:
    outside = tmp_path / "examiner-home"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(JPEG)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "real.jpg").write_bytes(JPEG)
    (src / "out.jpg").symlink_to(outside / "secret.jpg")
    (src / "outdir").symlink_to(outside)
    (src / "in.jpg").symlink_to(src / "real.jpg")
    (src / "sub" / "loop").symlink_to(src)
    (src / "broken").symlink_to(src / "nowhere")
    (src / "broken_out").symlink_to(tmp_path / "nowhere")
    case = tmp_path / "case"
    scan(case, [src])
    got = items(case)
    assert got[str(src / "out.jpg")]["error_code"] == codes.SYMLINK_OUTSIDE
    assert got[str(src / "out.jpg")]["sha256"] is None  # never read
    assert got[str(src / "outdir")]["error_code"] == codes.SYMLINK_OUTSIDE  # one item, never entered
    assert got[str(src / "in.jpg")]["pdq"] == got[str(src / "real.jpg")]["pdq"]
    assert got[str(src / "sub" / "loop")]["error_code"] == "symlink_loop"
    assert got[str(src / "broken")]["error_code"] == "not_found"
    assert got[str(src / "broken_out")]["error_code"] == codes.SYMLINK_OUTSIDE


def test_names_in_any_encoding_round_trip_to_coreutils(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    latin1 = os.fsencode(src) + b"/caf\xe9.jpg"
    with open(latin1, "wb") as fh:
        fh.write(JPEG)
    (src / "訊息.jpg").write_bytes(encode(synthetic_photo(200, 150, seed=2), "JPEG"))
    (src / "back\\slash.txt").write_text("x")
    case = tmp_path / "case"
    scan(case, [src])
    shown = {r["path"] for r in rows(case, "SELECT path FROM item")}
    assert f"{src}/caf\\xe9.jpg" in shown and f"{src}/訊息.jpg" in shown
    check = subprocess.run(["sha256sum", "-c", str(case / "hashes.sha256")], capture_output=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    check = subprocess.run(
        ["md5sum", "--quiet", "-c", str(case / "hashes.md5")], capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_empty_files_and_non_regular_files(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "empty.jpg").write_bytes(b"")
    os.mkfifo(src / "pipe")
    case = tmp_path / "case"
    scan(case, [src])
    got = items(case)
    empty = got[str(src / "empty.jpg")]
    assert (
        empty["size"] == 0
        and empty["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert "empty_file" in empty["warnings"]
    assert got[str(src / "pipe")]["error_code"] == "not_a_file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_files(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    locked = src / "locked.jpg"
    locked.write_bytes(JPEG)
    locked.chmod(0)
    case = tmp_path / "case"
    scan(case, [src])
    assert items(case)[str(locked)]["error_code"] == "permission_denied"


def test_unreadable_file_is_recorded_not_fatal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Permission errors from the read itself (the test above cannot run as root)."""
    from takeback.triage import tasks
    from takeback.triage.tasks import read

    f = tmp_path / "x.jpg"
    f.write_bytes(JPEG)

    def denied(path: bytes) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(read, "open_readonly", denied)
    tasks.init_worker(tasks.WorkerOptions())
    st = f.stat()
    r = tasks.run_file(tasks.FileTask(1, os.fsencode(f), st.st_size, st.st_mtime_ns))
    assert r.error is not None and r.error["code"] == "permission_denied" and r.sha256 is None


def test_files_that_vanish_or_change_during_the_scan(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "gone.jpg").write_bytes(JPEG)
    (src / "grows.jpg").write_bytes(JPEG)
    (src / "steady.jpg").write_bytes(JPEG)
    done = False

    def meddle(p: object) -> None:
        nonlocal done
        if getattr(p, "phase", "") == "scanning" and not done:  # listed, not yet read
            done = True
            (src / "gone.jpg").unlink()
            with open(src / "grows.jpg", "ab") as fh:
                fh.write(b"appended after listing")

    case = tmp_path / "case"
    scan(case, [src], progress=meddle)
    got = items(case)
    assert got[str(src / "gone.jpg")]["error_code"] == codes.VANISHED
    grown = got[str(src / "grows.jpg")]
    assert codes.CHANGED in grown["warnings"]
    assert grown["size"] == len(JPEG) + len(b"appended after listing")  # hashes are of what was read
    assert "item.changed" in custody_actions(case)
    assert got[str(src / "steady.jpg")]["warnings"] is None


@pytest.mark.slow
def test_ten_gigabyte_sparse_file_is_streamed(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = src / "huge.jpg"
    with open(big, "wb") as fh:
        fh.write(JPEG[:2000])  # starts like a JPEG
        fh.truncate(10 << 30)  # sparse: 10 GB of (mostly) holes
    case = tmp_path / "case"
    scan(case, [src], jobs=1)
    rec = items(case)[str(big)]
    assert rec["size"] == 10 << 30 and rec["sha256"] and rec["md5"] and rec["sha1"]
    assert rec["error_code"] == "file_too_large" and rec["pdq"] is None


def test_full_disk_stops_cleanly_and_resumes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scan: ScanFn
) -> None:
    """ENOSPC injected at the storage layer (the commit) after a few batches."""
    from sqlalchemy.exc import OperationalError

    from takeback.triage.errors import TriageError
    from takeback.triage.stages import process

    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"{i:03d}.png").write_bytes(encode(synthetic_photo(64, 48, seed=i), "PNG"))
    real_commit = process.commit
    calls = 0

    def full(ctx: process.ScanContext, results: list[process.ItemResult]) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OperationalError("COMMIT", {}, Exception("database or disk is full"))
        return real_commit(ctx, results)

    monkeypatch.setattr(process, "commit", full)
    monkeypatch.setattr(process, "COMMIT_EVERY_N", 5)
    case = tmp_path / "case"
    with pytest.raises(TriageError) as err:
        scan(case, [src])
    assert err.value.code == codes.DISK_FULL and "resume" in err.value.message
    assert "scan.stopped" in custody_actions(case)
    pending = rows(case, "SELECT count(*) AS n FROM item WHERE state = 'pending'")[0]["n"]
    assert pending > 0
    monkeypatch.setattr(process, "commit", real_commit)
    summary = scan(case, None)
    assert summary.items == 40 and summary.resumed
    assert rows(case, "SELECT count(*) AS n FROM item WHERE state = 'pending'")[0]["n"] == 0


def _can_mount() -> bool:
    return (
        os.geteuid() == 0
        and os.path.exists("/proc/filesystems")
        and "tmpfs" in Path("/proc/filesystems").read_text()
    )


@pytest.mark.skipif(not _can_mount(), reason="needs root to mount a small tmpfs")
def test_full_disk_on_a_real_small_filesystem(tmp_path: Path, scan: ScanFn) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(300):
        (src / f"{i:03d}.png").write_bytes(encode(synthetic_photo(48, 32, seed=i), "PNG"))
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], check=False).returncode:
        pytest.skip("mount refused")
    try:
        from takeback.triage.errors import TriageError

        case = mnt / "case"
        with pytest.raises(TriageError) as err:
            scan(case, [src])
        assert err.value.code == codes.DISK_FULL
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        summary = scan(case, None)
        assert summary.items == 300
        assert rows(case, "SELECT count(*) AS n FROM item WHERE attempts > 1")[0]["n"] <= 64
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_content_over_the_decode_limit_is_hashed_while_streaming(tmp_path: Path, scan: ScanFn) -> None:
    import hashlib

    src = tmp_path / "src"
    src.mkdir()
    blob = os.urandom(3 << 20)
    (src / "big.bin").write_bytes(blob)
    (src / "big.jpg").write_bytes(JPEG + blob)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("inside.bin", blob)
    (src / "a.zip").write_bytes(buf.getvalue())
    case = tmp_path / "case"
    scan(case, [src], max_file_bytes=1 << 20)
    got = items(case)
    for path, data in (
        (src / "big.bin", blob),
        (src / "big.jpg", JPEG + blob),
        (f"{src / 'a.zip'}!/inside.bin", blob),
    ):
        rec = got[str(path)]
        assert rec["size"] == len(data)
        assert rec["sha256"] == hashlib.sha256(data).hexdigest()
        assert rec["md5"] == hashlib.md5(data).hexdigest() and rec["sha1"] == hashlib.sha1(data).hexdigest()
    assert got[str(src / "big.jpg")]["error_code"] == "file_too_large"
    assert got[str(src / "big.bin")]["error_code"] is None
