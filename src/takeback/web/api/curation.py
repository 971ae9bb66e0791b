"""HMA's curation routes under ``/c``: banks and their content, thin over ``takeback.banks.service``.

Status codes, bodies and omissions are HMA's (``web.hma``); takeback's own bank fields (per-bank PDQ
threshold, allow-list, description) are accepted as extra body keys HMA ignores and shown with
``?details=true``. Writes commit before the response is sent, so a 2xx
means the change is durable; the worker's matcher is told at once, other workers within ~100 ms.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from takeback.auth import AuthError
from takeback.banks.models import Bank, BankInfo
from takeback.banks.service import (
    ContentView,
    NewContent,
    add_contents,
    bank_info,
    create_bank,
    delete_bank,
    entry_from_fingerprint,
    get_content,
    list_banks,
    remove_contents,
    set_bank_enabled,
    set_bank_ratio,
    set_content_note,
    set_contents_enabled,
    update_bank,
)
from takeback.errors import TakebackError
from takeback.signals import REGISTRY, SignalError, SignalValue
from takeback.web.deps import BankManager, BankReader, ServiceState, SessionDep, StateDep, Submitter
from takeback.web.hma import (
    BAD_JSON,
    BANK_NAME_MESSAGE,
    check_metadata,
    check_note,
    fail,
    hma_name,
    json_body,
    metadata_form_field,
    takeback_name,
    true_flag,
    valid_bank_name,
)
from takeback.web.jsonbody import GuardedRoute, JsonBodyError, loads_bounded
from takeback.web.responses import (
    JSON,
    Added,
    BankList,
    BankRecord,
    ContentRecord,
    Deleted,
    Done,
    StoredContent,
    hma_errors,
)
from takeback.web.security import Principal, bank_for
from takeback.web.uploads import MULTIPART_OPENAPI, fingerprint_upload, hma_signals_of, read_upload
from takeback.web.urls import fingerprint_url

router = APIRouter(prefix="/c", tags=["Banks"], route_class=GuardedRoute, default_response_class=JSON)

FIVE_YEARS = timedelta(days=5 * 365)


# --- shapes ---------------------------------------------------------------------------------------


def ratio(info: BankInfo) -> float:
    """HMA's ``matching_enabled_ratio``: the bank's ratio while it is enabled, else 0 (or the
    negative ratio it was given)."""
    return info.matching_ratio if info.active else min(0.0, info.matching_ratio)


def bank_record(info: BankInfo, *, details: bool = False) -> dict[str, Any]:
    """HMA's ``{matching_enabled_ratio, name}``; ``details`` adds takeback's bank fields."""
    rec: dict[str, Any] = {"matching_enabled_ratio": ratio(info), "name": info.name}
    if details:
        rec.update(info.to_record())
    return rec


def disable_until_ts(view: ContentView, now: datetime) -> int:
    """HMA's encoding: 1 enabled, 0 disabled for good, else the Unix time it is disabled until."""
    if view.active(now):
        return 1
    return 0 if view.disabled_until is None else int(view.disabled_until.timestamp())


def _bank_of(bank: BankInfo) -> dict[str, Any]:
    return {"matching_enabled_ratio": ratio(bank), "name": bank.name}


def content_record(
    view: ContentView,
    bank: BankInfo,
    *,
    include_signals: bool,
    include_metadata: bool = True,
    details: bool = False,
) -> dict[str, Any]:
    """GET content as HMA writes it: ``note``, ``metadata`` and ``signals`` only when there are any
    (and asked for); ``details`` adds takeback's fields (source, enabled, created_at ...)."""
    now = datetime.now(UTC)
    rec: dict[str, Any] = {
        "bank": _bank_of(bank),
        "disable_until_ts": disable_until_ts(view, now),
        "id": view.id,
        "original_media_uri": None,
    }
    meta = {k: view.metadata.get(k) for k in ("content_id", "content_uri", "json")}
    if include_metadata and any(v is not None for v in meta.values()):
        rec["metadata"] = {"collab": None, **meta}
    if view.note is not None:
        rec["note"] = view.note
    if include_signals and view.signals:
        rec["signals"] = {hma_name(k): v[0].hex() for k, v in view.signals.items()}
    if details:
        rec["details"] = {
            "metadata": view.metadata,
            "source": view.source,
            "enabled": view.active(now),
            "disabled_until": view.disabled_until.isoformat() if view.disabled_until else None,
            "created_at": view.created_at.isoformat(),
            "created_by": view.created_by,
        }
    return rec


