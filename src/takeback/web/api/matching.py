"""HMA's matching routes under ``/m``: raw lookup, lookup (hash, URL or upload), compare, index status.

Paths, parameters and JSON shapes are HMA's (see docs/API.md for the deliberate differences). The
lookup routes report *effective* matches: entries of blocking banks that no allow-list entry
suppressed; ``/v1/match`` shows everything with explanations. A video (upload, URL or ``vpdq``
value) is also matched against the banks' videos and answers in a ``vpdq`` block (docs/API.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request

from takeback.matching import MatchQuery
from takeback.matching import status as index_report
from takeback.matching.video import MatchKind, compare_videos
from takeback.signals import REGISTRY, IndexKind, SignalError, get_signal_type
from takeback.signals.fingerprint import Fingerprint
from takeback.signals.vpdq import result_from_value
from takeback.web.deps import Lookup, ServiceState, StateDep
from takeback.web.errors import ApiError
from takeback.web.hma import HMA_SIGNAL_TYPES, TAKEBACK_NAME, fail, hma_name, json_body, takeback_name
from takeback.web.jsonbody import GuardedRoute
from takeback.web.lookups import (
    CoinFlip,
    blocking,
    hma_by_bank,
    hma_by_signal_type,
    hma_entry,
    hma_match_for,
    hma_match_video_for,
    hma_video_by_bank,
    hma_video_entry,
    parse_banks,
    query_from,
)
from takeback.web.responses import (
    JSON,
    Compared,
    IndexStatus,
    MatchesByBank,
    MatchesBySignalType,
    RawLookup,
    hma_errors,
)
from takeback.web.security import Principal
from takeback.web.uploads import MULTIPART_OPENAPI, fingerprint_upload, hma_signals_of, read_upload
from takeback.web.urls import fingerprint_url

router = APIRouter(prefix="/m", tags=["Matching"], route_class=GuardedRoute, default_response_class=JSON)

#: HMA signal-type names that mean one of ours
ALIASES = TAKEBACK_NAME


def invalid(message: str, field: str, code: str = "invalid_request") -> ApiError:
    """422 naming ``field``; the message starts with the field's name so a person sees it too."""
    text = message if message.startswith(f"{field}:") else f"{field}: {message}"
    return ApiError(text, code=code, status=422, field=field)


def signal_type_name(name: str, *, field: str = "signal_type") -> str:
    """takeback's name for a signal type (``video_md5`` is ``md5``); 422 naming ``field`` (``/v1``)."""
    try:
        return get_signal_type(ALIASES.get(name.strip().lower(), name)).name
    except SignalError as exc:
        raise invalid(exc.message, field, exc.code) from None


def parse_signal(
    signal_type: str, value: str, *, field: str, type_field: str = "signal_type"
) -> tuple[str, bytes]:
    """(type name, value bytes); malformed input is 422 naming the field (``/v1``)."""
    name = signal_type_name(signal_type, field=type_field)
    try:
        return name, REGISTRY[name].validate(value, field=field)
    except SignalError as exc:
        raise invalid(exc.message, field, exc.code) from None


def hma_type(name: str) -> str:
    """HMA: an unknown type is 400 ``No such SignalType '<t>'`` (takeback's extra types work too)."""
    stype = takeback_name(name)
    if stype not in REGISTRY:
        raise fail(f"No such SignalType '{name}'")
    return stype


def hma_signal(signal_type: str, value: str) -> tuple[str, bytes]:
    """(takeback type name, value bytes) with HMA's 400s."""
    name = hma_type(signal_type)
    try:
        return name, REGISTRY[name].validate(value, field="signal")
    except SignalError as exc:
        raise fail(f"invalid signal: {exc.message}") from None


