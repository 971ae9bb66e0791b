"""The shape of every answer, as pydantic models, so ``/openapi.json`` and ``/docs`` describe them.

Routes build their bodies as plain dicts and declare one of these as ``response_model``; FastAPI
checks the dict against it (a field that drifts is a 500 and fails ``tests/web/test_openapi.py``).
Three rules keep the wire exactly as it was before the models, byte for byte:

* **Omissions are the route's** (``response_model_exclude_unset``): a key the route left out stays
  out (HMA's ``note``, ``metadata``, ``signals``), an explicit ``null`` stays ``null``.
* **Values pass through unchanged**: times are the strings the domain wrote (not re-formatted
  datetimes), and a number that may be an int or a float is :data:`Number`, so ``1`` stays ``1``
  and ``1.0`` stays ``1.0`` (HMA's ``matching_enabled_ratio`` is either, by route).
* **One encoder** (:data:`JSON`): bodies are rendered by ``json.dumps`` as Starlette's
  ``JSONResponse`` does, as the fast path (``web/fastpath.py``) and the batch route render theirs,
  not by pydantic's JSON writer (which writes ``1e-05`` as ``0.00001``).

Every model forbids extra keys, so a key a route adds without its model fails too, and the
documented schemas are closed (``additionalProperties: false``); the one exception is an exchange's
record, whose further keys are its API's own settings (typed, and described by the API's schema).
Routes that return a ``Response`` themselves (``POST /v1/match/batch``, the fast path's lookups) are
described by the same models; their bodies are checked by the test, never at run time. A ``204``
(``PUT /c/signal_type/{name}``) has no body and so no model.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from takeback.auth import Role

#: the response class of every JSON route (see the module docstring)
JSON = JSONResponse

#: a JSON number kept as the route produced it (int or float)
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -----------------------------------------------------------------------------------------


class ErrorBody(Shape):
    """takeback's errors: ``/v1``, and on every route takeback's own protections (key, role, rate,
    size, time, URL guard)."""

    code: str = Field(description="stable, for programs")
    message: str = Field(description="for people")
    field: str | None = Field(None, description="the request field at fault, when there is one")


class HmaError(Shape):
    """HMA's errors on ``/c``, ``/m``, ``/h``: the message alone."""

    message: str


