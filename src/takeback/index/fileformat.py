"""The on-disk format of a PDQ index: flat, checksummed, memory-mappable; no pickle.

All integers little-endian. Layout::

    file header       64 B
    segment table     64 B per segment
    section table     64 B per section
    header checksum   32 B   SHA-256 of every byte before it (header + both tables)
    zero padding      up to data_offset (a multiple of 4096)
    sections          each starts at a multiple of 64; zero padding between them

File header:

    0   8  magic        b"TBPDQIDX"
    8   4  version      u32 = 2
    12  4  flags        u32 = 0
    16  8  watermark    i64  (the owner's change-log position the index reflects)
    24  8  live         u64  (live hashes: rows minus tombstones, over all segments)
    32  4  segments     u32
    36  4  sections     u32
    40  8  file_bytes   u64  (the exact file length: truncation or appended bytes are detected)
    48  8  data_offset  u64
    56  8  reserved     0

Segment entry:

    0   8  rows         u64  n
    8   8  dead         u64  tombstoned rows
    16  4  m            u32  number of substring tables; 0 = no tables (scanned)
    20  4  low_bytes    u32  2 or 4: width of the LOW offsets (0 when m = 0)
    24  32 widths       u8[32]: bits per substring, first m used, summing to 256; substring j
                        covers hash bits [sum(widths[:j]), sum(widths[:j+1])), bit 0 = most
                        significant bit of hash byte 0
    56  8  reserved     0

Section entry:

    0   4  segment      u32
    4   4  kind         u32  (below)
    8   8  offset       u64  from the start of the file
    16  8  nbytes       u64
    24  32 sha256       of the section's bytes
    56  8  reserved     0

Section kinds (per segment; K = sum of 2**widths[j]):

    1 IDS         i64[n]     caller ids, strictly increasing
    2 WORDS       u64[n, 4]  the hash as four 64-bit words, word w = bytes 8w..8w+7 read big-endian
    3 DEAD        u8[n]      1 = removed (tombstone)
    4 TABLE_ROWS  u32[m*n]   table j's rows sorted by substring value at [j*n, (j+1)*n)
    5 BLOCK_BASE  i64[K/256 + 1]
    6 LOW         u16 or u32[K + 1]; bucket g (= sum of 2**widths before table j, plus the key)
                  spans TABLE_ROWS[off(g) : off(g+1)], off(g) = BLOCK_BASE[g >> 8] + LOW[g]

Sections 1, 2, 4, 5, 6 are read-only after loading and are memory-mapped, so several worker
processes that load the same file share one copy in the page cache. Writes go to a temporary file
in the same directory, fsync, then an atomic rename.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from takeback.index.mih import BLOCK_SHIFT, HASH_BITS, MAX_WIDTH, MIN_WIDTH, Segment, index_threads

MAGIC = b"TBPDQIDX"
VERSION = 2
PAGE = 4096
ALIGN = 64
_HEADER = struct.Struct("<8sIIqQIIQQQ")
_SEGMENT = struct.Struct("<QQII32s8x")
_SECTION = struct.Struct("<IIQQ32s8x")
assert _HEADER.size == _SEGMENT.size == _SECTION.size == 64

IDS, WORDS, DEAD, TABLE_ROWS, BLOCK_BASE, LOW = 1, 2, 3, 4, 5, 6


class IndexFileError(Exception):
    """Raised by ``read_index`` for any malformed, truncated or corrupted file."""


@dataclass(frozen=True)
class IndexFile:
    segments: list[Segment]
    watermark: int


def _sections(seg: Segment, dead: np.ndarray) -> list[tuple[int, np.ndarray]]:
    out = [(IDS, seg.ids), (WORDS, seg.words), (DEAD, dead.view(np.uint8))]
    if seg.m:
        assert seg.table_rows is not None and seg.block_base is not None and seg.low is not None
        out += [(TABLE_ROWS, seg.table_rows), (BLOCK_BASE, seg.block_base), (LOW, seg.low)]
    return out


def _le(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))


def write_index(path: Path, segments: list[tuple[Segment, np.ndarray]], watermark: int) -> None:
    """Write ``segments`` (each with the tombstone mask to store) atomically to ``path``."""
    entries: list[tuple[int, int, np.ndarray]] = []
    seg_table = bytearray()
    live = 0
    for si, (seg, dead) in enumerate(segments):
        n_dead = int(np.count_nonzero(dead))
        live += seg.n - n_dead
        widths = bytes(seg.widths).ljust(32, b"\0")
        low_bytes = seg.low.dtype.itemsize if seg.low is not None else 0
        seg_table += _SEGMENT.pack(seg.n, n_dead, seg.m, low_bytes, widths)
        entries += [(si, kind, _le(arr)) for kind, arr in _sections(seg, dead)]
    table_bytes = _HEADER.size + len(seg_table) + _SECTION.size * len(entries) + 32
    data_offset = -(-table_bytes // PAGE) * PAGE
    offset = data_offset
    placed = []
    for si, kind, arr in entries:
        placed.append((si, kind, offset, arr))
        offset = -(-(offset + arr.nbytes) // ALIGN) * ALIGN
    file_bytes = placed[-1][2] + placed[-1][3].nbytes if placed else data_offset
    digests = _digests([arr for *_, arr in placed])
    sec_table = b"".join(
        _SECTION.pack(si, kind, off, arr.nbytes, dg)
        for (si, kind, off, arr), dg in zip(placed, digests, strict=True)
    )
    header = _HEADER.pack(
        MAGIC, VERSION, 0, watermark, live, len(segments), len(entries), file_bytes, data_offset, 0
    )
    head = header + bytes(seg_table) + sec_table
    head += hashlib.sha256(head).digest()

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(head.ljust(data_offset, b"\0"))
            pos = data_offset
            for _, _, off, arr in placed:
                f.write(b"\0" * (off - pos))
                f.write(_bytes_of(arr))
                pos = off + arr.nbytes
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _bytes_of(arr: np.ndarray) -> memoryview:
    """The array's bytes, without a copy."""
    return np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data