def stored_record(view: ContentView, bank: BankInfo) -> dict[str, Any]:
    """PUT content's answer: HMA returns the stored record (``note``/``user_metadata`` always)."""
    meta = {k: view.metadata[k] for k in ("content_id", "content_uri", "json") if view.metadata.get(k)}
    return {
        "bank": _bank_of(bank),
        "collab_metadata": {},
        "disable_until_ts": disable_until_ts(view, datetime.now(UTC)),
        "id": view.id,
        "note": view.note,
        "original_media_uri": None,
        "user_metadata": meta or None,
    }


class BankCreate(BaseModel):
    name: str = Field(..., description="HMA's rule: UPPER_WITH_UNDERSCORE ([A-Z_][A-Z0-9_]*)")
    enabled_ratio: float | None = Field(
        1.0, description="share of /m/lookup calls the bank matches (a coin flip per lookup); 0 is off"
    )
    enabled: bool | None = Field(None, description="used only when enabled_ratio is null (as in HMA)")
    pdq_threshold: int | None = Field(None, description="takeback: PDQ distance this bank matches at")
    allow_list: bool = Field(False, description="takeback: known-benign content, suppresses other matches")
    description: str | None = Field(None, description="takeback")


class BankUpdate(BaseModel):
    name: str | None = Field(None, description="rename")
    enabled_ratio: float | None = None
    enabled: bool | None = None
    disabled_until: datetime | None = Field(None, description="takeback: with enabled=false, until then")
    pdq_threshold: int | None = None
    allow_list: bool | None = None
    description: str | None = None


def _ratio_from(ratio: float | None, enabled: bool | None) -> float | None:
    """HMA's rule: ``enabled_ratio`` wins; else ``enabled`` is 1 or 0; else unchanged (None)."""
    if ratio is not None:
        if not math.isfinite(ratio):
            raise fail("enabled_ratio must be a finite number")
        return float(ratio)
    if enabled is not None:
        return 1.0 if enabled else 0.0
    return None


# --- scope ----------------------------------------------------------------------------------------


def scoped_bank(session: Session, principal: Principal, name: str, message: str | None = None) -> Bank:
    """The bank called ``name`` if this key may use it; else HMA's 404 (``bank '<name>' not found``),
    as for a bank that does not exist."""
    try:
        return bank_for(session, principal, name)
    except TakebackError as exc:
        if exc.code in ("unknown_bank", "bank_not_found", "not_found"):
            raise fail(message or f"bank '{name}' not found", 404) from None
        raise


def _require_unscoped(principal: Principal, what: str) -> None:
    if principal.bank_ids is not None:
        raise AuthError(f"Keys limited to some banks may not {what}.", code="forbidden")


def _changed(state: ServiceState) -> None:
    """Let this worker's next lookup see the write at once."""
    if state.matcher.ready:
        state.matcher.get().mark_stale()


# --- banks ----------------------------------------------------------------------------------------