class HmaValidationItem(Shape):
    """One of pydantic's errors, as HMA's flask-openapi3 answers a typed parameter that fails."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class HmaValidationErrors(RootModel[list[HmaValidationItem]]):
    pass


def _doc(model: Any, description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


_OWN: dict[int | str, dict[str, Any]] = {
    401: _doc(ErrorBody, "no key, or a bad, revoked or expired one (`WWW-Authenticate: Bearer`)"),
    403: _doc(ErrorBody, "the key's role may not do this; URL fetching off or the host not allowed"),
    429: _doc(ErrorBody, "the key's rate limit (`Retry-After`)"),
}
_BODY: dict[int | str, dict[str, Any]] = {413: _doc(ErrorBody, "the body is over TAKEBACK_MAX_UPLOAD_BYTES")}


def v1_errors(*extra: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """The error answers of a ``/v1`` route: ``{code, message, field?}``; ``extra`` adds 404 etc."""
    out: dict[int | str, dict[str, Any]] = {
        400: _doc(ErrorBody, "a body that is not strict, bounded JSON (`invalid_json`)"),
        **_OWN,
        422: _doc(ErrorBody, "malformed input, naming the field"),
        503: _doc(ErrorBody, "the index is not ready, or the store or audit log cannot be written"),
    }
    if 404 in extra:
        out[404] = _doc(ErrorBody, "an unknown bank (or one outside the key's scope), key or entry")
    if 409 in extra:
        out[409] = _doc(ErrorBody, "the state does not allow it (e.g. `not_held`: an entry is not held)")
    if body:
        out.update(_BODY)
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


def hma_errors(*extra: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """The error answers of an HMA route: HMA's ``{message}`` (and its 422 list), but takeback's
    own protections with their code; ``extra`` adds 404 etc."""
    out: dict[int | str, dict[str, Any]] = {
        400: _doc(HmaError, "what HMA's views check by hand"),
        **_OWN,
        422: _doc(HmaValidationErrors, "a typed parameter failed (HMA's list of pydantic errors)"),
        503: _doc(HmaError, "the index is not ready, or the store or audit log cannot be written"),
    }
    if 404 in extra:
        out[404] = _doc(HmaError, "an unknown bank (or one outside the key's scope) or entry")
    if 403 in extra:  # HMA's duplicate answers 403 too
        out[403] = _doc(ErrorBody | HmaError, "the key's role may not do this, or (HMA) the name is taken")
    if 415 in extra:
        out[415] = _doc(HmaError, "the body is not JSON, or the file is not what its field says")
    if body:
        out.update(_BODY)
    return dict(sorted(out.items(), key=lambda kv: str(kv[0])))


# --- status -----------------------------------------------------------------------------------------


def plain_text(*values: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"text/plain": {"schema": {"type": "string", "enum": list(values)}}},
    }


# --- hashing and matching (HMA) ---------------------------------------------------------------------


class HmaSignals(RootModel[dict[str, str]]):
    """``{signal type: hex}`` under HMA's names (``pdq``, ``video_md5``; takeback's by ``types=``)."""


class HmaMatch(Shape):
    """One match as HMA writes it: ``distance`` is a string, ``"-"`` for an exact-match type."""

    bank_content_id: int
    distance: str
    note: str | None = Field(None, description="with include_metadata")
    metadata: dict[str, Any] | None = Field(None, description="with include_metadata")


class HmaVideoMatch(Shape):
    """One video match: distance (100 minus the smaller share in percent), both shares, the kind."""

    bank_content_id: int
    distance: str
    query_match_percent: Number
    compared_match_percent: Number
    kind: str = Field(description="match, clip or contains")
    note: str | None = Field(None, description="with include_metadata")
    metadata: dict[str, Any] | None = Field(None, description="with include_metadata")


class RawLookup(Shape):
    matches: list[int] | list[HmaMatch | HmaVideoMatch] = Field(
        description="content ids; with include_distance, {bank_content_id, distance} objects"
    )


class MatchesByBank(RootModel[dict[str, list[HmaMatch | HmaVideoMatch]]]):
    """``{bank: [matches]}`` of the effective matches."""


class MatchesBySignalType(RootModel[dict[str, dict[str, list[HmaMatch | HmaVideoMatch]]]]):
    """``{signal type: {bank: [matches]}}``, an entry (maybe empty) for every type looked up."""


class IndexStatusRecord(Shape):
    built_to: int = Field(description="the change-log sequence number the index has applied")
    present: bool
    size: int


class IndexStatus(RootModel[dict[str, IndexStatusRecord]]):
    pass


class CompareDetail(Shape):
    """``{distance}`` for a distance type, ``{}`` for an exact one; a video adds both shares."""

    distance: int | None = None
    query_match_percent: Number | None = None
    compared_match_percent: Number | None = None
    kind: str | None = None


class Compared(RootModel[dict[str, tuple[bool, CompareDetail]]]):
    """``{signal type: [is_match, detail]}``."""


# --- curation (HMA) ---------------------------------------------------------------------------------


class BankRecord(Shape):
    """HMA's bank; ``details=true`` adds takeback's fields."""

    matching_enabled_ratio: Number = Field(description="1.0 on, 0.0 off (1 / 0 after a PUT of enabled)")
    name: str
    description: str | None = None
    pdq_threshold: int | None = None
    pdq_cap: int | None = Field(
        None,
        description="takeback: the most PDQ distance its entries match at (an exchange sets it)",
    )
    allow_list: bool | None = None
    enabled: bool | None = None
    disabled_until: str | None = None
    active: bool | None = None
    entries: int | None = None
    disabled_entries: int | None = None
    held_entries: int | None = Field(
        None, description="takeback: entries held out of matching (pending review, disputed)"
    )
    signals: dict[str, int] | None = None
    created_at: str | None = None
    created_by: str | None = None


class BankList(RootModel[list[BankRecord]]):
    pass


class Done(Shape):
    message: str = Field(description="Done")


class Added(Shape):
    id: int
    signals: dict[str, str] = Field(description="what was stored, {signal type: hex}, HMA's names")


class ContentMetadata(Shape):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    collab: None = None
    content_id: str | None = None
    content_uri: str | None = None
    json_data: Any = Field(None, alias="json")


class ContentDetails(Shape):
    metadata: dict[str, Any]
    source: str | None
    enabled: bool
    disabled_until: str | None
    created_at: str
    created_by: str | None


class ContentRecord(Shape):
    """HMA's entry: ``note``, ``metadata`` and ``signals`` only when there are any (and asked for)."""

    bank: BankRecord
    disable_until_ts: int = Field(description="1 enabled, 0 disabled, else disabled until this Unix time")
    id: int
    original_media_uri: None
    metadata: ContentMetadata | None = None
    note: str | None = None
    signals: dict[str, str] | None = None
    details: ContentDetails | None = Field(None, description="takeback: with details=true")


