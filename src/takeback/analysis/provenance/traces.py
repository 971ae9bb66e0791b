"""Tier-2 metadata traces (IPTC/XMP DigitalSourceType, software tags) and tier-3 consistency signals."""

from __future__ import annotations

import re
from typing import Any

from takeback.analysis.provenance import fragility
from takeback.analysis.provenance.containers import Blob, Container
from takeback.analysis.provenance.credentials import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES
from takeback.analysis.provenance.metadata import XmpPacket
from takeback.analysis.provenance.models import Evidence, Finding, Indicates, Tier

# Software names that only generative tools write. Matched case-insensitively as whole words; kept
# conservative: a false "AI" label is worse than a missed one.
GENERATOR_SOFTWARE: tuple[tuple[str, str, Indicates], ...] = (
    (r"novelai", "NovelAI", Indicates.AI_GENERATED),
    (r"midjourney", "Midjourney", Indicates.AI_GENERATED),
    (r"dall[\s\-·.]?e", "OpenAI DALL-E", Indicates.AI_GENERATED),
    (r"adobe firefly", "Adobe Firefly", Indicates.AI_GENERATED),
    (r"stable diffusion|stablediffusion", "Stable Diffusion", Indicates.AI_GENERATED),
    (r"comfyui", "ComfyUI", Indicates.AI_GENERATED),
    (r"invokeai|invoke ai", "InvokeAI", Indicates.AI_GENERATED),
    (r"fooocus", "Fooocus", Indicates.AI_GENERATED),
    (r"automatic1111|sd-webui|stable-diffusion-webui", "AUTOMATIC1111", Indicates.AI_GENERATED),
    (r"leonardo\.ai", "Leonardo.Ai", Indicates.AI_GENERATED),
    (r"ideogram", "Ideogram", Indicates.AI_GENERATED),
    (r"google imagen|imagen \d", "Google Imagen", Indicates.AI_GENERATED),
    (
        r"bing image creator|image creator from microsoft|microsoft designer",
        "Microsoft Designer / Bing",
        Indicates.AI_GENERATED,
    ),
    (r"dreamstudio", "DreamStudio", Indicates.AI_GENERATED),
    (r"made with google ai|edited with google ai", "Google AI", Indicates.AI_EDITED),
    (r"generative fill|generative expand", "Adobe Photoshop generative fill", Indicates.AI_EDITED),
    (r"facefusion|deepfacelab|faceswap|roop", "face-swap tool", Indicates.AI_EDITED),
)
_GEN_RE = [(re.compile(rf"\b(?:{p})\b", re.I), name, ind) for p, name, ind in GENERATOR_SOFTWARE]


def match_generator(text: str) -> tuple[str, Indicates] | None:
    for rx, name, ind in _GEN_RE:
        if rx.search(text):
            return name, ind
    return None


def _xmp_evidence(blob: Blob, name: str, value: str) -> Evidence:
    return Evidence(
        source=blob.source,
        field=name,
        offset=blob.offset if blob.offset >= 0 else None,
        length=blob.length,
        value=value,
    )


XMP_SOFTWARE_FIELDS = (
    "xmp:CreatorTool",
    "tiff:Software",
    "stEvt:softwareAgent",
    "photoshop:Credit",
    "Iptc4xmpExt:AISystemUsed",
)
XMP_PROMPT_FIELDS = ("Iptc4xmpExt:AIPromptInformation",)


def xmp_findings(blob: Blob, packet: XmpPacket) -> list[Finding]:
    out: list[Finding] = []
    for value in packet.values("Iptc4xmpExt:DigitalSourceType"):
        name = value.rstrip("/").rsplit("/", 1)[-1]
        if name in AI_SOURCE_TYPES:
            indicates = AI_SOURCE_TYPES[name]
        elif name in CAPTURE_SOURCE_TYPES:
            indicates = Indicates.CAPTURE
        else:
            indicates = Indicates.SOFTWARE
        out.append(
            Finding(
                tier=Tier.DETERMINISTIC,
                kind="xmp.digital_source_type",
                summary=f"IPTC DigitalSourceType {name} (unsigned XMP claim)",
                indicates=indicates,
                confidence=0.95,
                forgeable=True,
                fragility=fragility.XMP,
                details={"digital_source_type": value},
                evidence=[_xmp_evidence(blob, "Iptc4xmpExt:DigitalSourceType", value)],
            )
        )
    seen: set[str] = set()
    for field in XMP_SOFTWARE_FIELDS:
        for value in packet.values(field):
            hit = match_generator(value)
            if hit is None or value in seen:
                continue
            seen.add(value)
            out.append(_software_finding(hit, field, value, _xmp_evidence(blob, field, value), fragility.XMP))
    prompts = [v for f in XMP_PROMPT_FIELDS for v in packet.values(f)]
    if prompts:
        out.append(
            Finding(
                tier=Tier.DETERMINISTIC,
                kind="xmp.ai_prompt",
                summary="IPTC AI prompt information present (unsigned XMP claim)",
                indicates=Indicates.AI_GENERATED,
                confidence=0.9,
                forgeable=True,
                fragility=fragility.XMP,
                sensitive=True,
                details={"prompts": prompts},
                evidence=[_xmp_evidence(blob, XMP_PROMPT_FIELDS[0], p) for p in prompts],
            )
        )
    for value in packet.values("dcterms:provenance"):
        if not value.lower().startswith(("http://", "https://")):
            continue  # "self#jumbf=..." points at the embedded store, read separately
        out.append(
            Finding(
                tier=Tier.CRYPTOGRAPHIC,
                kind="c2pa.remote_manifest",
                summary="XMP points to a remote C2PA manifest (not fetched: takeback makes no requests)",
                indicates=Indicates.UNKNOWN,
                confidence=0.9,
                forgeable=True,
                fragility=fragility.C2PA,
                details={"url": value},
                evidence=[_xmp_evidence(blob, "dcterms:provenance", value)],
            )
        )
    return out


