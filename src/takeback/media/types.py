"""Content-based type detection: the file's first bytes decide, never its name.

Why: a file named ``.jpg`` can hold anything, and attackers rename files to slip them past
extension filters. Each decoder is then told exactly which format to expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HEAD_BYTES = 4096  # enough for every signature below


class Kind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    ARCHIVE = "archive"
    TEXT = "text"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MediaType:
    """A detected type: MIME string, broad kind and (for images) the Pillow format to decode with."""

    mime: str
    kind: Kind
    pillow_format: str | None = None

    @property
    def is_image(self) -> bool:
        return self.kind is Kind.IMAGE

    @property
    def is_video(self) -> bool:
        return self.kind is Kind.VIDEO


JPEG = MediaType("image/jpeg", Kind.IMAGE, "JPEG")
PNG = MediaType("image/png", Kind.IMAGE, "PNG")
GIF = MediaType("image/gif", Kind.IMAGE, "GIF")
WEBP = MediaType("image/webp", Kind.IMAGE, "WEBP")
BMP = MediaType("image/bmp", Kind.IMAGE, "BMP")
TIFF = MediaType("image/tiff", Kind.IMAGE, "TIFF")
HEIC = MediaType("image/heic", Kind.IMAGE, "HEIF")
HEIF = MediaType("image/heif", Kind.IMAGE, "HEIF")
AVIF = MediaType("image/avif", Kind.IMAGE, "AVIF")
MP4 = MediaType("video/mp4", Kind.VIDEO)
MOV = MediaType("video/quicktime", Kind.VIDEO)
M4V = MediaType("video/x-m4v", Kind.VIDEO)
GP3 = MediaType("video/3gpp", Kind.VIDEO)
WEBM = MediaType("video/webm", Kind.VIDEO)
MKV = MediaType("video/x-matroska", Kind.VIDEO)
AVI = MediaType("video/x-msvideo", Kind.VIDEO)
FLV = MediaType("video/x-flv", Kind.VIDEO)
ASF = MediaType("video/x-ms-asf", Kind.VIDEO)
MPEG_TS = MediaType("video/mp2t", Kind.VIDEO)
MPEG_PS = MediaType("video/mpeg", Kind.VIDEO)
PDF = MediaType("application/pdf", Kind.DOCUMENT)
ZIP = MediaType("application/zip", Kind.ARCHIVE)
GZIP = MediaType("application/gzip", Kind.ARCHIVE)
TAR = MediaType("application/x-tar", Kind.ARCHIVE)
TEXT = MediaType("text/plain", Kind.TEXT)
UNKNOWN = MediaType("application/octet-stream", Kind.UNKNOWN)

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MOV_BRANDS = {b"qt  "}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def _iso_bmff(head: bytes) -> MediaType | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(len(head), box_size if 16 <= box_size <= 4096 else 64)
    compat = {head[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compat
    if major in _AVIF_BRANDS or (major in _HEIF_BRANDS and brands & _AVIF_BRANDS):
        return AVIF
    if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
        return HEIC
    if major in _HEIF_BRANDS:
        return HEIF
    if major in _MOV_BRANDS:
        return MOV
    if major in _M4V_BRANDS:
        return M4V
    if major.startswith(b"3g"):
        return GP3
    return MP4


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 4:
            return False
    return True


def sniff(head: bytes) -> MediaType:
    """Detect a file's type from its first bytes (``HEAD_BYTES`` are enough)."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return AVI
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return BMP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    iso = _iso_bmff(head)
    if iso is not None:
        return iso
    if head[:4] == b"\x1aE\xdf\xa3":
        return WEBM if b"webm" in head[:64] else MKV
    if head[:3] == b"FLV":
        return FLV
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return ASF
    if head[:4] == b"\x00\x00\x01\xba":
        return MPEG_PS
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return MPEG_TS
    if head.startswith(b"%PDF-"):
        return PDF
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if head[:2] == b"\x1f\x8b":
        return GZIP
    if len(head) >= 262 and head[257:262] == b"ustar":
        return TAR
    if _looks_like_text(head):
        return TEXT
    return UNKNOWN
