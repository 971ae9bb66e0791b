"""takeback's own matching routes: batch lookups and hash-and-match with full explanations.

``POST /v1/match/batch`` takes up to 10,000 hashes in one request and answers item by item (a bad
hash is an error on its item, never on the batch). ``POST /v1/match`` hashes an upload, a URL or
given hashes and returns every match with the bank entry's metadata, the threshold it was held to,
the orientation that matched (``dihedral``) and any allow-list suppression; a video's matches against
the banks' videos come in a ``video`` block (kind, both shares, where in each video, explanation).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from takeback.matching import Match, MatchQuery, MatchResult
from takeback.matching.video_banks import combined_status
from takeback.matching.video_banks import status_of as video_status
from takeback.signals import REGISTRY, SignalError, SignalType
from takeback.signals.vpdq import VpdqResult, result_from_value
from takeback.web.api.matching import parse_signal, signal_type_name
from takeback.web.deps import Lookup, StateDep
from takeback.web.errors import ApiError
from takeback.web.jsonbody import GuardedRoute
from takeback.web.lookups import match_batch_for, match_for, match_video_for, parse_banks, query_from
from takeback.web.ratelimit import retry_after_header
from takeback.web.responses import JSON, BatchResult, MatchOne, v1_errors
from takeback.web.uploads import MULTIPART_OPENAPI, fingerprint_upload, read_upload
from takeback.web.urls import fingerprint_url

router = APIRouter(prefix="/v1", tags=["takeback v1"], route_class=GuardedRoute, default_response_class=JSON)

MAX_BATCH = 10_000
#: a batch costs one rate-limit token per this many hashes (at least one)
HASHES_PER_TOKEN = 100


class BatchRequest(BaseModel):
    signal_type: str = Field("pdq", description="pdq, md5 or sha256: the type of every hash")
    hashes: list[str] = Field(..., description=f"up to {MAX_BATCH:,} hashes, hex")
    banks: list[str] | None = Field(None, description="bank names to match (default: all)")


def match_record(m: Match) -> dict[str, Any]:
    """A match for a program: what matched, how close, under which rule, and the entry's metadata."""
    return {
        "bank": m.bank,
        "content_id": m.content_id,
        "signal_type": m.signal_type,
        "distance": m.distance,
        "threshold": m.threshold,
        "orientation": m.orientation,
        "allow_list": m.allow_list,
        "suppressed_by": m.suppressed_by.to_record() if m.suppressed_by else None,
        "low_quality": m.low_quality,
        "note": m.note,
        "metadata": m.metadata,
        "source": m.source,
    }


@router.post(
    "/match/batch",
    summary=f"Match up to {MAX_BATCH:,} hashes in one request",
    # the body is assembled from encoded parts (below): described by BatchResult, not checked at run time
    response_model=BatchResult,
    responses=v1_errors(404),
)
async def match_batch(body: BatchRequest, caller: Lookup, state: StateDep) -> Response:
    n = len(body.hashes)
    if n > MAX_BATCH:
        raise ApiError(
            f"hashes: at most {MAX_BATCH:,} per request; got {n:,}. Split the batch.",
            code="invalid_request",
            status=422,
            field="hashes",
        )
    extra = max(0.0, n / HASHES_PER_TOKEN - 1)  # the auth dependency already took one token
    wait = state.keys.limiter.take(caller.key_id, caller.rate_limit, extra) if extra else None
    if wait is not None:
        raise ApiError(
            f"Rate limit for this key exceeded by a batch of {n:,} hashes; retry in {wait:.2f} s.",
            code="rate_limited",
            status=429,
            headers={"Retry-After": retry_after_header(wait)},
        )
    stype = signal_type_name(body.signal_type)
    if REGISTRY[stype].bag_of_frames:
        raise ApiError(
            "signal_type: a batch takes pdq, md5 or sha256 hashes; match a video (or its vpdq value) "
            "with POST /v1/match.",
            code="invalid_request",
            status=422,
            field="signal_type",
        )
    values, slots, errors = parse_hashes(REGISTRY[stype], body.hashes)
    found = await match_batch_for(
        state, caller, stype, values, banks=parse_banks(body.banks), route="match_batch"
    )
    # The body is assembled from encoded parts: 10,000 items that almost all read "no_match" cost
    # one shared string each instead of a dict to build and encode.
    items = [_NO_MATCH] * n
    for i, err in errors.items():
        items[i] = _dumps({"status": "error", "error": err, "matches": []})
    matched = 0
    for k, r in found.items():
        if r.matches:
            items[slots[k]] = _dumps({"status": r.status, "matches": [match_record(m) for m in r.matches]})
            matched += 1
    head = _dumps({"signal_type": stype, "count": n, "matched": matched, "errors": len(errors)})
    return Response(f'{head[:-1]},"results":[{",".join(items)}]}}', media_type="application/json")


