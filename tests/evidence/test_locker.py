"""The encrypted locker: round trips, wrong passphrase, tampering, truncation, copied folders, big files."""

from __future__ import annotations

import hashlib
import io
import os
import resource
import shutil
import tracemalloc
from pathlib import Path

import pytest

from takeback.evidence.errors import LockerError
from takeback.evidence.locker import HEADER, TAG, KdfParams, Locker

PASS = "correct horse battery"
FAST = KdfParams.for_tests()


@pytest.fixture
def locker(tmp_path: Path) -> Locker:
    lk = Locker.create(tmp_path / "locker", PASS, kdf=FAST)
    lk.chunk_size = 1024  # small chunks so tests cover many-chunk streams quickly
    return lk


def blob_file(lk: Locker, blob_id: str) -> Path:
    return lk.blob_path(blob_id)


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 3 * 1024, 3 * 1024 + 7])
def test_round_trip_at_every_chunk_boundary(locker: Locker, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    stored = locker.store_stream(io.BytesIO(data))
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(data).hexdigest())
    raw = blob_file(locker, stored.blob_id).read_bytes()
    assert data[:16] not in raw or size < 16  # not stored in the clear
    chunks = max(1, -(-size // 1024))  # the last chunk carries the final flag, even when full
    assert len(raw) == HEADER.size + size + TAG * chunks
    again = Locker.open(locker.root, PASS)
    out = tmp_path / "out.bin"
    assert again.decrypt_to(stored.blob_id, out, expected_sha256=stored.sha256) == size
    assert out.read_bytes() == data
    assert out.stat().st_mode & 0o777 == 0o600


def test_wrong_passphrase_is_clear_and_decrypts_nothing(locker: Locker, tmp_path: Path) -> None:
    locker.store_stream(io.BytesIO(b"x" * 5000))
    with pytest.raises(LockerError) as err:
        Locker.open(locker.root, "wrong horse battery")
    assert err.value.code == "wrong_passphrase"
    assert "nothing was decrypted" in err.value.message
    assert not list(tmp_path.glob("out*"))


def tamper(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_any_flipped_byte_fails_and_leaves_no_partial_output(locker: Locker, tmp_path: Path) -> None:
    data = os.urandom(3000)  # 3 chunks
    stored = locker.store_stream(io.BytesIO(data))
    path = blob_file(locker, stored.blob_id)
    pristine = path.read_bytes()
    offsets = [*range(0, HEADER.size), *range(HEADER.size, len(pristine), 97), len(pristine) - 1]
    for off in offsets:
        path.write_bytes(pristine)
        tamper(path, off)
        out = tmp_path / "out.bin"
        with pytest.raises(LockerError) as err:
            locker.decrypt_to(stored.blob_id, out)
        assert err.value.code in ("blob_corrupt", "locker_key_mismatch"), off
        assert not out.exists(), off
        assert not list(tmp_path.glob(".out.bin.*")), off


def test_truncation_and_reordering_are_detected(locker: Locker, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 + 100)  # 3 full chunks + a short final chunk
    stored = locker.store_stream(io.BytesIO(data))
    path = blob_file(locker, stored.blob_id)
    raw = path.read_bytes()
    step = 1024 + TAG
    body = raw[HEADER.size :]
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    assert len(chunks) == 4 and len(chunks[-1]) == 100 + TAG
    cases = {
        "cut at a chunk boundary": raw[: HEADER.size + 2 * step],
        "final chunk dropped": raw[: HEADER.size + 3 * step],
        "cut mid-chunk": raw[: HEADER.size + step + 100],
        "header only": raw[: HEADER.size],
        "chunks swapped": raw[: HEADER.size] + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "data appended": raw + b"\x00" * 40,
    }
    for name, blob in cases.items():
        path.write_bytes(blob)
        out = tmp_path / "out.bin"
        with pytest.raises(LockerError) as err:
            locker.decrypt_to(stored.blob_id, out)
        assert err.value.code == "blob_corrupt", name
        assert not out.exists(), name


def test_folder_copied_without_its_key(locker: Locker, tmp_path: Path) -> None:
    locker.store_stream(io.BytesIO(b"evidence"))
    copy = tmp_path / "copied"
    shutil.copytree(locker.root, copy)
    (copy / "locker.key").unlink()
    for attempt in (lambda: Locker.open(copy, PASS), lambda: Locker.create(copy, PASS, kdf=FAST)):
        with pytest.raises(LockerError) as err:
            attempt()
        assert err.value.code == "locker_key_missing"
        assert "copied without it" in err.value.message


def test_blobs_from_another_locker_and_damaged_key_files(locker: Locker, tmp_path: Path) -> None:
    stored = locker.store_stream(io.BytesIO(b"evidence"))
    other = Locker.create(tmp_path / "other", PASS, kdf=FAST)
    dest = other.blob_path(stored.blob_id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(locker.blob_path(stored.blob_id), dest)
    with pytest.raises(LockerError) as err:
        other.decrypt_to(stored.blob_id, tmp_path / "o")
    assert err.value.code == "locker_key_mismatch"
    (locker.root / "locker.key").write_text("{broken")
    with pytest.raises(LockerError) as err:
        Locker.open(locker.root, PASS)
    assert err.value.code == "locker_key_damaged"
    with pytest.raises(LockerError) as err:
        Locker.create(tmp_path / "weak", "short", kdf=FAST)
    assert err.value.code == "weak_passphrase"
    with pytest.raises(LockerError) as err:
        Locker.open(tmp_path / "nothing-here", PASS)
    assert err.value.code == "locker_missing"
    with pytest.raises(LockerError):
        locker.blob_path("../../etc/passwd")


def test_memory_stays_flat_while_streaming_64_mib(tmp_path: Path) -> None:
    """Default 1 MiB chunks: encrypting and decrypting 64 MiB allocates a few chunks, not the file."""
    lk = Locker.create(tmp_path / "locker", PASS, kdf=FAST)
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as fh:
        for _ in range(64):
            fh.write(block)
    tracemalloc.start()
    stored = lk.store_file(src)
    _, peak_store = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    out = tmp_path / "out.bin"
    lk.decrypt_to(stored.blob_id, out, expected_sha256=stored.sha256)
    _, peak_read = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stored.size == 64 << 20
    assert peak_store < 8 << 20, peak_store
    assert peak_read < 8 << 20, peak_read
    assert out.stat().st_size == 64 << 20


@pytest.mark.slow
def test_two_gigabyte_sparse_file_is_streamed(tmp_path: Path) -> None:
    """A 2-GB evidence file (sparse: the disk stays small) through capture hashing and the locker."""
    from takeback.signals.fingerprint import fingerprint_file

    src = tmp_path / "video.bin"
    with open(src, "wb") as fh:
        fh.truncate(2 * 1024**3)
        fh.seek(1024**3)
        fh.write(b"middle marker")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fp = fingerprint_file(src)
    lk = Locker.create(tmp_path / "locker", PASS, kdf=FAST)
    stored = lk.store_file(src)
    h = hashlib.sha256()
    n = 0
    for chunk in lk.iter_plaintext(stored.blob_id):
        h.update(chunk)
        n += len(chunk)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert stored.size == n == 2 * 1024**3
    assert stored.sha256 == fp.hex("sha256") == h.hexdigest()
    assert grown_mib < 200, grown_mib