class StoredContent(Shape):
    """``PUT``'s answer: the stored record (``note`` and ``user_metadata`` always)."""

    bank: BankRecord
    collab_metadata: dict[str, Any]
    disable_until_ts: int
    id: int
    note: str | None
    original_media_uri: None
    user_metadata: dict[str, Any] | None


class Deleted(Shape):
    deleted: int


# --- configuration (HMA) ----------------------------------------------------------------------------


class Message(Shape):
    """HMA's confirmations: ``{message}`` (``Created successfully``, ``Exchange deleted``)."""

    message: str


class Names(RootModel[list[str]]):
    """A list of names (exchange APIs, exchanges) or paths (the site map)."""


class SignalTypeRecord(Shape):
    name: str = Field(description="HMA's name (pdq, video_md5)")
    enabled_ratio: Number = Field(description="share of lookups the type is matched in (1.0: always)")


class SignalTypeList(RootModel[list[SignalTypeRecord]]):
    pass


class SignalTypeIndexRecord(Shape):
    """Sizes and freshness; the two positions are change-log sequence numbers (HMA: timestamps)."""

    db_size: int
    index_size: int
    index_out_of_date: bool
    newest_db_item: int
    index_built_to: int


class SignalTypeIndex(RootModel[dict[str, SignalTypeIndexRecord]]):
    """``{signal type: record}`` for every type, or the one asked for."""


class ContentTypeRecord(Shape):
    name: str
    enabled: bool


class ContentTypeList(RootModel[list[ContentTypeRecord]]):
    pass


class ExchangeApiStatus(Shape):
    supports_authentification: bool = Field(description="HMA's spelling: the API signs in")
    has_set_authentification: bool = Field(description="credentials are stored for it")


class ExchangeFieldRecord(Shape):
    name: str
    type: str = Field(description="string, number or boolean")
    required: bool
    default: Any
    help: str
    choices: list[Any] | None


class ExchangeFields(Shape):
    fields: list[ExchangeFieldRecord]


class ExchangeApiSchema(Shape):
    config_schema: ExchangeFields
    credentials_schema: ExchangeFields | None = Field(description="null: the API takes no credentials")


#: an exchange API's own setting, of one of the kinds ``ExchangeFieldRecord.type`` names
ExchangeSetting = bool | Number | str | None


class ExchangeRecord(Shape):
    """HMA's collaboration config: name, API and enabled, then the API's own settings (their names
    are the API's, see its ``/schema``, so this one model admits further keys)."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ExchangeSetting] = Field(init=False)

    name: str
    api: str
    enabled: bool


class FetchStatusRecord(Shape):
    """An exchange's fetch status (Unix seconds); every exchange reads as never fetched for now."""

    checkpoint_ts: int | None
    running_fetch_start_ts: int | None
    last_fetch_complete_ts: int | None
    last_fetch_succeeded: bool | None
    up_to_date: bool
    fetched_items: int


