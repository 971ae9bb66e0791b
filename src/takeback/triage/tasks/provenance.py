"""The provenance task: :func:`takeback.analysis.provenance.inspect_bytes` on the buffer already in
memory (C2PA, XMP/IPTC, generator metadata, watermarks, and any installed tier-4 classifier
plug-in). dwtDct watermarks are not read on 4:2:0-subsampled JPEGs, where the mark cannot survive
(STACK.md), which took a 2-MP JPEG from 32 ms to 1 ms."""

from __future__ import annotations

from takeback.media import Limits, MediaType
from takeback.triage import errors as codes
from takeback.triage.models import ItemResult
from takeback.triage.tasks.base import Content


def jpeg_chroma_subsampled(data: bytes) -> bool:
    """Whether a JPEG's chroma is stored at lower resolution than its luma (4:2:0, 4:2:2...).

    Read from the frame header (SOFn) without decoding; a header that cannot be read counts as not
    subsampled, so the watermark check still runs.
    """
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            seg = data[i + 4 : i + 2 + length]
            if len(seg) < 6:
                return False
            count = seg[5]
            comps = [seg[6 + 3 * k : 9 + 3 * k] for k in range(count)]
            if count < 3 or any(len(c) < 3 for c in comps):
                return False
            factors = [(c[1] >> 4, c[1] & 0x0F) for c in comps]
            (hy, vy), chroma = factors[0], factors[1:]
            return any(h < hy or v < vy for h, v in chroma)
        if marker == 0xDA:
            return False
        i += 2 + length
    return False


def wants_watermarks(data: bytes, mt: MediaType, policy: str) -> bool:
    """The watermark policy (``auto``, ``on``, ``off``) for this image."""
    if policy == "off":
        return False
    if policy == "on":
        return True
    return not (mt.mime == "image/jpeg" and jpeg_chroma_subsampled(data))


class ProvenanceTask:
    name = "provenance"

    def __init__(self, limits: Limits, *, watermarks: str) -> None:
        self.limits = limits
        self.watermarks = watermarks

    def applies(self, content: Content) -> bool:
        return content.data is not None and (content.media_type.is_image or content.media_type.is_video)

    def run(self, content: Content, result: ItemResult) -> bool:
        from takeback.analysis.provenance import InspectOptions, inspect_bytes

        data, mt = content.data or b"", content.media_type
        watermarks = mt.is_image and wants_watermarks(data, mt, self.watermarks)
        try:
            findings = inspect_bytes(
                data, options=InspectOptions(watermarks=watermarks, limits=self.limits), name=content.name
            )
        except Exception as exc:  # inspect isolates its stages; this is a last line of defence
            result.warnings.append(
                {"code": codes.ANALYSIS_FAILED, "message": f"Provenance check failed: {type(exc).__name__}."}
            )
            return False
        record = findings.to_record()
        ai = [
            f for f in findings.findings if f.error is None and f.indicates in ("ai_generated", "ai_edited")
        ]
        result.provenance = record
        result.tier = record.get("strongest_tier")
        result.headline = record.get("headline")
        result.ai = bool(result.tier is not None and result.tier <= 2)
        result.generator = next((f.generator for f in sorted(ai, key=lambda f: f.tier) if f.generator), None)
        return False
