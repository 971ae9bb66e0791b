"""The pixel-bearing part of a PNG or JPEG: metadata removed before Pillow sees the file.

Why: Pillow parses every metadata chunk while it opens a file and refuses the whole image when one
of them is odd: a zTXt/iTXt/iCCP chunk that inflates past ``MAX_TEXT_CHUNK`` (1 KB of zTXt that
inflates to 1.1 MB), 64 MB of text, a zTXt or iCCP with an unknown compression method, a short
gAMA/pHYs/sRGB/cHRM, a damaged checksum on a text chunk, APNG control chunks that do not fit, a
JFIF or Adobe segment shorter than its fields. Browsers (libpng, libjpeg) show all of these: they
skip or ignore ancillary data. Anyone could add such a chunk to a banked image so that it is never
hashed, never matched. So hashing decodes a copy that keeps only what the pixels are made of:

* PNG: the critical chunks (IHDR, PLTE, IDAT, IEND and any other with an upper-case first letter)
  and a ``tRNS`` whose checksum holds; text, ICC, EXIF, APNG control and private chunks are dropped.
  A truncated chunk and everything after it are kept as they are, so a damaged file still reads as
  damaged.
* JPEG: every segment before the first scan except APPn and COM; the JFIF APP0 and Adobe APP14
  segments are kept when complete (libjpeg picks the colour transform from them and ignores them
  otherwise, as we then do); the scans onwards are copied byte for byte.

No pixel changes: Pillow draws nothing from the dropped chunks (no colour management, no gamma).
The orientation the dropped EXIF held is read here instead, by Pillow's own EXIF parser on the EXIF
bytes alone, under a size limit and with every failure meaning "upright", with Pillow's fallbacks
(PNG "Raw profile type exif" text, XMP ``tiff:Orientation``). Provenance reads the metadata itself,
under its own limits (``analysis.provenance.containers``).
"""

from __future__ import annotations

import bisect
import io
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: EXIF/XMP read for orientation: a JPEG segment holds at most 64 KiB; PNG text is inflated this far
MAX_ORIENTATION_BYTES = 1 << 20
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')
_XMP_KEY = b"XML:com.adobe.xmp"
_RAW_EXIF_KEY = b"Raw profile type exif"
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"


class _Pieces(io.RawIOBase):
    """A read-only file made of slices of one buffer, so the pixel data is never copied."""

    def __init__(self, data: bytes, ranges: list[tuple[int, int]]) -> None:
        self._view = memoryview(data)
        self._ranges = ranges
        self._starts = [0]
        for a, b in ranges:
            self._starts.append(self._starts[-1] + b - a)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._starts[-1]}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        done = 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        while done < len(out) and i < len(self._ranges):
            a, b = self._ranges[i]
            skip = self._pos - self._starts[i]
            take = min(len(out) - done, b - a - skip)
            out[done : done + take] = self._view[a + skip : a + skip + take]
            done += take
            self._pos += take
            i += 1
        return done


@dataclass(frozen=True, slots=True)
class Stripped:
    """The parts of the file Pillow decodes, and the metadata orientation is read from."""

    source: bytes
    ranges: list[tuple[int, int]] = field(default_factory=list)
    exif: bytes | None = None
    xmp: bytes | None = None

    def open(self) -> io.BufferedReader | io.BytesIO:
        """The pixel-bearing file, without copying the original bytes when nothing was dropped."""
        if self.ranges == [(0, len(self.source))]:
            return io.BytesIO(self.source)
        return io.BufferedReader(_Pieces(self.source, self.ranges), 1 << 16)

    def tobytes(self) -> bytes:
        return b"".join(self.source[a:b] for a, b in self.ranges)

    def orientation(self) -> int:
        """EXIF orientation 1..8, as Pillow's ``getexif()`` would read it; 1 when unreadable."""
        value: object = None
        if self.exif:
            try:
                exif = Image.Exif()
                exif.load(self.exif)
                value = exif.get(0x0112)
            except Exception:  # any damage in a hostile EXIF block means "upright", never a failure
                value = None
        if value is None and self.xmp:
            found = _XMP_ORIENTATION.search(self.xmp)
            value = int(found[2]) if found else None
        return value if isinstance(value, int) and 1 <= value <= 8 else 1


def strip_metadata(data: bytes) -> Stripped | None:
    """The pixel-bearing copy of a PNG or JPEG; ``None`` for other formats (decoded as they are)."""
    if data.startswith(PNG_SIGNATURE):
        return _strip_png(data)
    if data.startswith(b"\xff\xd8"):
        return _strip_jpeg(data)
    return None


# --- PNG ---------------------------------------------------------------------------------------