def _software_finding(hit: tuple[str, Indicates], field: str, value: str, ev: Evidence, note: str) -> Finding:
    name, indicates = hit
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind="metadata.software",
        summary=f"{field} names {name}: '{value[:120]}'",
        indicates=indicates,
        generator=name,
        confidence=0.9,
        forgeable=True,
        fragility=note,
        details={"field": field, "value": value},
        evidence=[ev],
    )


def exif_software_findings(blob: Blob, fields: dict[str, Any]) -> list[Finding]:
    out = []
    for field in ("Software", "Artist", "ImageDescription", "Make", "Model"):
        value = fields.get(field)
        if not isinstance(value, str) or not value.strip():
            continue
        if field == "ImageDescription" and len(value) > 200:
            continue  # long descriptions are prompts or captions; the generator parsers read those
        hit = match_generator(value)
        if hit is None:
            continue
        ev = Evidence(
            source=blob.source,
            field=f"EXIF {field}",
            offset=blob.offset if blob.offset >= 0 else None,
            value=value,
        )
        out.append(_software_finding(hit, f"EXIF {field}", value.strip(), ev, fragility.EXIF))
    return out


# --- tier 3 ------------------------------------------------------------------------------------

# Native output sizes of popular generators (SD 1.x/2.x, SDXL buckets, DALL-E 3, Midjourney defaults).
GENERATOR_SIZES = frozenset(
    {
        (512, 512),
        (512, 768),
        (768, 512),
        (768, 768),
        (640, 640),
        (1024, 1024),
        (1024, 768),
        (768, 1024),
        (832, 1216),
        (1216, 832),
        (896, 1152),
        (1152, 896),
        (768, 1344),
        (1344, 768),
        (640, 1536),
        (1536, 640),
        (1024, 1792),
        (1792, 1024),
        (1456, 816),
        (816, 1456),
        (1232, 928),
        (928, 1232),
        (2048, 2048),
        (1024, 1536),
        (1536, 1024),
    }
)


def consistency_findings(c: Container, exif: dict[str, Any] | None) -> list[Finding]:
    """Weak signals: facts that sit badly with a camera origin. Never enough on their own."""
    out: list[Finding] = []
    w, h = c.width, c.height
    has_camera = bool(exif and (exif.get("Make") or exif.get("Model")))
    if w and h and not has_camera:
        exact = (w, h) in GENERATOR_SIZES
        if exact or (w % 64 == 0 and h % 64 == 0 and max(w, h) <= 2048 and min(w, h) >= 512):
            out.append(
                Finding(
                    tier=Tier.CONSISTENCY,
                    kind="consistency.generator_resolution",
                    summary=(
                        f"{w}x{h} is a native output size of common image generators"
                        if exact
                        else f"{w}x{h}: both sides multiples of 64, as latent-diffusion outputs are"
                    )
                    + ", and there is no camera make/model",
                    indicates=Indicates.AI_GENERATED,
                    confidence=0.3 if exact else 0.15,
                    forgeable=True,
                    fragility=fragility.CONSISTENCY,
                    details={"width": w, "height": h, "known_generator_size": exact},
                    evidence=[Evidence(source=f"{c.format}:header", field="dimensions", value=[w, h])],
                )
            )
    return out


def contradiction_findings(
    findings: list[Finding], exif: dict[str, Any] | None, blob: Blob | None
) -> list[Finding]:
    """Camera make/model beside generator metadata: one of the two was written by someone else."""
    if not exif or not (exif.get("Make") or exif.get("Model")) or blob is None:
        return []
    gen = [f for f in findings if f.tier == Tier.DETERMINISTIC and f.indicates is Indicates.AI_GENERATED]
    if not gen:
        return []
    camera = " ".join(str(exif.get(k, "")) for k in ("Make", "Model")).strip()
    return [
        Finding(
            tier=Tier.CONSISTENCY,
            kind="consistency.camera_and_generator",
            summary=f"EXIF names a camera ({camera}) yet the file has generator metadata ({gen[0].kind})",
            indicates=Indicates.AI_GENERATED,
            confidence=0.3,
            forgeable=True,
            fragility=fragility.CONSISTENCY,
            details={"camera": camera, "generator_finding": gen[0].kind},
            evidence=[
                Evidence(
                    source=blob.source,
                    field="EXIF Make/Model",
                    offset=blob.offset if blob.offset >= 0 else None,
                    value=camera,
                )
            ],
        )
    ]