@router.get(
    "/banks",
    summary="List banks",
    response_model=BankList,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def banks_index(
    caller: BankReader,
    session: SessionDep,
    details: bool = Query(False, description="takeback: add each bank's threshold, allow-list, counts"),
) -> list[dict[str, Any]]:
    return [bank_record(b, details=details) for b in list_banks(session) if caller.may_use_bank(b.id)]


@router.post(
    "/banks",
    status_code=201,
    summary="Create a bank",
    response_model=BankRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(403),
)
def bank_create(body: BankCreate, caller: BankManager, session: SessionDep, state: StateDep) -> JSONResponse:
    _require_unscoped(caller, "create banks")
    if not valid_bank_name(body.name):
        raise fail(BANK_NAME_MESSAGE)
    new_ratio = _ratio_from(body.enabled_ratio, body.enabled)
    try:
        bank = create_bank(
            session,
            name=body.name,
            actor=caller.actor,
            allow_list=body.allow_list,
            description=body.description,
            **({"pdq_threshold": body.pdq_threshold} if body.pdq_threshold is not None else {}),
        )
    except TakebackError as exc:
        if exc.code == "bank_exists":
            raise fail("Bank already exists", 403) from None
        raise
    if new_ratio is not None and new_ratio != 1.0:
        set_bank_ratio(session, name=bank.name, ratio=new_ratio, actor=caller.actor)
    info = bank_info(session, name=bank.name)
    session.commit()
    _changed(state)
    return JSONResponse(bank_record(info), status_code=201)


@router.get(
    "/bank/{bank_name}",
    summary="Show a bank",
    response_model=BankRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(404),
)
def bank_show(
    bank_name: str,
    caller: BankReader,
    session: SessionDep,
    details: bool = Query(False, description="takeback: add threshold, allow-list, counts"),
) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name)
    return bank_record(bank_info(session, name=bank.name), details=details)


@router.put(
    "/bank/{bank_name}",
    summary="Update a bank: rename, enable/disable, threshold, allow-list",
    response_model=BankRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(403, 404),
)
def bank_update(
    bank_name: str, body: BankUpdate, caller: BankManager, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name, "Bank not found")
    if body.name is not None and not valid_bank_name(body.name):
        raise fail(BANK_NAME_MESSAGE)
    new_ratio = _ratio_from(body.enabled_ratio, body.enabled)
    if body.disabled_until is not None and (new_ratio is None or new_ratio > 0):
        raise fail("disabled_until: applies only with enabled=false")
    try:
        bank = update_bank(
            session,
            name=bank.name,
            actor=caller.actor,
            new_name=body.name,
            pdq_threshold=body.pdq_threshold,
            allow_list=body.allow_list,
            description=body.description,
        )
    except TakebackError as exc:
        if exc.code == "bank_exists":
            raise fail("Bank name already exists", 403) from None
        raise
    if body.disabled_until is not None:
        set_bank_enabled(
            session, name=bank.name, enabled=False, actor=caller.actor, until=body.disabled_until
        )
    elif new_ratio is not None:
        set_bank_ratio(session, name=bank.name, ratio=new_ratio, actor=caller.actor)
    info = bank_info(session, name=bank.name)
    session.commit()
    _changed(state)
    rec = bank_record(info)
    if body.enabled is not None and body.enabled_ratio is None:
        rec["matching_enabled_ratio"] = int(rec["matching_enabled_ratio"])  # HMA sends 1 or 0 here
    return rec