def parse_hashes(
    st: SignalType, texts: list[str]
) -> tuple[list[bytes], list[int], dict[int, dict[str, str]]]:
    """(values, their positions, errors by position) of a batch's hex hashes.

    Well-formed hashes (exactly the type's length) are decoded in one ``bytes.fromhex`` call; if
    that fails, or for any other item, each goes through ``SignalType.validate``, which names the
    field and the problem (a bad hash is an error on its item, never on the batch).
    """
    width = 2 * st.size
    plain = [i for i, t in enumerate(texts) if isinstance(t, str) and len(t) == width]
    raw = b""
    if plain:
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex("".join([texts[i] for i in plain]))
    if len(plain) == len(texts) and len(raw) == st.size * len(texts):
        return [raw[k : k + st.size] for k in range(0, len(raw), st.size)], plain, {}
    values: list[bytes] = []
    slots: list[int] = []
    errors: dict[int, dict[str, str]] = {}
    for i, text in enumerate(texts):
        try:
            values.append(st.validate(text, field=f"hashes[{i}]"))
        except SignalError as exc:
            errors[i] = exc.to_dict()
            continue
        slots.append(i)
    return values, slots, errors


def _dumps(obj: Any) -> str:
    """JSON as Starlette's ``JSONResponse`` writes it (compact, UTF-8)."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_NO_MATCH = _dumps({"status": "no_match", "matches": []})


class HashQuery(BaseModel):
    pdq: str | None = None
    md5: str | None = None
    sha256: str | None = None
    vpdq: str | None = Field(None, description="a video's vpdq value (packed hex, or frame lines)")
    url: str | None = Field(None, description="fetch and hash this URL (needs TAKEBACK_URL_ALLOWLIST)")
    banks: list[str] | None = None


def _result_record(r: MatchResult) -> dict[str, Any]:
    rec = r.to_record()
    rec.pop("input", None)
    rec["matches"] = [match_record(m) | {"explanation": m.explain()} for m in r.matches]
    return rec


@router.post(
    "/match",
    summary="Hash and match in one call: a multipart file (photo or video), a URL, or hashes; full "
    "explanations",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": MULTIPART_OPENAPI["requestBody"]["content"]["multipart/form-data"],
                "application/json": {"schema": HashQuery.model_json_schema()},
            }
        }
    },
    response_model=MatchOne,
    response_model_exclude_unset=True,
    responses=v1_errors(404, body=True),
)
async def match_one(
    request: Request,
    caller: Lookup,
    state: StateDep,
    banks: str | None = Query(None, description="comma-separated bank names (default: all)"),
    dihedral: bool = Query(False, description="also match the image rotated 90/180/270 and flipped"),
) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "").lower()
    names = parse_banks(banks)
    video: VpdqResult | None = None
    if ctype.startswith("multipart/form-data"):
        upload = await read_upload(request)
        fp = await fingerprint_upload(state, upload, dihedral=dihedral)
        query, video = MatchQuery.from_fingerprint(fp), fp.vpdq
    else:
        # nothing sent: the 422 below says what to send; not JSON (or unbounded JSON): 400 invalid_json
        raw = await request.json() if await request.body() else None
        try:
            body = HashQuery.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(
                "Send a multipart file ('photo' or 'video'), or JSON with url, pdq, md5, sha256 and/or vpdq.",
                code="invalid_request",
                status=422,
                field="body",
            ) from exc
        names = names or body.banks
        if body.url:
            fp = await fingerprint_url(state, body.url, dihedral=dihedral)
            query, video = MatchQuery.from_fingerprint(fp), fp.vpdq
        else:
            given = {
                k: v
                for k, v in (
                    ("pdq", body.pdq),
                    ("md5", body.md5),
                    ("sha256", body.sha256),
                    ("vpdq", body.vpdq),
                )
                if v
            }
            if not given:
                raise ApiError(
                    "Give url, pdq, md5, sha256 or vpdq.", code="invalid_request", status=422, field="pdq"
                )
            if dihedral:
                raise ApiError(
                    "dihedral matching needs the image (rotations are computed from it), not a hash.",
                    code="invalid_request",
                    status=422,
                    field="dihedral",
                )
            values = {k: parse_signal(k, v, field=k)[1] for k, v in given.items()}
            for k in [k for k in values if REGISTRY[k].bag_of_frames]:
                video = result_from_value(values.pop(k))
            query = query_from(values, "hashes")
    if video is not None and all(REGISTRY[k].bag_of_frames for k in query.signals):
        result = MatchResult(query)  # a vpdq value alone: nothing for the hash index
    else:
        (result,) = await match_for(state, caller, [query], banks=names, route="match")
    record = _result_record(result)
    if video is not None:
        found = await match_video_for(state, caller, video, banks=names, route="match")
        status = video_status(found)
        record["status"] = combined_status(record["status"], status)
        record["video"] = {
            "status": status,
            "frames": len(video.frames),
            "duration_s": video.duration_s,
            "matches": [m.to_record() for m in found],
        }
    return record
