"""Uploaded files: HMA's multipart convention, type checks by content, and the one hashing call.

HMA names the multipart field after the content type (``photo=@img.jpg`` or ``video=@clip.mp4``)
and takes one file per request; we keep that. The declared type is then checked against the bytes
(:func:`takeback.media.sniff`), never the file name or the client's MIME header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from fastapi import Request
from starlette.datastructures import UploadFile

from takeback.errors import article
from takeback.media import HEAD_BYTES, Kind, MediaError, sniff
from takeback.signals import REGISTRY
from takeback.signals.fingerprint import Fingerprint, FingerprintOptions, fingerprint_bytes
from takeback.web.deps import ServiceState
from takeback.web.errors import ApiError
from takeback.web.jsonbody import JsonBodyError, loads_bounded

#: HMA content types and the kinds of bytes each accepts
CONTENT_FIELDS: dict[str, Kind] = {"photo": Kind.IMAGE, "video": Kind.VIDEO}

#: request body of a multipart upload, for the OpenAPI document
MULTIPART_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "photo": {"type": "string", "format": "binary", "description": "an image"},
                        "video": {"type": "string", "format": "binary", "description": "a video"},
                    },
                    "description": "exactly one file, in the field named after its content type",
                }
            }
        },
        "required": True,
    }
}


@dataclass(slots=True)
class Upload:
    content_type: str  # "photo" or "video": the multipart field name
    filename: str
    data: bytes | None  # None: HMA's content add with no file (it then says what is missing)
    fields: dict[str, str] = field(default_factory=dict)  # the form's text fields


def _bad(message: str, field_name: str) -> ApiError:
    return ApiError(message, code="invalid_request", status=422, field=field_name)


async def read_upload(request: Request, *, hma: bool = False, need_file: bool = True) -> Upload:
    """The one file of a multipart request (``photo`` or ``video``) plus its text fields.

    ``hma``: HMA's checks and messages (400 for a missing file whatever the body, ``no such
    content_type``); without ``need_file`` a form with no file gives an upload with no data."""
    ctype = request.headers.get("content-type", "")
    if hma:
        return await _read_upload_hma(request, need_file=need_file)
    if not ctype.lower().startswith("multipart/form-data"):
        raise ApiError(
            "Send the file as multipart/form-data in a field named 'photo' (or 'video').",
            code="unsupported_media_type",
            status=415,
        )
    form = await request.form(max_files=4, max_fields=32, max_part_size=256 * 1024)
    try:
        files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        texts = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        if not files:
            raise _bad("Missing multipart/form-data file upload (field 'photo' or 'video').", "photo")
        if len(files) > 1:
            raise _bad("Only one file allowed per request.", files[1][0])
        name, upload = files[0]
        if name not in CONTENT_FIELDS:
            raise _bad(f"No such content type {name!r}: name the file field 'photo' or 'video'.", name)
        data = await upload.read()
        return Upload(content_type=name, filename=upload.filename or "<upload>", data=data, fields=texts)
    finally:
        await form.close()


async def _read_upload_hma(request: Request, *, need_file: bool) -> Upload:
    from takeback.web.hma import fail

    missing = "Missing multipart/form-data file upload"
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        if need_file:
            raise fail(missing)
        return Upload(content_type="photo", filename="", data=None)
    form = await request.form(max_files=4, max_fields=32, max_part_size=256 * 1024)
    try:
        files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        texts = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        if not files:
            if need_file:
                raise fail(missing)
            return Upload(content_type="photo", filename="", data=None, fields=texts)
        if len(files) > 1:
            raise fail("Only one file allowed per request")
        name, upload = files[0]
        if name not in CONTENT_FIELDS:
            raise fail(f"no such content_type: '{name}'")
        data = await upload.read()
        return Upload(content_type=name, filename=upload.filename or "<upload>", data=data, fields=texts)
    finally:
        await form.close()


def check_kind(content_type: str, data: bytes) -> None:
    """415 unless the bytes are the kind the client said (a PDF sent as ``photo``, say)."""
    want = CONTENT_FIELDS[content_type]
    mt = sniff(data[:HEAD_BYTES])
    if data and mt.kind is not want:
        raise ApiError(
            f"The '{content_type}' field holds {mt.mime} ({mt.kind.value}), not {article(want.value)} "
            f"{want.value}; "
            "types are read from the bytes, not the file name.",
            code="unsupported_media_type",
            status=415,
            field=content_type,
        )


async def fingerprint_upload(
    state: ServiceState,
    upload: Upload,
    *,
    dihedral: bool = False,
    for_bank: bool = False,
    hma: bool = False,
) -> Fingerprint:
    """Fingerprint an upload off the event loop; a decoder failure is 422 with the decoder's code.

    ``for_bank``: a video is hashed at every distinct frame, as ``takeback bank add`` does (queries
    sample about one frame a second). ``hma``: the field name only chooses the signal types (HMA
    hashes a JPEG sent as ``video`` to its MD5), so the bytes are not checked against it."""
    data = upload.data
    assert data is not None
    if not hma:
        check_kind(upload.content_type, data)
    options = FingerprintOptions.from_settings(state.settings, for_bank=for_bank, dihedral=dihedral)
    fp = await anyio.to_thread.run_sync(
        lambda: fingerprint_bytes(data, name=upload.filename, options=options)
    )
    if fp.error is not None:
        raise MediaError(fp.error["message"], code=fp.error["code"])
    return fp


def parse_types(types: str | None) -> list[str] | None:
    """HMA's ``types=pdq,md5`` -> signal type names (``None``: every type); unknown names are 422."""
    if not types:
        return None
    wanted = [t.strip().lower() for t in types.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in REGISTRY]
    if unknown:
        raise _bad(f"signal type {unknown[0]!r} doesn't exist; use {', '.join(REGISTRY)}.", "types")
    return wanted


