"""One generated corpus of hostile inputs, run through every entry point by ``test_entry_points.py``.

Every file is built here, in bytes, at test time (nothing large is committed; bombs cost kilobytes).
Each entry says what a correct answer is: the image is hashed (its pixels are fine whatever else the
file holds), or the item gets one of the named error codes. Nothing here is a real photo.
"""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import encode, synthetic_photo


@dataclass(frozen=True)
class Entry:
    name: str
    #: None: the pixels must be hashed; else the error codes an honest answer may carry
    errors: frozenset[str] | None
    #: the PDQ this file must hash to (the clean image it was made from), when it is an image
    same_as: str | None = None


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with_chunks_before_idat(png: bytes, extra: list[bytes]) -> bytes:
    """``png`` with ``extra`` chunks inserted right after IHDR (before the image data)."""
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + b"".join(extra) + png[ihdr_end:]


def _pixel_bomb_png() -> bytes:
    """A 50,000 x 50,000 RGB PNG header over 100 bytes of data: 7.5 GB if anyone believed it."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(bytes(100)))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its frame header (SOF0) rewritten to claim ``width`` x ``height``."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


def _zip_bomb() -> bytes:
    """One entry of 300 MB of zeros, deflated to about 300 KB: over any sane expansion ratio."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z,
        z.open("zeros.bin", "w", force_zip64=True) as f,
    ):
        block = bytes(1 << 20)
        for _ in range(300):
            f.write(block)
    return buf.getvalue()


def _tar_with_huge_long_name(jpeg: bytes) -> bytes:
    """A TAR whose GNU long-name header declares 1 GB (followed by nothing), after a good member."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo("first.jpg")
        info.size = len(jpeg)
        t.addfile(info, io.BytesIO(jpeg))
    body = out.getvalue().rstrip(b"\0")
    body += b"\0" * (-len(body) % 512)
    head = tarfile.TarInfo("././@LongLink")
    head.size, head.type = 1 << 30, tarfile.GNUTYPE_LONGNAME
    return body + head.tobuf(format=tarfile.USTAR_FORMAT) + b"a" * 4096


def build(folder: Path) -> list[Entry]:
    """Write the corpus into ``folder`` (which must be empty); the entries say what each file must get."""
    from takeback.signals.fingerprint import fingerprint_bytes

    folder.mkdir(parents=True, exist_ok=True)
    photo = synthetic_photo(480, 360, seed=7)
    jpeg = encode(photo, "JPEG", quality=92)
    png = encode(photo, "PNG")
    clean_jpeg = fingerprint_bytes(jpeg).hex("pdq")
    clean_png = fingerprint_bytes(png).hex("pdq")
    decode_errors = frozenset({"corrupt_image", "truncated_image", "unsupported_image"})
    files: dict[str, tuple[bytes, Entry]] = {}

    def put(name: str, data: bytes, errors: frozenset[str] | None, same_as: str | None = None) -> None:
        files[name] = (data, Entry(name, errors, same_as))

    put("clean.jpg", jpeg, None, clean_jpeg)
    put("clean.png", png, None, clean_png)
    # a name that would forge terminal lines if printed raw (ESC, newline, bidi override)
    forged = "a\x1b[31mRED\nfake line \u202egpj.jpg"
    put(forged, jpeg, None, clean_jpeg)
    put("empty.jpg", b"", frozenset({"empty_file"}))
    put("truncated.jpg", jpeg[: len(jpeg) // 3], decode_errors)
    put("header-only.png", png[:60], decode_errors)
    put("text-named.jpg", b"just some words\n" * 10, frozenset({"unsupported_type"}))
    pixel_limits = frozenset({"too_many_pixels", *decode_errors})
    put("noise.gif", b"GIF89a" + os.urandom(2000), pixel_limits)  # random sizes too
    put("pixel-bomb.png", _pixel_bomb_png(), pixel_limits)
    put("claims-65500.jpg", _jpeg_claiming(jpeg, 65_500, 65_500), pixel_limits)
    # metadata a decoder must not choke on: the pixels are the clean image's
    many_text = [_png_chunk(b"tEXt", b"k%d\0" % i + b"v" * 200) for i in range(2000)]
    put(
        "many-text-chunks.png",
        _png_with_chunks_before_idat(png, many_text),
        None,
        clean_png,
    )
    bad_icc = _png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"not an ICC profile" * 100))
    put("bad-icc.png", _png_with_chunks_before_idat(png, [bad_icc]), None, clean_png)
    bad_exif = _png_chunk(b"eXIf", b"MM\x00\x2a\xff\xff\xff\xff" + os.urandom(64))
    put("bad-exif.png", _png_with_chunks_before_idat(png, [bad_exif]), None, clean_png)
    # archives (images for a scan; files that are not images to hash)
    put("bomb.zip", _zip_bomb(), frozenset({"unsupported_type"}))
    put(
        "long-name.tar",
        _tar_with_huge_long_name(jpeg),
        frozenset({"unsupported_type"}),
    )
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return [entry for _, entry in files.values()]