class _Ranges:
    """Kept byte ranges of the original, adjacent ones merged."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int]] = []

    def keep(self, a: int, b: int) -> None:
        if self.items and self.items[-1][1] == a:
            self.items[-1] = (self.items[-1][0], b)
        elif b > a:
            self.items.append((a, b))


def _strip_png(data: bytes) -> Stripped:
    kept = _Ranges()
    kept.keep(0, len(PNG_SIGNATURE))
    exif: bytes | None = None
    xmp: bytes | None = None
    raw_exif: bytes | None = None
    pos, n = len(PNG_SIGNATURE), len(data)
    while pos + 8 <= n:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > n:  # truncated: hand the rest over unchanged, the decoder reports it
            kept.keep(pos, n)
            break
        if not kind[0] & 0x20:  # critical (upper-case first letter): part of the image
            kept.keep(pos, end)
            if kind == b"IEND":
                break
        elif kind == b"tRNS":
            if zlib.crc32(data[pos + 4 : end - 4]) == struct.unpack(">I", data[end - 4 : end])[0]:
                kept.keep(pos, end)
        elif kind == b"eXIf" and exif is None:
            exif = data[pos + 8 : end - 4] if length <= MAX_ORIENTATION_BYTES else b""
        elif kind in (b"tEXt", b"zTXt", b"iTXt") and length <= 2 * MAX_ORIENTATION_BYTES:
            key = data[pos + 8 : min(end - 4, pos + 88)].partition(b"\x00")[0]
            if key == _XMP_KEY and xmp is None:
                xmp = _png_text(kind, data[pos + 8 : end - 4])
            elif key == _RAW_EXIF_KEY and raw_exif is None:
                raw_exif = _png_text(kind, data[pos + 8 : end - 4])
        pos = end
    else:
        kept.keep(pos, n)  # a few stray bytes: as they were
    if exif is None and raw_exif:
        exif = _raw_profile(raw_exif)
    return Stripped(data, kept.items, exif=exif or None, xmp=xmp)


def _png_text(kind: bytes, body: bytes) -> bytes | None:
    """The text of a tEXt/zTXt/iTXt chunk body; ``None`` when unreadable or too large."""
    rest = body.partition(b"\x00")[2]
    if kind == b"tEXt":
        return rest[:MAX_ORIENTATION_BYTES]
    if kind == b"zTXt":
        return _inflate(rest[1:]) if rest[:1] == b"\x00" else None
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    parts = rest[2:].split(b"\x00", 2)
    if len(parts) < 3:
        return None
    if not compressed:
        return parts[2][:MAX_ORIENTATION_BYTES]
    return _inflate(parts[2]) if method == 0 else None


def _inflate(payload: bytes) -> bytes | None:
    d = zlib.decompressobj()
    try:
        out = d.decompress(payload, MAX_ORIENTATION_BYTES)
    except zlib.error:
        return None
    return None if d.unconsumed_tail else out


def _raw_profile(text: bytes) -> bytes | None:
    """ImageMagick's "Raw profile type exif": three header lines, then hex (Pillow reads it so)."""
    try:
        return bytes.fromhex("".join(text.decode("latin-1").split("\n")[3:]))
    except ValueError:
        return None


# --- JPEG --------------------------------------------------------------------------------------


def _strip_jpeg(data: bytes) -> Stripped:
    kept = _Ranges()
    kept.keep(0, 2)
    exif: bytes | None = None
    xmp: bytes | None = None
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:  # junk between segments: libjpeg skips it to the next marker
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                break
            pos = nxt
            continue
        if pos + 1 >= n:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD8 or marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            kept.keep(pos, pos + 2)
            pos += 2
            continue
        if marker in (0xDA, 0xD9) or pos + 4 > n:  # scans (or the end): copied as they are
            kept.keep(pos, n)
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > n:  # damaged: the decoder reports it
            kept.keep(pos, n)
            break
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            head = data[pos + 4 : pos + 4 + len(_XMP_APP1)]
            if (marker == 0xE0 and head.startswith(b"JFIF\x00") and length >= 16) or (
                marker == 0xEE and head.startswith(b"Adobe") and length >= 14
            ):
                kept.keep(pos, end)
            elif marker == 0xE1 and exif is None and head.startswith(b"Exif\x00\x00"):
                exif = data[pos + 4 : end]
            elif marker == 0xE1 and xmp is None and head == _XMP_APP1:
                xmp = data[pos + 4 + len(_XMP_APP1) : end]
        else:
            kept.keep(pos, end)
        pos = end
    return Stripped(data, kept.items, exif=exif, xmp=xmp)