# --- /v1 --------------------------------------------------------------------------------------------


class SuppressorRecord(Shape):
    """The allow-list entry that suppressed a match (bank and id ``null`` for a key that may not see it)."""

    bank: str | None
    content_id: int | None
    signal_type: str
    distance: int


class MatchRecord(Shape):
    bank: str
    content_id: int
    signal_type: str
    distance: int
    threshold: int
    orientation: str | None
    allow_list: bool
    suppressed_by: SuppressorRecord | None
    low_quality: bool
    note: str | None
    metadata: dict[str, Any]
    source: str | None


class ExplainedMatch(MatchRecord):
    explanation: str


class SignalErrorRecord(Shape):
    code: str
    message: str


class BatchItem(Shape):
    status: str = Field(description="match, allow_listed, no_match or error")
    error: SignalErrorRecord | None = Field(None, description="only for status error")
    matches: list[MatchRecord]


class BatchResult(Shape):
    signal_type: str
    count: int
    matched: int
    errors: int
    results: list[BatchItem] = Field(description="one per hash, in order")


class VideoSuppressor(Shape):
    bank: str | None
    content_id: int | None


class VideoMatchRecord(Shape):
    bank: str
    content_id: int
    signal_type: str
    kind: str
    query_share: Number
    coverage: Number
    query_frames: int
    matched_query_frames: int
    matched_video_frames: int
    best_distance: int
    query_span: list[Number]
    video_span: list[Number]
    threshold: int
    allow_list: bool
    suppressed: bool
    suppressed_by: VideoSuppressor | None
    note: str | None
    metadata: dict[str, Any]
    source: str | None
    explanation: str


class VideoBlock(Shape):
    status: str
    frames: int
    duration_s: Number | None
    matches: list[VideoMatchRecord]


class MatchOne(Shape):
    """A file's fingerprint and its matches. A signal type registered beyond the built-in ones adds
    its value (its own text form) under its name, so this one model admits further text keys."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str | None] = Field(init=False)

    status: str = Field(description="match, allow_listed, no_match or error")
    pdq: str | None
    pdq_quality: int | None
    low_quality: bool
    md5: str | None
    sha256: str | None
    dihedral: bool
    matches: list[ExplainedMatch]
    error: dict[str, str] | None
    video: VideoBlock | None = Field(None, description="a video's matches against the banks' videos")


class KeyRecord(Shape):
    key_id: str
    name: str | None
    role: Role
    rate_limit: Number | None
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    status: str = Field(description="active, revoked or expired")
    banks: list[str] | None = Field(description="the key's banks by name; null: every bank")


class CreatedKey(Shape):
    key: str = Field(description="the secret: shown once, here")
    key_id: str
    name: str | None
    role: Role
    rate_limit: Number | None
    created_at: str
    created_by: str
    expires_at: str | None
    revoked_at: str | None
    status: str
    banks: list[str] | None


class KeyList(Shape):
    keys: list[KeyRecord]


# --- held entries (review before matching) -----------------------------------------------------------


class HeldEntry(Shape):
    content_id: int
    reason: str = Field(description="why it is held: pending_review (from an exchange) or disputed")
    held_until: str | None = Field(description="when the hold lapses by itself (null: until reviewed)")
    held_at: str | None
    held_by: str | None
    source: str | None
    note: str | None
    signals: dict[str, str] = Field(description="{signal type: hex} (a video's vPDQ left out)")


class HeldList(Shape):
    bank: str
    held: list[HeldEntry]


class Released(Shape):
    accepted: int = Field(description="entries that match from now on")
    rejected: int = Field(description="entries disabled for good after review")


class HeldCount(Shape):
    held: int
