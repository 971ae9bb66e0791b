"""A generated corpus of hostile-metadata images: the same pixels as a clean image, plus metadata
that made (or could make) a decoder refuse the file. Built in memory; nothing large is committed.

``OLD_FAILURES`` lists the files that read as ``corrupt_image`` before issue 12 (each a way to add a
few bytes to a banked image so that it is never matched); the rest guard against regressions.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.conftest import encode, synthetic_photo

#: 1 KB of zTXt that inflates to 1.1 MB: past Pillow's MAX_TEXT_CHUNK (1 MiB)
BOMB = zlib.compress(b"A" * 1_100_000, 9)


@functools.cache
def pixels() -> np.ndarray:
    return synthetic_photo(320, 240, seed=12)


def clean_png() -> bytes:
    return encode(pixels(), "PNG")


def clean_jpeg() -> bytes:
    return encode(pixels(), "JPEG", quality=90)


def png_chunk(kind: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_with(*chunks: bytes, data: bytes | None = None, after_idat: bool = False) -> bytes:
    """``data`` (the clean PNG) with ``chunks`` after IHDR (before the image data) or before IEND."""
    data = data or clean_png()
    pos = data.rindex(b"IEND") - 4 if after_idat else 8 + 25
    return data[:pos] + b"".join(chunks) + data[pos:]


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def jpeg_with(*segments: bytes, data: bytes | None = None) -> bytes:
    data = data or clean_jpeg()
    return data[:2] + b"".join(segments) + data[2:]


def exif_orientation(value: int, *, big_endian: bool = False) -> bytes:
    """A minimal TIFF structure (IFD0 with Orientation only), as EXIF carries it."""
    e = "big" if big_endian else "little"
    head = b"MM\x00*" if big_endian else b"II*\x00"
    entry = (0x0112).to_bytes(2, e) + (3).to_bytes(2, e) + (1).to_bytes(4, e) + value.to_bytes(2, e) + b"\0\0"
    return head + (8).to_bytes(4, e) + (1).to_bytes(2, e) + entry + (0).to_bytes(4, e)


def _webp(**kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels()).save(buf, "WEBP", lossless=True, **kw)
    return buf.getvalue()


def webp_with(fourcc: bytes, body: bytes) -> bytes:
    """A lossless WebP whose ``fourcc`` metadata chunk holds ``body``."""
    data = _webp(exif=b"Exif\x00\x00" + exif_orientation(1), xmp=b"<x/>", icc_profile=b"\x00" * 128)
    out, pos = bytearray(data[:12]), 12
    while pos + 8 <= len(data):
        cc, n = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunk = body if cc == fourcc else data[pos + 8 : pos + 8 + n]
        out += cc + struct.pack("<I", len(chunk)) + chunk + (b"\0" if len(chunk) & 1 else b"")
        pos += 8 + n + (n & 1)
    out[4:8] = struct.pack("<I", len(out) - 8)
    return bytes(out)


def _gif_blocks(blob: bytes) -> bytes:
    return (
        b"".join(bytes([len(blob[i : i + 255])]) + blob[i : i + 255] for i in range(0, len(blob), 255))
        + b"\0"
    )


def gif_with(extension: bytes) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels()).convert("P").save(buf, "GIF")
    data = buf.getvalue()
    at = data.index(b"\x2c")  # the first image descriptor
    return data[:at] + extension + data[at:]


def clean_gif() -> bytes:
    return gif_with(b"")


def png_corpus() -> dict[str, bytes]:
    """Hostile PNGs (each under 2 MB, so the web tests can upload them) over the clean pixels."""
    return {
        "ztxt_bomb": png_with(png_chunk(b"zTXt", b"Comment\x00\x00" + BOMB)),
        "itxt_bomb": png_with(png_chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + BOMB)),
        "ztxt_bomb_after_idat": png_with(png_chunk(b"zTXt", b"Comment\x00\x00" + BOMB), after_idat=True),
        "itxt_xmp_bomb": png_with(png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + BOMB)),
        "iccp_bomb": png_with(png_chunk(b"iCCP", b"icc\x00\x00" + BOMB)),
        "iccp_bad_method": png_with(png_chunk(b"iCCP", b"icc\x00\x05" + b"x" * 64)),
        "iccp_empty": png_with(png_chunk(b"iCCP", b"")),
        "ztxt_bad_method": png_with(png_chunk(b"zTXt", b"Comment\x00\x07abc")),
        # 70 chunks of 1 MB each: past Pillow's 64 MiB MAX_TEXT_MEMORY, in 80 KB
        "text_flood": png_with(
            *(png_chunk(b"zTXt", b"k%d\x00\x00" % i + zlib.compress(b"B" * 1_000_000, 9)) for i in range(70))
        ),
        "text_bad_crc": png_with(png_chunk(b"tEXt", b"Comment\x00hello", crc=0)),
        "short_ancillary": png_with(
            png_chunk(b"gAMA", b"\x00"),
            png_chunk(b"cHRM", b"\x00"),
            png_chunk(b"sRGB", b""),
            png_chunk(b"pHYs", b""),
        ),
        "apng_bogus": png_with(
            png_chunk(b"acTL", struct.pack(">II", 2, 0)), png_chunk(b"fcTL", b"\x00" * 26)
        ),
        "exif_garbage": png_with(png_chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x01" * 100)),
        "exif_huge": png_with(png_chunk(b"eXIf", b"II*\x00\x08\x00\x00\x00" + b"\xff" * 1_500_000)),
        "xmp_huge": png_with(png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + b"<x>" * 400_000)),
        "many_chunks": png_with(*(png_chunk(b"tEXt", b"k\x00%d" % i) for i in range(20_000))),
        "private_chunks": png_with(png_chunk(b"prVt", b"\x00" * 1000), png_chunk(b"caBX", b"\xff" * 100)),
    }


def jpeg_corpus() -> dict[str, bytes]:
    return {
        "jfif_short": jpeg_with(jpeg_segment(0xE0, b"JFIF\x00")),
        "adobe_short": jpeg_with(jpeg_segment(0xEE, b"Adobe")),
        "exif_garbage": jpeg_with(
            jpeg_segment(
                0xE1,
                b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x02\x01\x1a\x00\x05\xff\xff\xff\xff" + b"\0" * 8,
            )
        ),
        "exif_loop": jpeg_with(
            jpeg_segment(
                0xE1,
                b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00",
            )
        ),
        "many_segments": jpeg_with(
            *(jpeg_segment(0xE0 + i % 16, b"x" * 500) for i in range(1500)),
            *(jpeg_segment(0xFE, b"c" * 500) for _ in range(500)),
        ),
        "icc_malformed": jpeg_with(
            jpeg_segment(0xE2, b"ICC_PROFILE\x00\x05\x02" + b"x" * 10),
            jpeg_segment(0xE2, b"ICC_PROFILE\x00\x00\x00"),
        ),
        "mpf_bogus": jpeg_with(
            jpeg_segment(
                0xE2,
                b"MPF\x00II*\x00\x08\x00\x00\x00\x01\x00\x01\xb0\x07\x00\x04\x00\x00\x000100\x00\x00\x00\x00",
            )
        ),
        "xmp_big": jpeg_with(jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + b"<x>" * 21_000)),
    }


def other_corpus() -> dict[str, tuple[bytes, bytes]]:
    """(hostile, clean) pairs for formats decoded as they are: WebP and GIF metadata."""
    webp, gif = _webp(), clean_gif()
    return {
        "webp_exif_huge": (webp_with(b"EXIF", b"\xff" * 1_500_001), webp),
        "webp_xmp_huge": (webp_with(b"XMP ", b"<" * 1_500_001), webp),
        "webp_icc_garbage": (webp_with(b"ICCP", b"\x00"), webp),
        "gif_comment_huge": (gif_with(b"\x21\xfe" + _gif_blocks(b"c" * 1_500_000)), gif),
        "gif_xmp_huge": (gif_with(b"\x21\xff\x0bXMP DataXMP" + _gif_blocks(b"<" * 1_000_000)), gif),
    }


OLD_FAILURES = {
    "png/ztxt_bomb",
    "png/itxt_bomb",
    "png/itxt_xmp_bomb",
    "png/iccp_bomb",
    "png/iccp_bad_method",
    "png/iccp_empty",
    "png/ztxt_bad_method",
    "png/text_flood",
    "png/text_bad_crc",
    "png/short_ancillary",
    "png/apng_bogus",
    "jpeg/jfif_short",
    "jpeg/adobe_short",
}


def corpus() -> dict[str, tuple[bytes, bytes]]:
    """Every hostile file by ``format/name``, with the clean file its pixels come from."""
    out = {f"png/{k}": (v, clean_png()) for k, v in png_corpus().items()}
    out |= {f"jpeg/{k}": (v, clean_jpeg()) for k, v in jpeg_corpus().items()}
    out |= {f"{k.split('_')[0]}/{k}": v for k, v in other_corpus().items()}
    return out