def signals_of(fp: Fingerprint, types: str | None = None) -> dict[str, str]:
    """``{signal_type: hex}`` as HMA's hashing routes return it, optionally limited by ``types``.

    A video's ``vpdq`` is its packed value in hex (frames, the frames inside its border, the
    duration), the form bank exports carry and every route taking a ``vpdq`` value accepts."""
    found = {v.signal_type: v.value.hex() for v in fp.values()}
    wanted = parse_types(types)
    if wanted is None:
        return found
    return {k: v for k, v in found.items() if k in wanted}


def json_field(fields: dict[str, str], name: str) -> Any:
    """A form field holding JSON (HMA clients send ``metadata`` this way), or ``None``."""
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    try:
        return loads_bounded(raw)
    except JsonBodyError as exc:
        raise _bad(f"{name}: not acceptable JSON: {exc}.", name) from None


def hma_signals_of(fp: Fingerprint, content_type: str, types: str | None = None) -> dict[str, str]:
    """``{signal_type: hex}`` (takeback names) as HMA picks them: its types for the content type
    (``photo``: pdq, ``video``: md5), or those ``types`` names (HMA's names, or takeback's
    md5/sha256/vpdq as an extension); 400s in HMA's words."""
    from takeback.web.hma import CONTENT_SIGNALS, fail, takeback_name

    default = list(CONTENT_SIGNALS[content_type])
    if types is None:
        wanted = default
    else:
        wanted = [takeback_name(t.strip()) for t in types.split(",") if t.strip()]
        if not wanted:
            raise fail("empty signal type selection")
        for t in wanted:
            if t not in default and t not in REGISTRY:
                raise fail(f"signal type '{t}' doesn't exist or is disabled")
    found = signals_of(fp)
    # HMA answers its photo type (PDQ) even for an image that has none (a flat one): "".
    return {t: found.get(t, "") for t in wanted if t in found or t in CONTENT_SIGNALS["photo"]}