@router.delete(
    "/bank/{bank_name}",
    summary="Delete a bank (its entries stop matching; rows are kept)",
    response_model=Done,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def bank_delete(bank_name: str, caller: BankManager, session: SessionDep, state: StateDep) -> dict[str, str]:
    try:
        bank = bank_for(session, caller, bank_name)
    except TakebackError as exc:
        if exc.code == "unknown_bank":
            return {"message": "Done"}  # HMA: deleting what is not there succeeds
        raise
    delete_bank(session, name=bank.name, actor=caller.actor)
    session.commit()
    _changed(state)
    return {"message": "Done"}


# --- content --------------------------------------------------------------------------------------


def _add(
    state: ServiceState, caller: Principal, bank_name: str, entry: NewContent
) -> tuple[int, dict[str, str]]:
    """Add one entry in its own transaction: (content id, signals as HMA names them). Content the
    bank holds already is added again under a new id, as HMA does (the CLI skips duplicates)."""
    with state.db.sessionmaker() as session:
        bank = scoped_bank(session, caller, bank_name)
        (outcome,) = add_contents(
            session, bank_name=bank.name, entries=[entry], actor=caller.actor, dedup=False
        )
        session.commit()
    _changed(state)
    signals = {hma_name(s.signal_type): s.value.hex() for s in entry.signals}
    content_id = outcome.content_id
    assert content_id is not None
    return content_id, signals


def _added_response(content_id: int, signals: dict[str, str]) -> JSONResponse:
    return JSONResponse({"id": content_id, "signals": signals})


@router.post(
    "/bank/{bank_name}/content",
    summary="Add content to a bank: ?url= or a multipart file (photo/video); fingerprints only are kept",
    openapi_extra=MULTIPART_OPENAPI,
    response_model=Added,
    response_model_exclude_unset=True,
    responses=hma_errors(404, 415, body=True),
)
async def bank_add_content(
    bank_name: str,
    request: Request,
    caller: Submitter,
    state: StateDep,
    url: str | None = Query(None, description="fetch and hash this URL instead of an upload"),
    content_type: str | None = Query(None, description="with url: photo or video"),
    types: str | None = Query(None, description="comma-separated signal types to store"),
) -> JSONResponse:
    # Check the bank (and scope) before reading or fetching anything.
    def check() -> None:
        with state.db.sessionmaker() as s:
            scoped_bank(s, caller, bank_name)

    await anyio.to_thread.run_sync(check)
    ctype = request.headers.get("content-type", "").lower()
    body: Any = {}
    upload = None
    if ctype.startswith("application/json"):
        body = await request.body()
        try:
            body = loads_bounded(body.decode("utf-8")) if body else {}
        except (JsonBodyError, UnicodeDecodeError):
            raise fail(BAD_JSON) from None
        body = body if isinstance(body, dict) else {}
        meta_raw, note_raw = body.get("metadata"), body.get("note")
    elif ctype.startswith("multipart/form-data"):
        upload = await read_upload(request, hma=True, need_file=False)
        meta_raw = metadata_form_field(upload.fields.get("metadata"))
        note_raw = upload.fields.get("note")
    else:
        meta_raw, note_raw = None, None
    meta, note_text = check_metadata(meta_raw), check_note(note_raw)
    if url:
        fp = await fingerprint_url(state, url, content_type=content_type, for_bank=True, hma=True)
        kind = content_type or ("video" if (fp.media_type or "").startswith("video") else "photo")
        source = f"url:{url}"
    elif upload is not None and upload.data is not None:
        fp = await fingerprint_upload(state, upload, for_bank=True, hma=True)
        kind, source = upload.content_type, "upload"
    else:
        raise fail("Neither `url` nor multipart file upload was received")
    entry = entry_from_fingerprint(
        fp,
        note=note_text,
        metadata=meta,
        source=source,
        types=[t for t, v in hma_signals_of(fp, kind, types).items() if v],
    )
    if not entry.signals:
        raise fail("No signals given")
    return _added_response(*await anyio.to_thread.run_sync(_add, state, caller, bank_name, entry))


@router.post(
    "/bank/{bank_name}/signal",
    summary="Add an entry from hashes: {pdq: hex, video_md5: hex}",
    response_model=Added,
    response_model_exclude_unset=True,
    responses=hma_errors(404, 415),
)
async def bank_add_signals(
    bank_name: str, request: Request, caller: Submitter, state: StateDep
) -> JSONResponse:
    def check() -> None:
        with state.db.sessionmaker() as s:
            scoped_bank(s, caller, bank_name)

    await anyio.to_thread.run_sync(check)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise fail("Request input was not a dict")
    note = check_note(body.pop("note", None))
    if not body:
        raise fail("No signals given")
    values = []
    for name, value in body.items():
        stype = takeback_name(name)
        if stype not in REGISTRY:
            raise fail(f"No such signal type {name}")
        if not isinstance(value, str):
            raise fail(
                f"Invalid {name} signal: expected string or bytes-like object, got '{type(value).__name__}'"
            )
        try:
            raw = REGISTRY[stype].validate(value, field=name)
        except SignalError as exc:
            raise fail(f"Invalid {name} signal: {exc.message}") from None
        values.append(SignalValue(stype, raw))
    entry = NewContent(signals=tuple(values), note=note, metadata={}, source="api:signal")
    return _added_response(*await anyio.to_thread.run_sync(_add, state, caller, bank_name, entry))


def _content(session: Session, bank: Bank, content_id: int) -> ContentView:
    try:
        return get_content(session, bank_name=bank.name, content_id=content_id)
    except TakebackError as exc:
        if exc.code == "unknown_content":
            raise fail(f"content '{content_id}' not found", 404) from None
        raise


@router.get(
    "/bank/{bank_name}/content/{content_id}",
    summary="Show one entry",
    response_model=ContentRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(404),
)
def bank_get_content(
    bank_name: str,
    content_id: int,
    caller: BankReader,
    session: SessionDep,
    include_signals: str | None = Query(None, description="true: include the entry's hashes"),
    include_metadata: str | None = Query(None, description="anything but true: leave metadata out"),
    details: bool = Query(False, description="takeback: add source, enabled, created_at, created_by"),
) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name)
    view = _content(session, bank, content_id)
    return content_record(
        view,
        bank_info(session, name=bank.name),
        include_signals=true_flag(include_signals),
        include_metadata=true_flag(include_metadata, default=True),
        details=details,
    )


