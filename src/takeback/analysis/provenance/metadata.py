"""Read EXIF and XMP safely: bounded, no entity expansion, no recursion on hostile nesting.

XMP is XML: a "billion laughs" entity bomb or a 100,000-level nesting must not hang or exhaust a
scan. We parse with defusedxml (DTDs and entities refused) through a streaming target that stops
past :data:`MAX_XMP_DEPTH` levels or :data:`MAX_XMP_PROPERTIES` values.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from PIL import Image

MAX_XMP_DEPTH = 64
MAX_XMP_PROPERTIES = 20_000
MAX_VALUE_CHARS = 1 << 20

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

# Namespaces we name in evidence (prefix used in field names; unknown ones keep their URI).
PREFIXES = {
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://ns.google.com/photos/1.0/camera/": "GCamera",
    RDF: "rdf",
    "adobe:ns:meta/": "x",
}


class XmpError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class XmpProperty:
    """One value: ``name`` is ``prefix:local`` (``rdf:li`` items take their parent's name)."""

    name: str
    value: str


@dataclass(slots=True)
class XmpPacket:
    properties: list[XmpProperty] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [p.value for p in self.properties if p.name == name]


def _qname(tag: str) -> str:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        prefix = PREFIXES.get(uri, uri)
        return f"{prefix}:{local}"
    return tag


class _Target:
    """Streaming tree target: keeps a stack of names, records leaf text and attribute values."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.text: list[str] = []
        self.packet = XmpPacket()

    def _add(self, name: str, value: str) -> None:
        if len(self.packet.properties) >= MAX_XMP_PROPERTIES:
            raise XmpError(
                "xmp_too_many_properties", f"XMP holds over {MAX_XMP_PROPERTIES:,} values; not read."
            )
        self.packet.properties.append(XmpProperty(name, value[:MAX_VALUE_CHARS]))

    def _owner(self) -> str:
        """The property an rdf:li / rdf:Description value belongs to."""
        for name in reversed(self.stack):
            if not name.startswith("rdf:") and name != "x:xmpmeta":
                return name
        return "rdf:Description"

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if len(self.stack) >= MAX_XMP_DEPTH:
            raise XmpError("xmp_too_deep", f"XMP nests deeper than {MAX_XMP_DEPTH} levels; not read.")
        name = _qname(tag)
        self.stack.append(name)
        self.text = []
        for key, value in attrib.items():
            aname = _qname(key)
            if aname == "rdf:resource":
                self._add(self._owner(), value)
            elif not aname.startswith(("rdf:", "xml:", "x:")):
                self._add(aname, value)

    def data(self, chunk: str) -> None:
        if sum(map(len, self.text)) < MAX_VALUE_CHARS:
            self.text.append(chunk)

    def end(self, tag: str) -> None:
        text = "".join(self.text).strip()
        self.text = []
        name = self.stack.pop() if self.stack else _qname(tag)
        if text:
            self._add(self._owner() if name.startswith("rdf:") else name, text)

    def close(self) -> XmpPacket:
        return self.packet


def parse_xmp(data: bytes) -> XmpPacket:
    """Parse one XMP packet. Raises :class:`XmpError` with a stable code on anything hostile or broken."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        raise XmpError("xmp_malformed", "The XMP packet has no x:xmpmeta or rdf:RDF element.")
    end_meta = data.rfind(b"</x:xmpmeta>")
    end = end_meta + len(b"</x:xmpmeta>") if end_meta >= 0 else data.rfind(b"</rdf:RDF>") + len(b"</rdf:RDF>")
    body = data[start:end] if end > start else data[start:]
    # A DOCTYPE anywhere before the root would be dropped by slicing; refuse it outright instead.
    if b"<!DOCTYPE" in data[: start + 1] or b"<!ENTITY" in data:
        raise XmpError(
            "xmp_forbidden_dtd", "The XMP packet declares a DTD or entities (refused: XML bomb risk)."
        )
    target = _Target()
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        stream = io.BytesIO(body)
        while chunk := stream.read(1 << 16):
            parser.feed(chunk)
        result = parser.close()
    except XmpError:
        raise
    except DefusedXmlException:
        raise XmpError("xmp_forbidden_dtd", "The XMP packet declares a DTD or entities (refused).") from None
    except (ParseError, ValueError, UnicodeError) as exc:
        raise XmpError("xmp_malformed", f"The XMP packet is not well-formed XML ({exc}).") from None
    except RecursionError:  # pragma: no cover - the depth limit fires first
        raise XmpError("xmp_too_deep", "XMP nests too deeply; not read.") from None
    assert isinstance(result, XmpPacket)
    return result


# --- EXIF --------------------------------------------------------------------------------------

IFD0_TAGS = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
}
EXIF_IFD_TAGS = {
    0x9286: "UserComment",
    0x9003: "DateTimeOriginal",
    0xA433: "LensMake",
    0xA434: "LensModel",
    0x829A: "ExposureTime",
    0x8827: "ISOSpeedRatings",
    0x920A: "FocalLength",
}


def parse_exif(tiff: bytes) -> dict[str, Any]:
    """The tags we use, by name. Raises ValueError on a block Pillow cannot read."""
    exif = Image.Exif()
    try:
        exif.load(b"Exif\x00\x00" + tiff)
        out: dict[str, Any] = {}
        for tag, name in IFD0_TAGS.items():
            if tag in exif:
                out[name] = exif[tag]
        sub = exif.get_ifd(0x8769)
        for tag, name in EXIF_IFD_TAGS.items():
            if tag in sub:
                out[name] = sub[tag]
    except Exception as exc:  # Pillow raises many types on damaged TIFF structures
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
    return out


def decode_user_comment(raw: Any) -> str | None:
    """EXIF UserComment: 8-byte charset prefix then text (A1111 writes 'UNICODE' + UTF-16)."""
    if isinstance(raw, str):
        return raw.strip("\x00") or None
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", errors="replace").strip("\x00") or None
        # No BOM: guess the byte order from where the zero bytes of ASCII characters fall.
        even_zero = body[0::2].count(0)
        odd_zero = body[1::2].count(0)
        enc = "utf-16-be" if even_zero >= odd_zero else "utf-16-le"
        return body[: len(body) // 2 * 2].decode(enc, errors="replace").strip("\x00") or None
    if prefix == b"ASCII\x00\x00\x00":
        return body.decode("latin-1").strip("\x00") or None
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        return body.decode("shift_jis", errors="replace").strip("\x00") or None
    text = body.decode("utf-8", errors="replace").strip("\x00 ")
    return text or None
