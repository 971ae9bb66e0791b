"""``inspect``: bytes (or a path) in, :class:`Findings` out. A pure function of the bytes and options.

The file is read once; metadata comes from our own bounded container walk, pixels (only when a
pixel-level check needs them) from :func:`takeback.media.decode_image`. Each stage is isolated: a
failure anywhere becomes a finding with ``error`` and the other stages still run, so one hostile file
never stops a scan. Nothing is logged: findings can hold prompt text that names the victim.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from takeback.analysis.provenance import fragility, generators, stealth, traces, watermark
from takeback.analysis.provenance.classifiers import Classifier, classify, installed_classifiers
from takeback.analysis.provenance.containers import Blob, Container, TextItem, walk
from takeback.analysis.provenance.credentials import read_credentials
from takeback.analysis.provenance.metadata import XmpError, decode_user_comment, parse_exif, parse_xmp
from takeback.analysis.provenance.models import Evidence, Finding, FindingError, Findings, Indicates, Tier
from takeback.media import HEAD_BYTES, Limits, MediaError, open_image, sniff
from takeback.media import errors as media_codes
from takeback.media.types import Kind
from takeback.media.walk import display_path, open_regular

CHECKS = ("metadata", "c2pa", "stealth", "watermark", "consistency")


@dataclass(frozen=True, slots=True)
class InspectOptions:
    """What to check. Watermark decoding is the costly part (a full decode plus a wavelet pass)."""

    watermarks: bool = True
    stealth: bool = True
    c2pa: bool = True
    consistency: bool = True
    trust_anchors_pem: str | None = None  # extra C2PA trust anchors (PEM), beside the shipped list
    use_shipped_anchors: bool = True
    limits: Limits = field(default_factory=Limits)
    #: tier-4 plug-ins (review ordering only; none ship): None runs every installed one, () none
    classifiers: tuple[Classifier, ...] | None = None


def inspect(
    source: bytes | str | os.PathLike[str], *, options: InspectOptions | None = None, name: str | None = None
) -> Findings:
    """Provenance findings for one file or one in-memory file. Never raises for bad input."""
    opts = options or InspectOptions()
    if isinstance(source, bytes | bytearray | memoryview):
        return inspect_bytes(bytes(source), options=opts, name=name or "<bytes>")
    shown = name or display_path(source)
    try:
        data = _read(source, shown, opts.limits)
    except MediaError as exc:
        return Findings(name=shown, error=FindingError(code=exc.code, message=exc.message))
    return inspect_bytes(data, options=opts, name=shown)


def _read(path: str | os.PathLike[str], shown: str, limits: Limits) -> bytes:
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise MediaError(f"{shown} is a directory.", code=media_codes.NOT_A_FILE)
        if not stat.S_ISREG(st.st_mode):
            raise MediaError(f"{shown} is not a regular file.", code=media_codes.NOT_A_FILE)
        if st.st_size > limits.max_file_bytes:
            raise MediaError(
                f"The file is {st.st_size:,} bytes, over the limit of {limits.max_file_bytes:,} "
                "(TAKEBACK_MAX_FILE_BYTES); not inspected.",
                code=media_codes.FILE_TOO_LARGE,
            )
        with open_regular(path) as fh:  # swapped for a pipe since the stat: refused, never read
            return fh.read(limits.max_file_bytes + 1)
    except FileNotFoundError:
        raise MediaError(f"No such file: {shown}.", code=media_codes.NOT_FOUND) from None
    except PermissionError:
        raise MediaError(f"Permission denied reading {shown}.", code=media_codes.PERMISSION_DENIED) from None
    except IsADirectoryError:
        raise MediaError(f"{shown} is a directory.", code=media_codes.NOT_A_FILE) from None
    except OSError as exc:
        raise MediaError(
            f"Could not read {shown}: {exc.strerror or exc}.", code=media_codes.READ_ERROR
        ) from None


def _stage_error(stage: str, exc: BaseException) -> Finding:
    """An unexpected failure inside one stage: recorded, never raised (no content in the message)."""
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind=f"{stage}.failed",
        summary=f"the {stage} check failed on this file",
        confidence=0.0,
        forgeable=True,
        fragility="",
        error=FindingError(code="analysis_failed", message=f"{stage} check failed: {type(exc).__name__}"),
    )


def _malformed(code: str, message: str, source: str, offset: int | None, key: str | None = None) -> Finding:
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind="metadata.malformed",
        summary=f"malformed metadata in {source}" + (f" ('{key}')" if key else ""),
        indicates=Indicates.UNKNOWN,
        confidence=0.0,
        forgeable=True,
        fragility=fragility.PNG_TEXT,
        evidence=[
            Evidence(source=source, field=key, offset=offset if offset is None or offset >= 0 else None)
        ],
        error=FindingError(code=code, message=message),
    )


def inspect_bytes(data: bytes, *, options: InspectOptions | None = None, name: str = "<bytes>") -> Findings:
    opts = options or InspectOptions()
    mt = sniff(data[:HEAD_BYTES])
    result = Findings(name=name, size=len(data), media_type=mt.mime)
    if not data:
        result.error = FindingError(code=media_codes.EMPTY_FILE, message="The file is empty (0 bytes).")
        return result
    if len(data) > opts.limits.max_file_bytes:
        result.error = FindingError(
            code=media_codes.FILE_TOO_LARGE, message="The file is over the size limit."
        )
        return result
    if mt.kind is Kind.VIDEO:
        result.checks = ["c2pa"] if opts.c2pa else []
        if opts.c2pa:
            result.findings.extend(
                _run(
                    "c2pa",
                    lambda: read_credentials(
                        data,
                        mt.mime,
                        offset=None,
                        extra_anchors_pem=opts.trust_anchors_pem,
                        use_shipped_anchors=opts.use_shipped_anchors,
                    ),
                )
            )
        return result
    if not mt.is_image:
        result.error = FindingError(
            code=media_codes.UNSUPPORTED_TYPE, message=f"Not an image or video ({mt.mime}); not inspected."
        )
        return result

    plugins, unavailable = installed_classifiers() if opts.classifiers is None else (opts.classifiers, ())
    container = walk(data)
    want_stealth = opts.stealth and container.format in ("png", "webp")
    switches = (True, opts.c2pa, want_stealth, opts.watermarks, opts.consistency)
    result.checks = [c for c, on in zip(CHECKS, switches, strict=True) if on]
    result.checks += [f"classifier:{c.name}" for c in plugins]
    result.width, result.height = container.width, container.height
    findings = result.findings
    findings.extend(_malformed(p.code, p.message, p.source, p.offset, p.field) for p in container.problems)
    findings.extend(unavailable)

    exif_fields: dict[str, Any] | None = None
    exif_blob: Blob | None = container.exif[0] if container.exif else None
    extra_texts: list[TextItem] = []
    for blob in container.exif:
        try:
            fields = parse_exif(blob.data)
        except ValueError as exc:
            findings.append(
                _malformed(
                    "exif_malformed", f"The EXIF block could not be read ({exc}).", blob.source, blob.offset
                )
            )
            continue
        exif_fields = exif_fields or fields
        findings.extend(_run("exif", partial(_exif_findings, blob, fields, extra_texts)))

    findings.extend(_run("metadata", lambda: generators.from_text_items([*container.texts, *extra_texts])))

    for blob in container.xmp:
        try:
            packet = parse_xmp(blob.data)
        except XmpError as exc:
            findings.append(_malformed(exc.code, exc.message, blob.source, blob.offset))
            continue
        findings.extend(_run("xmp", partial(traces.xmp_findings, blob, packet)))

    if opts.c2pa and container.c2pa:
        offset = container.c2pa[0].offset if container.c2pa[0].offset >= 0 else None
        findings.extend(
            _run(
                "c2pa",
                lambda: read_credentials(
                    data,
                    mt.mime,
                    offset=offset,
                    extra_anchors_pem=opts.trust_anchors_pem,
                    use_shipped_anchors=opts.use_shipped_anchors,
                ),
            )
        )

    if want_stealth or opts.watermarks or plugins:
        findings.extend(_run("pixels", lambda: _pixel_findings(data, container, opts, want_stealth, plugins)))

    if opts.consistency:
        findings.extend(_run("consistency", lambda: traces.consistency_findings(container, exif_fields)))
        findings.extend(
            _run("consistency", lambda: traces.contradiction_findings(findings, exif_fields, exif_blob))
        )
    return result


def _run(stage: str, fn: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return fn()
    except MemoryError as exc:
        return [_stage_error(stage, exc)]
    except Exception as exc:  # a bug or a hostile file in one stage must not stop the rest
        return [_stage_error(stage, exc)]


def _exif_findings(blob: Blob, fields: dict[str, Any], extra_texts: list[TextItem]) -> list[Finding]:
    out: list[Finding] = []
    raw = fields.get("UserComment")
    if raw is not None:
        text = decode_user_comment(raw)
        if text:
            ev = Evidence(
                source=blob.source, field="EXIF UserComment", offset=blob.offset if blob.offset >= 0 else None
            )
            finding = generators.from_user_comment(text, ev)
            if finding is not None:
                out.append(finding)
            elif text.lstrip().startswith("{"):
                extra_texts.append(TextItem(blob.source, "parameters", text, blob.offset, blob.length))
    # ComfyUI's WebP/JPEG savers put "workflow:<json>" in Make and "prompt:<json>" in Model.
    for tag in ("Make", "Model", "ImageDescription"):
        value = fields.get(tag)
        if isinstance(value, str):
            for key in ("workflow", "prompt"):
                if value.startswith(key + ":"):
                    extra_texts.append(
                        TextItem(f"{blob.source} {tag}", key, value[len(key) + 1 :], blob.offset, blob.length)
                    )
    if not extra_texts or not any(t.key in ("workflow", "prompt") for t in extra_texts):
        out.extend(traces.exif_software_findings(blob, fields))
    return out


class _ImageColumns:
    """A Pillow image seen as an (H, W, 3|4) uint8 array whose columns are converted on demand
    (:class:`stealth.Columns`): RGB and RGBA as they are, other modes as RGBA when they carry
    transparency, else RGB (the LSB reader takes either)."""

    def __init__(self, im: Image.Image) -> None:
        self.im = im
        alpha = im.mode == "RGBA" or (
            im.mode != "RGB" and ("A" in im.getbands() or "transparency" in im.info)
        )
        self.mode = "RGBA" if alpha else "RGB"
        self.shape = (im.height, im.width, 4 if alpha else 3)
        self.ndim = 3

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        cols = key[1].stop if key[1].stop is not None else self.im.width
        return self.rgb(0, self.im.height, min(cols, self.im.width), mode=self.mode)

    def rgb(self, top: int, bottom: int, right: int, *, mode: str = "RGB") -> np.ndarray:
        part = self.im.crop((0, top, right, bottom))
        return np.asarray(part if part.mode == mode else part.convert(mode))


def _pixel_findings(
    data: bytes,
    container: Container,
    opts: InspectOptions,
    want_stealth: bool,
    plugins: tuple[Classifier, ...],
) -> list[Finding]:
    """Stealth payloads, watermarks and classifier scores from the decoded pixels.

    Memory stays within what hashing needs (issue 12: a 200-MP PNG took 4.3 GB here, 0.6 GB to
    hash): Pillow holds the image once, and every check reads crops of it, never a full NumPy copy
    or full-size float planes. The stealth reader takes only the left columns that hold the
    payload; watermark votes come strip by strip and are exact (``watermark.strip_votes``), so no
    finding changes. Only plug-in classifiers (none ship) get the whole RGB array.
    """
    out: list[Finding] = []
    view: _ImageColumns | None = None
    if want_stealth:
        try:
            view = _ImageColumns(open_image(data, limits=opts.limits, upright=False))
        except MediaError:
            view = None
        if view is not None:
            payload = stealth.read(view)
            if payload is not None:
                out.append(_stealth_finding(payload))
    if not (opts.watermarks or plugins):
        return out
    if view is None:
        try:
            view = _ImageColumns(open_image(data, limits=opts.limits))
        except MediaError:
            return out  # undecodable pixels: the metadata findings stand; hashing reports the decode error
    if opts.watermarks and view.im.width * view.im.height >= watermark.MIN_PIXELS:
        votes = watermark.strip_votes(view.rgb, view.im.height, view.im.width)
        for match in watermark.detect_votes(votes):
            if match.chance <= watermark.FALSE_ALARM:
                out.append(_watermark_finding(match))
    if plugins:
        rgb = view.rgb(0, view.im.height, view.im.width)
        out.extend(classify(c, rgb) for c in plugins)
    return out


def _stealth_finding(p: stealth.StealthPayload) -> Finding:
    where = f"hidden in the {p.channel} channel's lowest bits ('{p.magic}')"
    ev = Evidence(
        source=f"pixels:{p.channel}-lsb",
        field=f"{p.magic} (bit stream from pixel 0,0, column by column)",
        offset=None,
        length=p.declared_bits // 8,
        value=p.text if p.text is not None else None,
    )
    if p.error_code is not None:
        return Finding(
            tier=Tier.DETERMINISTIC,
            kind="generator.stealth",
            summary=f"a stealth metadata payload {where}, unreadable",
            indicates=Indicates.AI_GENERATED,
            generator="NovelAI" if p.magic == "stealth_pngcomp" and p.channel == "alpha" else None,
            confidence=0.6,
            forgeable=True,
            fragility=fragility.STEALTH,
            details={"magic": p.magic, "channel": p.channel, "declared_bits": p.declared_bits},
            evidence=[ev],
            error=FindingError(code=p.error_code, message=p.error_message or "unreadable payload"),
        )
    if p.fields is not None:
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in p.fields.items()}
        return generators.novelai_finding(
            fields, [ev], kind="generator.novelai_stealth", fragility_note=fragility.STEALTH, where=where
        )
    item = TextItem(ev.source, p.magic, p.text or "", 0, p.declared_bits // 8)
    finding = generators.a1111_finding(item, fragility_note=fragility.STEALTH)
    if finding is not None:
        finding.kind = "generator.a1111_stealth"
        finding.summary += f" ({where})"
        return finding
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind="generator.stealth",
        summary=f"a stealth metadata payload {where} in no known format",
        indicates=Indicates.AI_GENERATED,
        confidence=0.7,
        forgeable=True,
        fragility=fragility.STEALTH,
        sensitive=True,
        evidence=[ev],
    )


def _watermark_finding(m: watermark.WatermarkMatch) -> Finding:
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind="watermark.dwtdct",
        summary=f"{m.payload.name} invisible watermark (dwtDct), {m.bit_errors}/{m.length} bit errors",
        indicates=Indicates.AI_GENERATED,
        generator=m.payload.generator,
        confidence=max(0.0, min(1.0, 1.0 - m.chance)),
        forgeable=True,
        fragility=fragility.WATERMARK,
        details={
            "payload": m.payload.name,
            "bit_errors": m.bit_errors,
            "bits": m.length,
            "chance_agreement": m.chance,
            "mean_vote_margin": round(m.mean_margin, 4),
            "payload_source": m.payload.source,
        },
        evidence=[
            Evidence(
                source="pixels:yuv-u/haar-ll/4x4-blocks", field=f"dwtDct {m.length}-bit", value=m.decoded
            )
        ],
    )