@router.get(
    "/raw_lookup",
    summary="Look a hash up in the index: {matches: [content ids]}",
    response_model=RawLookup,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
async def raw_lookup(
    caller: Lookup,
    state: StateDep,
    signal_type: Annotated[str, Query(description="pdq, md5, sha256 or vpdq")],
    signal: Annotated[str, Query(description="the hash, hex")],
    banks: Annotated[str | None, Query(description="comma-separated bank names (default: all)")] = None,
    include_distance: Annotated[
        bool, Query(description="return {bank_content_id, distance} objects")
    ] = False,
) -> dict[str, Any]:
    name, value = hma_signal(signal_type, signal)
    if REGISTRY[name].bag_of_frames:
        found = await hma_match_video_for(
            state, caller, result_from_value(value), banks=parse_banks(banks), route="raw_lookup"
        )
        videos = [m for m in found if m.effective]
        if include_distance:
            return {"matches": [hma_video_entry(m) for m in videos]}
        return {"matches": [m.content_id for m in videos]}
    # HMA's raw lookup is the index's answer: enabled or not (its docstring: "enable/disable status
    # is NOT checked"); deleted entries are gone at once (takeback's index is always current).
    (result,) = await hma_match_for(
        state,
        caller,
        [query_from({name: value})],
        banks=parse_banks(banks),
        route="raw_lookup",
        inactive=True,
    )
    hits = [m for m in result.matches if blocking(m)]
    if include_distance:
        return {"matches": [hma_entry(m) for m in hits]}
    return {"matches": [m.content_id for m in hits]}


@router.get(
    "/lookup",
    summary="Look up a hash (signal_type + signal) or a URL: matches by bank",
    response_model=MatchesByBank | MatchesBySignalType,
    response_model_exclude_unset=True,
    responses=hma_errors(),
    description="A hash (or a URL with `signal_type`): `{bank: [matches]}`; "
    "a URL: `{signal_type: {bank: [matches]}}`.",
)
async def lookup_get(
    caller: Lookup,
    state: StateDep,
    signal_type: Annotated[str | None, Query(description="with signal: the hash's type")] = None,
    signal: Annotated[str | None, Query(description="the hash, hex")] = None,
    url: Annotated[str | None, Query(description="instead of a hash: fetch and hash this URL")] = None,
    content_type: Annotated[str | None, Query(description="with url: photo or video")] = None,
    types: Annotated[str | None, Query(description="with url: comma-separated signal types to match")] = None,
    banks: Annotated[str | None, Query(description="comma-separated bank names (default: all)")] = None,
    include_metadata: Annotated[bool, Query(description="add each entry's note and metadata")] = False,
    seed: Annotated[
        str | None, Query(description="the coin flip's seed (banks with an enabled_ratio under 1)")
    ] = None,
    bypass_coinflip: Annotated[
        str | None, Query(description="accepted and ignored, as HMA's GET lookup does")
    ] = None,
) -> dict[str, Any]:
    names = parse_banks(banks)
    if url:
        fp = await fingerprint_url(state, url, content_type=content_type, hma=True)
        kind = content_type or ("video" if (fp.media_type or "").startswith("video") else "photo")
        signals = hma_signals_of(fp, kind, types)
        if signals.get("pdq") == "":
            raise fail("invalid signal: invalid PDQ hash")
        query = replace(MatchQuery.from_fingerprint(fp, types=signals), label="url")
        by_type = await hma_lookup(
            state,
            caller,
            query,
            fp,
            list(signals),
            banks=names,
            route="lookup",
            include_metadata=include_metadata,
            seed=seed,
        )
        if signal_type:
            return by_type.get(signal_type, {})
        return by_type
    if not signal or not signal_type:
        raise fail("Either url or both signal and signal_type are required")
    name, value = hma_signal(signal_type, signal)
    if REGISTRY[name].bag_of_frames:
        found = await hma_match_video_for(
            state, caller, result_from_value(value), banks=names, route="lookup"
        )
        return hma_video_by_bank(found, include_metadata=include_metadata)
    (result,) = await hma_match_for(state, caller, [query_from({name: value})], banks=names, route="lookup")
    return hma_by_bank(result.matches, include_metadata=include_metadata, coin=CoinFlip(seed))


async def hma_lookup(
    state: ServiceState,
    caller: Principal,
    query: MatchQuery,
    fp: Fingerprint,
    signal_types: list[str],
    *,
    banks: list[str] | None,
    route: str,
    include_metadata: bool,
    seed: str | None = None,
    bypass_coinflip: bool = False,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{signal_type: {bank: [...]}}`` for a file: its hashes through the index, and its video (if it
    is one and its bag-of-frames type, vPDQ, is among ``signal_types``) through the video matcher.
    ``seed`` and ``bypass_coinflip`` are HMA's coin flip (``CoinFlip``; bypassing it lets disabled
    banks in)."""
    hashed = [t for t in signal_types if not REGISTRY[t].bag_of_frames]
    by_type: dict[str, dict[str, list[dict[str, Any]]]] = {}
    if hashed:
        (result,) = await hma_match_for(
            state, caller, [query], banks=banks, route=route, inactive=bypass_coinflip
        )
        by_type = hma_by_signal_type(
            result.matches,
            hashed,
            include_metadata=include_metadata,
            seed=seed,
            bypass_coinflip=bypass_coinflip,
        )
    for t in signal_types:
        if REGISTRY[t].bag_of_frames and fp.vpdq is not None:
            found = await hma_match_video_for(state, caller, fp.vpdq, banks=banks, route=route)
            by_type[t] = hma_video_by_bank(found, include_metadata=include_metadata)
    return by_type


@router.post(
    "/lookup",
    summary="Hash an uploaded file and look it up: {signal_type: {bank: [matches]}}",
    openapi_extra=MULTIPART_OPENAPI,
    response_model=MatchesBySignalType,
    response_model_exclude_unset=True,
    responses=hma_errors(415, body=True),
)
async def lookup_post(
    request: Request,
    caller: Lookup,
    state: StateDep,
    banks: str | None = Query(None, description="comma-separated bank names (default: all)"),
    types: str | None = Query(None, description="comma-separated signal types to match"),
    include_metadata: bool = Query(False, description="add each entry's note and metadata"),
    dihedral: bool = Query(False, description="also match the image rotated and flipped (takeback)"),
    seed: str | None = Query(None, description="the coin flip's seed (banks with an enabled_ratio under 1)"),
    bypass_coinflip: str | None = Query(
        None, description="true: every bank takes part, whatever its enabled_ratio, disabled ones too (HMA)"
    ),
) -> dict[str, Any]:
    upload = await read_upload(request, hma=True)
    fp = await fingerprint_upload(state, upload, dihedral=dihedral, hma=True)
    signals = hma_signals_of(fp, upload.content_type, types)
    if signals.get("pdq") == "":
        raise fail("invalid signal: invalid PDQ hash")  # HMA: a flat image has no PDQ to look up
    query = MatchQuery.from_fingerprint(fp, types=signals)  # match only the chosen types
    return await hma_lookup(
        state,
        caller,
        query,
        fp,
        list(signals),
        banks=parse_banks(banks),
        route="lookup_upload",
        include_metadata=include_metadata,
        seed=seed,
        bypass_coinflip=bypass_coinflip == "true",  # HMA compares the string exactly
    )


@router.get(
    "/index/status",
    summary="Index status per signal type: {type: {built_to, present, size}}",
    response_model=IndexStatus,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
async def index_status(
    caller: Lookup,
    state: StateDep,
    signal_type: str | None = Query(None, description="limit to one signal type"),
) -> dict[str, Any]:
    if signal_type is not None and takeback_name(signal_type) not in REGISTRY:
        raise fail(f"No such signal type '{signal_type}'")
    wanted = [takeback_name(signal_type)] if signal_type else [takeback_name(t) for t in HMA_SIGNAL_TYPES]
    matcher = await state.matcher.ready_matcher()
    found = await anyio.to_thread.run_sync(index_report.index_status, matcher, state.matcher.video, wanted)
    return {hma_name(name): dataclasses.asdict(found[name]) for name in wanted}


@router.post(
    "/compare",
    summary="Compare pairs of hashes: {type: [a, b]} -> {type: [is_match, {distance}]}",
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": {"pdq": [REGISTRY["pdq"].examples[0]] * 2}}},
            "required": True,
        }
    },
    response_model=Compared,
    response_model_exclude_unset=True,
    responses=hma_errors(415),
)
async def compare(caller: Lookup, request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise fail("Request input was not a dict")
    out: dict[str, Any] = {}
    for name, pair in body.items():
        if not isinstance(pair, list):
            raise fail(f"Comparison hashes for {name} was not a list")
        if len(pair) != 2:
            raise fail("Comparison hash list length must be exactly 2")
        stype = hma_type(name)
        values = []
        for v in pair:
            if not isinstance(v, str):
                got = type(v).__name__
                raise fail(f"Invalid {name} hash: expected string or bytes-like object, got '{got}'")
            try:
                values.append(REGISTRY[stype].validate(v, field=name))
            except SignalError as exc:
                raise fail(f"Invalid {name} hash: {exc.message}") from None
        a, b = values
        if REGISTRY[stype].bag_of_frames:  # videos: a is the query, b the compared video (as banked)
            out[name] = _compare_videos(a, b)
            continue
        st = REGISTRY[stype]
        distance = st.distance(a, b)
        matched = distance <= st.default_threshold
        out[name] = [matched, {"distance": distance} if st.index_kind is not IndexKind.EXACT else {}]
    return out


def _compare_videos(a: bytes, b: bytes) -> list[Any]:
    """``[is_match, {distance, query_match_percent, compared_match_percent, kind}]`` by the bank
    matcher's arithmetic; a match, clip or containment is a match, as in lookups."""
    m = compare_videos(result_from_value(a), result_from_value(b))
    if m is None:
        return [
            False,
            {"distance": 100, "query_match_percent": 0.0, "compared_match_percent": 0.0, "kind": None},
        ]
    return [
        m.kind is not MatchKind.PARTIAL,
        {
            "distance": 100 - int(min(m.query_share, m.coverage) * 100),
            "query_match_percent": round(100 * m.query_share, 2),
            "compared_match_percent": round(100 * m.coverage, 2),
            "kind": str(m.kind),
        },
    ]