def _parse_until(raw: Any) -> int:
    try:
        ts = int(raw)
    except (TypeError, ValueError):
        raise fail(f"Invalid int: {raw!r}") from None
    if ts < 0:
        raise fail("disable_until_ts must be a non-negative integer")
    if ts > time.time() + FIVE_YEARS.total_seconds():
        raise fail("disable_until_ts must be less than 5 years in the future")
    return ts


@router.put(
    "/bank/{bank_name}/content/{content_id}",
    summary="Enable/disable one entry, or set its note",
    response_model=StoredContent,
    response_model_exclude_unset=True,
    responses=hma_errors(404, 415),
)
async def bank_update_content(
    bank_name: str, content_id: int, request: Request, caller: BankManager, state: StateDep
) -> dict[str, Any]:
    def check() -> None:
        with state.db.sessionmaker() as s:
            _content(s, scoped_bank(s, caller, bank_name), content_id)  # 404s before the body

    await anyio.to_thread.run_sync(check)
    body = await json_body(request)
    body = body if isinstance(body, dict) else {}
    until = _parse_until(body["disable_until_ts"]) if "disable_until_ts" in body else None
    note = check_note(body["note"]) if "note" in body else None

    def write() -> dict[str, Any]:
        with state.db.sessionmaker() as session:
            bank = scoped_bank(session, caller, bank_name)
            if until is not None:
                _set_until(session, bank, content_id, until, caller.actor)
            if "note" in body:
                set_content_note(
                    session, bank_name=bank.name, content_id=content_id, note=note, actor=caller.actor
                )
            session.commit()
            return stored_record(_content(session, bank, content_id), bank_info(session, name=bank.name))

    rec = await anyio.to_thread.run_sync(write)
    _changed(state)
    return rec


def _set_until(session: Session, bank: Bank, content_id: int, ts: int, actor: str) -> None:
    if ts == 0:
        enabled, until = False, None
    elif ts == 1 or ts <= math.floor(time.time()):
        enabled, until = True, None
    else:
        enabled, until = False, datetime.fromtimestamp(ts, UTC)
    set_contents_enabled(
        session, bank_name=bank.name, content_ids=[content_id], enabled=enabled, actor=actor, until=until
    )


@router.delete(
    "/bank/{bank_name}/content/{content_id}",
    summary="Remove one entry",
    response_model=Deleted,
    response_model_exclude_unset=True,
    responses=hma_errors(404),
)
def bank_delete_content(
    bank_name: str, content_id: int, caller: BankManager, session: SessionDep, state: StateDep
) -> dict[str, int]:
    bank = scoped_bank(session, caller, bank_name)
    try:
        n = remove_contents(session, bank_name=bank.name, content_ids=[content_id], actor=caller.actor)
    except TakebackError as exc:
        if exc.code == "unknown_content":
            return {"deleted": 0}  # HMA: nothing to delete is not an error
        raise
    session.commit()
    _changed(state)
    return {"deleted": n}
