"""Camera fields and creation traces for the item record: what took a photo, when, and what it was
derived from.

Metadata is found by the provenance package's bounded container walk
(:func:`takeback.analysis.provenance.containers.walk`) and read with Pillow's EXIF parser and the
package's hardened XMP reader; this module only picks the fields an examiner compares across items:
make, model, serial numbers, capture time (with sub-seconds and offset), lens, software, GPS, and
the XMP document ids that editors carry from an original to its edits (``xmpMM:DerivedFrom``,
``OriginalDocumentID``). Two items sharing a capture key came from the same shutter press.
"""

from __future__ import annotations

import hashlib
from typing import Any

from PIL import Image

from takeback.analysis.provenance.containers import Container
from takeback.analysis.provenance.metadata import XmpError, parse_xmp

IFD0 = {
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x0132: "DateTime",
    0x0112: "Orientation",
    0x013B: "Artist",
    0x013C: "HostComputer",
}
EXIF_IFD = {
    0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized",
    0x9011: "OffsetTimeOriginal",
    0x9291: "SubSecTimeOriginal",
    0xA431: "BodySerialNumber",
    0xA433: "LensMake",
    0xA434: "LensModel",
    0xA435: "LensSerialNumber",
    0xA420: "ImageUniqueID",
    0x920A: "FocalLength",
    0x829A: "ExposureTime",
    0x829D: "FNumber",
    0x8827: "ISOSpeedRatings",
    0xA002: "PixelXDimension",
    0xA003: "PixelYDimension",
}
_MAX_TEXT = 200
_XMP_IDS = {
    "DocumentID": "xmp_document_id",
    "OriginalDocumentID": "xmp_original_document_id",
    "InstanceID": "xmp_instance_id",
}


def _clean(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:_MAX_TEXT] or None
    if isinstance(value, tuple):
        return [_clean(v) for v in value][:8]
    if isinstance(value, int | float):
        return value
    try:  # IFDRational and friends
        return round(float(value), 6)
    except (TypeError, ValueError):
        return None


def _gps(exif: Image.Exif) -> dict[str, float] | None:
    try:
        gps = exif.get_ifd(0x8825)
        lat, lat_ref, lon, lon_ref = gps.get(2), gps.get(1), gps.get(4), gps.get(3)
        if not (lat and lon):
            return None

        def deg(v: Any, ref: Any) -> float:
            d, m, s = (float(x) for x in v)
            out = d + m / 60 + s / 3600
            return -out if str(ref).upper().startswith(("S", "W")) else out

        return {"lat": round(deg(lat, lat_ref), 6), "lon": round(deg(lon, lon_ref), 6)}
    except Exception:  # damaged GPS blocks are common; the rest of EXIF still counts
        return None


def camera_fields(container: Container) -> dict[str, Any] | None:
    """The first EXIF block's camera fields (``None`` when the file has no readable EXIF)."""
    if not container.exif:
        return None
    exif = Image.Exif()
    try:
        exif.load(b"Exif\x00\x00" + container.exif[0].data)
        out: dict[str, Any] = {}
        for tag, name in IFD0.items():
            if tag in exif:
                v = _clean(exif[tag])
                if v not in (None, [], ""):
                    out[name] = v
        sub = exif.get_ifd(0x8769)
        for tag, name in EXIF_IFD.items():
            if tag in sub:
                v = _clean(sub[tag])
                if v not in (None, [], ""):
                    out[name] = v
    except Exception:  # Pillow raises many types on damaged TIFF structures
        return {"unreadable": True}
    gps = _gps(exif)
    if gps:
        out["GPS"] = gps
    return out or None


def creation_traces(container: Container, camera: dict[str, Any] | None) -> dict[str, Any] | None:
    """Keys that tie an item to the capture or document it came from (compared across items)."""
    out: dict[str, Any] = {}
    # Make + model + second is not unique (bursts, two cameras of one model): a capture key also needs
    # the body serial number or the sub-second time.
    cam = camera or {}
    strong = cam.get("BodySerialNumber") or cam.get("SubSecTimeOriginal")
    if strong and cam.get("DateTimeOriginal") and (cam.get("Make") or cam.get("Model")):
        parts = [
            str(cam.get(k) or "")
            for k in ("Make", "Model", "BodySerialNumber", "DateTimeOriginal", "SubSecTimeOriginal")
        ]
        out["capture_key"] = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    if camera and camera.get("ImageUniqueID"):
        out["image_unique_id"] = camera["ImageUniqueID"]
    derived: list[str] = []
    for blob in container.xmp[:4]:
        try:
            packet = parse_xmp(blob.data)
        except XmpError:
            continue
        for prop in packet.properties:
            local = prop.name.rsplit(":", 1)[-1].rsplit("#", 1)[-1]
            value = prop.value.strip()[:_MAX_TEXT]
            if not value:
                continue
            if prop.name.startswith("xmpMM:") and local in _XMP_IDS:
                out.setdefault(_XMP_IDS[local], value)
            elif local in ("documentID", "instanceID", "originalDocumentID") and not prop.name.startswith(
                "xmpMM:"
            ):
                derived.append(value)  # stRef fields: xmpMM:DerivedFrom, Ingredients, History
    if derived:
        out["xmp_derived_from"] = sorted(set(derived))[:16]
    return out or None
