"""Walk an image file's own structure (PNG chunks, JPEG segments, WebP chunks) to find metadata.

Why our own walker instead of Pillow's ``info``: evidence needs the chunk, the offset and the raw
bytes; Pillow merges and decodes them and would decompress a zTXt bomb into memory. Every size here
is bounded, and every oddity becomes a :class:`Problem` instead of an exception.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field

from PIL import Image

# Hard limits. Generous for real files (a big ComfyUI workflow is ~1 MB of JSON), small enough that a
# hostile file cannot make us allocate much.
MAX_TEXT_BYTES = 8 << 20  # one decoded text chunk
MAX_TOTAL_TEXT_BYTES = 32 << 20  # all text in one file
MAX_XMP_BYTES = 4 << 20
MAX_EXIF_BYTES = 1 << 20
MAX_ICC_BYTES = 4 << 20  # an ICC profile is read only to check it inflates; real ones are < 1 MB
MAX_ITEMS = 4096  # chunks or segments

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_EXT_APP1 = b"http://ns.adobe.com/xmp/extension/\x00"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something malformed in the container; becomes a finding with ``error``."""

    code: str
    message: str
    source: str
    offset: int | None = None
    field: str | None = None


@dataclass(slots=True)
class TextItem:
    """A key/value text entry (PNG tEXt/zTXt/iTXt, JPEG COM, WebP/EXIF-borne text)."""

    source: str
    key: str
    text: str
    offset: int
    length: int


@dataclass(slots=True)
class Blob:
    """Raw bytes of a metadata block (EXIF TIFF structure, an XMP packet)."""

    source: str
    data: bytes
    offset: int
    length: int


@dataclass(slots=True)
class Container:
    """What the walk found. ``width``/``height`` come from the header, without decoding pixels."""

    format: str
    width: int | None = None
    height: int | None = None
    has_alpha: bool = False
    texts: list[TextItem] = field(default_factory=list)
    exif: list[Blob] = field(default_factory=list)
    xmp: list[Blob] = field(default_factory=list)
    c2pa: list[Blob] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    text_budget: int = MAX_TOTAL_TEXT_BYTES

    def problem(
        self, code: str, message: str, source: str, offset: int | None = None, key: str | None = None
    ) -> None:
        self.problems.append(Problem(code, message, source, offset, key))


def bounded_inflate(data: bytes, limit: int, *, wbits: int = zlib.MAX_WBITS) -> tuple[bytes | None, str]:
    """Decompress at most ``limit`` bytes. Returns (bytes, "") or (None, error code).

    A zip bomb stops at the limit: ``decompressobj`` never produces more than ``max_length``.
    """
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error:
        return None, "invalid_compression"
    if len(out) > limit or d.unconsumed_tail:
        return None, "decompression_limit"
    if not d.eof:
        return None, "invalid_compression"
    return out, ""