def _digests(buffers: list[np.ndarray] | list[memoryview]) -> list[bytes]:
    """SHA-256 of each buffer; hashlib releases the GIL, so threads use every core (``index_threads``)."""

    def one(buf: np.ndarray | memoryview) -> bytes:
        return hashlib.sha256(_bytes_of(buf) if isinstance(buf, np.ndarray) else buf).digest()

    workers = min(len(buffers), index_threads())
    if workers < 2:
        return [one(b) for b in buffers]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, buffers))


def read_index(path: Path, *, use_mmap: bool = True, verify: bool = True) -> IndexFile:
    """Read and check a file written by ``write_index``; raises ``IndexFileError`` on any defect."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < _HEADER.size:
            raise IndexFileError(f"file is {size} bytes, shorter than the header")
        buf: mmap.mmap | bytes = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if use_mmap else f.read()
    view = memoryview(buf)
    magic, version, _flags, watermark, live, n_seg, n_sec, file_bytes, data_offset, _ = _HEADER.unpack_from(
        view, 0
    )
    if magic != MAGIC:
        raise IndexFileError("not a takeback PDQ index (bad magic)")
    if version != VERSION:
        raise IndexFileError(f"format version {version}, this build reads {VERSION}")
    if file_bytes != size:
        raise IndexFileError(f"file is {size} bytes, its header says {file_bytes} (truncated or appended)")
    head_len = _HEADER.size + (n_seg + n_sec) * 64
    if head_len + 32 > min(size, data_offset) or n_seg > 1 << 20:
        raise IndexFileError("header tables overrun the data area")
    if hashlib.sha256(view[:head_len]).digest() != bytes(view[head_len : head_len + 32]):
        raise IndexFileError("header checksum mismatch")

    seg_meta = [_SEGMENT.unpack_from(view, _HEADER.size + 64 * i) for i in range(n_seg)]
    sec_base = _HEADER.size + 64 * n_seg
    sections: dict[tuple[int, int], tuple[int, int, bytes]] = {}
    for i in range(n_sec):
        si, kind, off, nbytes, digest = _SECTION.unpack_from(view, sec_base + 64 * i)
        if si >= n_seg or (si, kind) in sections or off < data_offset or off + nbytes > size:
            raise IndexFileError(f"section {i} is out of place")
        sections[(si, kind)] = (off, nbytes, digest)
    if verify:
        keys = sorted(sections)
        got = _digests([view[sections[k][0] : sections[k][0] + sections[k][1]] for k in keys])
        for k, dg in zip(keys, got, strict=True):
            if dg != sections[k][2]:
                raise IndexFileError(f"checksum mismatch in section {k[1]} of segment {k[0]}")

    def array(si: int, kind: int, dtype: str, count: int) -> np.ndarray:
        if (si, kind) not in sections:
            raise IndexFileError(f"segment {si} lacks section {kind}")
        off, nbytes, _ = sections[(si, kind)]
        dt = np.dtype(dtype)
        if nbytes != count * dt.itemsize:
            raise IndexFileError(
                f"section {kind} of segment {si} has {nbytes} bytes, expected {count * dt.itemsize}"
            )
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=off)
        return arr if dt.isnative else arr.astype(dt.newbyteorder("="))

    segments = []
    total_live = 0
    for si, (n, n_dead, m, low_bytes, widths_raw) in enumerate(seg_meta):
        widths = tuple(widths_raw[:m]) if m <= 32 else ()
        if m and (m > 32 or sum(widths) != HASH_BITS or not all(MIN_WIDTH <= w <= MAX_WIDTH for w in widths)):
            raise IndexFileError(f"segment {si} has an invalid table layout")
        if m and low_bytes not in (2, 4):
            raise IndexFileError(f"segment {si} has an invalid offset width")
        ids = array(si, IDS, "<i8", n)
        words = array(si, WORDS, "<u8", n * 4).reshape(n, 4)
        dead = array(si, DEAD, "u1", n).astype(bool)  # a private, writable copy
        if n > 1 and np.any(ids[1:] <= ids[:-1]):
            raise IndexFileError(f"segment {si}: ids are not strictly increasing")
        if int(np.count_nonzero(dead)) != n_dead:
            raise IndexFileError(f"segment {si}: tombstone count mismatch")
        total_live += n - n_dead
        if not m:
            seg = Segment(ids, words, dead, n_dead=n_dead)
        else:
            n_keys = sum(1 << w for w in widths)
            rows = array(si, TABLE_ROWS, "<u4", m * n)
            block_base = array(si, BLOCK_BASE, "<i8", (n_keys >> BLOCK_SHIFT) + 1)
            low = array(si, LOW, "<u2" if low_bytes == 2 else "<u4", n_keys + 1)
            if int(block_base[-1]) + int(low[-1]) != m * n or int(block_base[0]) != 0:
                raise IndexFileError(f"segment {si}: bucket offsets do not cover the tables")
            seg = Segment(ids, words, dead, widths, rows, block_base, low, n_dead=n_dead)
        segments.append(seg)
    if total_live != live:
        raise IndexFileError("live count in the header does not match the segments")
    return IndexFile(segments, int(watermark))