def decode_text(raw: bytes, *, utf8_only: bool) -> tuple[str, bool]:
    """Text from bytes; returns (text, valid). tEXt is Latin-1 by spec but tools write UTF-8 there."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        if utf8_only:
            return raw.decode("utf-8", errors="replace"), False
        return raw.decode("latin-1"), True


def walk(data: bytes) -> Container:
    """Find metadata in ``data`` by its format (sniffed from the first bytes)."""
    if data.startswith(PNG_SIGNATURE):
        return _walk_png(data)
    if data.startswith(b"\xff\xd8"):
        return _walk_jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _walk_webp(data)
    return _walk_other(data)


# --- PNG ---------------------------------------------------------------------------------------


def _add_text(c: Container, source: str, key: str, raw: bytes, off: int, length: int, *, utf8: bool) -> None:
    if len(raw) > MAX_TEXT_BYTES:
        c.problem(
            "text_too_large",
            f"{source} chunk '{key}' holds {len(raw):,} bytes of text, over the limit of {MAX_TEXT_BYTES:,}.",
            source,
            off,
            key,
        )
        return
    if len(raw) > c.text_budget:
        c.problem("text_budget_exceeded", "The file holds more text metadata than is read.", source, off, key)
        return
    c.text_budget -= len(raw)
    text, valid = decode_text(raw, utf8_only=utf8)
    if not valid:
        c.problem(
            "invalid_utf8",
            f"{source} chunk '{key}' is not valid UTF-8; it is shown with replacement characters.",
            source,
            off,
            key,
        )
    c.texts.append(TextItem(source, key, text, off, length))


def _png_text(c: Container, kind: bytes, body: bytes, off: int) -> None:
    source = "png:" + kind.decode("ascii")
    nul = body.find(b"\x00", 0, 80)
    if nul <= 0:
        c.problem("malformed_chunk", f"{source} chunk has no keyword.", source, off)
        return
    key = body[:nul].decode("latin-1")
    rest = body[nul + 1 :]
    if kind == b"tEXt":
        _add_text(c, source, key, rest, off, len(body), utf8=False)
    elif kind == b"zTXt":
        if not rest or rest[0] != 0:
            c.problem(
                "malformed_chunk", f"zTXt '{key}' uses an unknown compression method.", source, off, key
            )
            return
        text, err = _inflate_text(c, rest[1:])
        if text is None:
            _compression_problem(c, err, source, off, key)
            return
        _add_text(c, source, key, text, off, len(body), utf8=False)
    else:  # iTXt
        if len(rest) < 2:
            c.problem("malformed_chunk", f"iTXt '{key}' is truncated.", source, off, key)
            return
        compressed, method = rest[0], rest[1]
        parts = rest[2:].split(b"\x00", 2)
        if len(parts) < 3:
            c.problem("malformed_chunk", f"iTXt '{key}' lacks its language fields.", source, off, key)
            return
        payload = parts[2]
        if compressed:
            if method != 0:
                c.problem("malformed_chunk", f"iTXt '{key}' uses an unknown compression.", source, off, key)
                return
            text, err = _inflate_text(c, payload)
            if text is None:
                _compression_problem(c, err, source, off, key)
                return
            payload = text
        if key == "XML:com.adobe.xmp":
            _add_xmp(c, Blob(source + "/xmp", payload, off, len(body)))
            return
        _add_text(c, source, key, payload, off, len(body), utf8=True)


def _png_iccp(c: Container, body: bytes, off: int) -> None:
    """Check an iCCP chunk inflates within limits: a bomb or damage here is recorded, never fatal."""
    source = "png:iCCP"
    nul = body.find(b"\x00", 0, 80)
    if nul <= 0 or len(body) < nul + 2:
        c.problem("malformed_chunk", "iCCP chunk has no profile name or compression method.", source, off)
        return
    key = body[:nul].decode("latin-1")
    if body[nul + 1] != 0:
        c.problem("malformed_chunk", f"iCCP '{key}' uses an unknown compression method.", source, off, key)
        return
    profile, err = bounded_inflate(body[nul + 2 :], MAX_ICC_BYTES)
    if profile is None:
        if err == "decompression_limit":
            msg = f"{source} '{key}' inflates past {MAX_ICC_BYTES:,} bytes (a decompression bomb?); not read."
            c.problem(err, msg, source, off, key)
        else:
            _compression_problem(c, err, source, off, key)


def _inflate_text(c: Container, payload: bytes) -> tuple[bytes | None, str]:
    """Inflate a text chunk no further than the file's remaining text budget: thousands of small
    bombs would otherwise cost 8 MB of inflating each after the budget is spent."""
    text, err = bounded_inflate(payload, min(MAX_TEXT_BYTES, c.text_budget))
    if err == "decompression_limit" and c.text_budget < MAX_TEXT_BYTES:
        return None, "text_budget_exceeded"
    return text, err


def _compression_problem(c: Container, err: str, source: str, off: int, key: str) -> None:
    if err == "text_budget_exceeded":
        msg = "The file holds more text metadata than is read."
    elif err == "decompression_limit":
        msg = f"{source} '{key}' inflates past {MAX_TEXT_BYTES:,} bytes (a decompression bomb?); not read."
    else:
        msg = f"{source} '{key}' holds damaged compressed data."
    c.problem(err, msg, source, off, key)


def _add_xmp(c: Container, blob: Blob) -> None:
    if len(blob.data) > MAX_XMP_BYTES:
        c.problem(
            "xmp_too_large",
            f"An XMP packet of {len(blob.data):,} bytes is over the limit of {MAX_XMP_BYTES:,}; not read.",
            blob.source,
            blob.offset,
        )
        return
    c.xmp.append(blob)


def _add_exif(c: Container, blob: Blob) -> None:
    if len(blob.data) > MAX_EXIF_BYTES:
        c.problem("exif_too_large", "The EXIF block is over 1 MiB; not read.", blob.source, blob.offset)
        return
    c.exif.append(blob)


def _walk_png(data: bytes) -> Container:
    c = Container("png")
    pos, n = 8, 0
    while pos + 8 <= len(data):
        n += 1
        if n > MAX_ITEMS:
            c.problem("too_many_chunks", "The PNG has over 4,096 chunks; the rest were not read.", "png", pos)
            break
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body_start, body_end = pos + 8, pos + 8 + length
        if body_end + 4 > len(data):
            c.problem(
                "truncated_chunk",
                f"PNG chunk {kind!r} at byte {pos:,} declares {length:,} bytes but the file ends first.",
                "png",
                pos,
            )
            break
        body = data[body_start:body_end]
        crc = struct.unpack(">I", data[body_end : body_end + 4])[0]
        if kind in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX") and zlib.crc32(kind + body) != crc:
            c.problem(
                "crc_mismatch",
                f"PNG chunk {kind.decode('latin-1')} at byte {pos:,} fails its checksum (damaged or edited).",
                "png",
                pos,
            )
        if kind == b"IHDR" and length >= 13:
            c.width, c.height = struct.unpack(">II", body[:8])
            c.has_alpha = body[9] in (4, 6)
        elif kind == b"tRNS":
            c.has_alpha = True
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(c, kind, body, pos)
        elif kind == b"iCCP":
            _png_iccp(c, body, pos)
        elif kind == b"eXIf":
            _add_exif(c, Blob("png:eXIf", body, pos, length))
        elif kind == b"caBX":
            c.c2pa.append(Blob("png:caBX", b"", pos, length))
        elif kind == b"IEND":
            break
        pos = body_end + 4
    return c


# --- JPEG --------------------------------------------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _walk_jpeg(data: bytes) -> Container:
    c = Container("jpeg")
    pos, n = 2, 0
    ext_xmp: dict[bytes, dict[int, bytes]] = {}
    ext_size: dict[bytes, int] = {}
    while pos + 4 <= len(data):
        n += 1
        if n > MAX_ITEMS:
            c.problem(
                "too_many_segments", "The JPEG has over 4,096 segments; the rest were not read.", "jpeg", pos
            )
            break
        if data[pos] != 0xFF:
            c.problem("malformed_segment", f"Expected a JPEG marker at byte {pos:,}.", "jpeg", pos)
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: metadata is before this
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > len(data):
            c.problem("truncated_segment", f"JPEG segment at byte {pos:,} runs past the end.", "jpeg", pos)
            break
        body = data[pos + 4 : end]
        if marker in _SOF and len(body) >= 5:
            c.height, c.width = struct.unpack(">HH", body[1:5])
        elif marker == 0xE1:
            if body.startswith(b"Exif\x00\x00"):
                _add_exif(c, Blob("jpeg:APP1/exif", body[6:], pos, length + 2))
            elif body.startswith(XMP_APP1):
                _add_xmp(c, Blob("jpeg:APP1/xmp", body[len(XMP_APP1) :], pos, length + 2))
            elif body.startswith(XMP_EXT_APP1) and len(body) >= len(XMP_EXT_APP1) + 40:
                rest = body[len(XMP_EXT_APP1) :]
                guid = rest[:32]
                total, part_off = struct.unpack(">II", rest[32:40])
                if total <= MAX_XMP_BYTES and len(ext_xmp) < 4:
                    ext_xmp.setdefault(guid, {})[part_off] = rest[40:]
                    ext_size[guid] = total
                else:
                    c.problem(
                        "xmp_too_large", "Extended XMP over the size limit; not read.", "jpeg:APP1", pos
                    )
        elif marker == 0xEB and b"jumb" in body[:64]:
            if b"c2pa" in body[:128] or c.c2pa:
                c.c2pa.append(Blob("jpeg:APP11/jumbf", b"", pos, length + 2))
        elif marker == 0xFE:
            _add_text(c, "jpeg:COM", "comment", body, pos, length + 2, utf8=False)
        pos = end
    for guid, parts in ext_xmp.items():
        joined = b"".join(parts[k] for k in sorted(parts))
        if len(joined) == ext_size[guid]:
            _add_xmp(c, Blob("jpeg:APP1/xmp-extension", joined, -1, len(joined)))
        else:
            c.problem("incomplete_xmp", "Extended XMP is missing parts; not read.", "jpeg:APP1", None)
    return c


# --- WebP --------------------------------------------------------------------------------------


def _walk_webp(data: bytes) -> Container:
    c = Container("webp")
    end_riff = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    pos, n = 12, 0
    while pos + 8 <= end_riff:
        n += 1
        if n > MAX_ITEMS:
            c.problem("too_many_chunks", "The WebP has over 4,096 chunks.", "webp", pos)
            break
        fourcc = data[pos : pos + 4]
        length = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body_end = pos + 8 + length
        if body_end > len(data):
            c.problem("truncated_chunk", f"WebP chunk {fourcc!r} runs past the end.", "webp", pos)
            break
        body = data[pos + 8 : body_end]
        if fourcc == b"VP8X" and length >= 10:
            c.has_alpha = bool(body[0] & 0x10)
            c.width = 1 + int.from_bytes(body[4:7], "little")
            c.height = 1 + int.from_bytes(body[7:10], "little")
        elif fourcc == b"VP8 " and length >= 10 and c.width is None:
            c.width = struct.unpack("<H", body[6:8])[0] & 0x3FFF
            c.height = struct.unpack("<H", body[8:10])[0] & 0x3FFF
        elif fourcc == b"VP8L" and length >= 5 and c.width is None:
            bits = int.from_bytes(body[1:5], "little")
            c.width, c.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            c.has_alpha = bool((bits >> 28) & 1)
        elif fourcc == b"EXIF":
            exif = body[6:] if body.startswith(b"Exif\x00\x00") else body
            _add_exif(c, Blob("webp:EXIF", exif, pos, length + 8))
        elif fourcc == b"XMP ":
            _add_xmp(c, Blob("webp:XMP", body, pos, length + 8))
        elif fourcc == b"C2PA":
            c.c2pa.append(Blob("webp:C2PA", b"", pos, length + 8))
        pos = body_end + (length & 1)
    return c


# --- anything else Pillow opens (TIFF, GIF, HEIC, AVIF) ------------------------------------------


def _walk_other(data: bytes) -> Container:
    """Header-only: Pillow parses metadata lazily without decoding pixels."""
    c = Container("other")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            c.format = (im.format or "other").lower()
            c.width, c.height = im.size
            c.has_alpha = "A" in im.getbands()
            exif = im.info.get("exif")
            if isinstance(exif, bytes):
                _add_exif(c, Blob(f"{c.format}:exif", exif.removeprefix(b"Exif\x00\x00"), -1, len(exif)))
            elif c.format == "tiff":
                _add_exif(c, Blob("tiff:ifd0", data[:MAX_EXIF_BYTES], 0, len(data)))
            xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
            if isinstance(xmp, str):
                xmp = xmp.encode("utf-8")
            if isinstance(xmp, bytes):
                _add_xmp(c, Blob(f"{c.format}:xmp", xmp, -1, len(xmp)))
            comment = im.info.get("comment")
            if isinstance(comment, bytes):
                _add_text(c, f"{c.format}:comment", "comment", comment, -1, len(comment), utf8=False)
    except Exception:  # an unreadable header is the decoder's to report; we just find nothing here
        c.format = "unknown"
    if b"c2pa" in data and b"jumb" in data:
        c.c2pa.append(Blob(f"{c.format}:jumbf", b"", -1, 0))
    return c
