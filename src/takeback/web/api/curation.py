"""HMA's curation routes under ``/c``: banks and their content, thin over ``takeback.banks.service``.

Bodies and responses are HMA's shapes with takeback's fields added (per-bank PDQ threshold,
allow-list, description, note, provenance). Writes commit before the response is sent, so a 2xx
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
from pydantic import BaseModel, ConfigDict, Field, ValidationError
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
    set_contents_enabled,
    update_bank,
)
from takeback.signals import SignalValue
from takeback.web.api.matching import parse_signal
from takeback.web.deps import BankManager, BankReader, ServiceState, SessionDep, StateDep, Submitter
from takeback.web.errors import ApiError
from takeback.web.jsonbody import GuardedRoute
from takeback.web.security import Principal, bank_for
from takeback.web.uploads import MULTIPART_OPENAPI, fingerprint_upload, json_field, parse_types, read_upload
from takeback.web.urls import fingerprint_url

router = APIRouter(prefix="/c", tags=["Banks"], route_class=GuardedRoute)

FIVE_YEARS = timedelta(days=5 * 365)


def invalid(message: str, field: str) -> ApiError:
    return ApiError(message, code="invalid_request", status=422, field=field)


# --- shapes ---------------------------------------------------------------------------------------


def bank_record(info: BankInfo) -> dict[str, Any]:
    """HMA's ``{name, matching_enabled_ratio}`` plus takeback's bank fields."""
    return {"name": info.name, "matching_enabled_ratio": 1.0 if info.active else 0.0, **info.to_record()}


def disable_until_ts(view: ContentView, now: datetime) -> int:
    """HMA's encoding: 1 enabled, 0 disabled for good, else the Unix time it is disabled until."""
    if view.active(now):
        return 1
    return 0 if view.disabled_until is None else int(view.disabled_until.timestamp())


def content_record(view: ContentView, bank: BankInfo, *, include_signals: bool) -> dict[str, Any]:
    now = datetime.now(UTC)
    rec: dict[str, Any] = {
        "id": view.id,
        "disable_until_ts": disable_until_ts(view, now),
        "collab_metadata": {},
        "original_media_uri": view.metadata.get("content_uri"),
        "bank": {"name": bank.name, "matching_enabled_ratio": 1.0 if bank.active else 0.0},
    }
    if include_signals:
        rec["signals"] = {k: v[0].hex() for k, v in view.signals.items()}
    rec.update(
        note=view.note,
        metadata=view.metadata,
        source=view.source,
        enabled=view.active(now),
        disabled_until=view.disabled_until.isoformat() if view.disabled_until else None,
        created_at=view.created_at.isoformat(),
        created_by=view.created_by,
    )
    return rec


class BankCreate(BaseModel):
    name: str = Field(..., description="letters, digits, '.', '_' or '-' (case-insensitive, unique)")
    enabled_ratio: float | None = Field(None, description="HMA: 1.0 on, 0.0 off (nothing in between)")
    enabled: bool | None = None
    pdq_threshold: int | None = Field(None, description="PDQ distance this bank matches at (default 31)")
    allow_list: bool = Field(False, description="known-benign content: its matches suppress other banks'")
    description: str | None = None


class BankUpdate(BaseModel):
    name: str | None = Field(None, description="rename")
    enabled_ratio: float | None = None
    enabled: bool | None = None
    disabled_until: datetime | None = Field(None, description="with enabled=false: re-enable at this time")
    pdq_threshold: int | None = None
    allow_list: bool | None = None
    description: str | None = None


class HmaMetadata(BaseModel):
    """HMA's content metadata: exactly these optional keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    content_id: str | None = None
    content_uri: str | None = None
    json_data: dict[str, Any] | None = Field(None, alias="json")


def _enabled_from(ratio: float | None, enabled: bool | None) -> bool | None:
    if ratio is not None:
        if ratio not in (0.0, 1.0):
            raise invalid(
                "enabled_ratio: takeback banks are on (1.0) or off (0.0); matching a random fraction is "
                "not supported.",
                "enabled_ratio",
            )
        return ratio == 1.0
    return enabled


# --- scope ----------------------------------------------------------------------------------------


def scoped_bank(session: Session, principal: Principal, name: str) -> Bank:
    """The bank called ``name`` if this key may use it; else 404, as for a bank that does not exist
    (the error names only banks the key may see: ``security.bank_for``)."""
    return bank_for(session, principal, name)


def _require_unscoped(principal: Principal, what: str) -> None:
    if principal.bank_ids is not None:
        raise AuthError(f"Keys limited to some banks may not {what}.", code="forbidden")


def _changed(state: ServiceState) -> None:
    """Let this worker's next lookup see the write at once."""
    if state.matcher.ready:
        state.matcher.get().mark_stale()


# --- banks ----------------------------------------------------------------------------------------


@router.get("/banks", summary="List banks")
def banks_index(caller: BankReader, session: SessionDep) -> list[dict[str, Any]]:
    return [bank_record(b) for b in list_banks(session) if caller.may_use_bank(b.id)]


@router.post("/banks", status_code=201, summary="Create a bank")
def bank_create(body: BankCreate, caller: BankManager, session: SessionDep, state: StateDep) -> JSONResponse:
    _require_unscoped(caller, "create banks")
    enabled = _enabled_from(body.enabled_ratio, body.enabled)
    bank = create_bank(
        session,
        name=body.name,
        actor=caller.actor,
        allow_list=body.allow_list,
        description=body.description,
        **({"pdq_threshold": body.pdq_threshold} if body.pdq_threshold is not None else {}),
    )
    if enabled is False:
        set_bank_enabled(session, name=bank.name, enabled=False, actor=caller.actor)
    info = bank_info(session, name=bank.name)
    session.commit()
    _changed(state)
    return JSONResponse(bank_record(info), status_code=201)


@router.get("/bank/{bank_name}", summary="Show a bank")
def bank_show(bank_name: str, caller: BankReader, session: SessionDep) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name)
    return bank_record(bank_info(session, name=bank.name))


@router.put("/bank/{bank_name}", summary="Update a bank: rename, enable/disable, threshold, allow-list")
def bank_update(
    bank_name: str, body: BankUpdate, caller: BankManager, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name)
    enabled = _enabled_from(body.enabled_ratio, body.enabled)
    if body.disabled_until is not None and enabled is not False:
        raise invalid("disabled_until: applies only with enabled=false.", "disabled_until")
    bank = update_bank(
        session,
        name=bank.name,
        actor=caller.actor,
        new_name=body.name,
        pdq_threshold=body.pdq_threshold,
        allow_list=body.allow_list,
        description=body.description,
    )
    if enabled is not None:
        set_bank_enabled(
            session, name=bank.name, enabled=enabled, actor=caller.actor, until=body.disabled_until
        )
    info = bank_info(session, name=bank.name)
    session.commit()
    _changed(state)
    return bank_record(info)


@router.delete("/bank/{bank_name}", summary="Delete a bank (its entries stop matching; rows are kept)")
def bank_delete(bank_name: str, caller: BankManager, session: SessionDep, state: StateDep) -> dict[str, str]:
    bank = scoped_bank(session, caller, bank_name)
    delete_bank(session, name=bank.name, actor=caller.actor)
    session.commit()
    _changed(state)
    return {"message": "Done"}


# --- content --------------------------------------------------------------------------------------


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("metadata: must be a JSON object.", "metadata")
    try:
        return HmaMetadata.model_validate(raw).model_dump(by_alias=True, exclude_none=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "metadata"
        raise invalid(
            f"metadata.{where}: {first.get('msg')} (allowed keys: content_id, content_uri, json).",
            f"metadata.{where}",
        ) from None


def _add(
    state: ServiceState, caller: Principal, bank_name: str, entry: NewContent
) -> tuple[int, bool, dict[str, str]]:
    """Add one entry in its own transaction: (content id, created?, signals as hex)."""
    with state.db.sessionmaker() as session:
        bank = scoped_bank(session, caller, bank_name)
        (outcome,) = add_contents(session, bank_name=bank.name, entries=[entry], actor=caller.actor)
        session.commit()
    _changed(state)
    signals = {s.signal_type: s.value.hex() for s in entry.signals}
    if outcome.content_id is not None:
        return outcome.content_id, True, signals
    assert outcome.duplicate_of is not None
    return outcome.duplicate_of, False, signals


def _added_response(content_id: int, created: bool, signals: dict[str, str]) -> JSONResponse:
    body: dict[str, Any] = {"id": content_id, "signals": signals}
    if not created:
        body["duplicate_of"] = content_id
    return JSONResponse(body, status_code=201 if created else 200)


@router.post(
    "/bank/{bank_name}/content",
    summary="Add content to a bank: ?url= or a multipart file (photo/video); fingerprints only are kept "
    "(a video's vPDQ holds every distinct frame, as takeback bank add stores it)",
    openapi_extra=MULTIPART_OPENAPI,
    responses={201: {"description": "added"}, 200: {"description": "already in the bank: its id"}},
)
async def bank_add_content(
    bank_name: str,
    request: Request,
    caller: Submitter,
    state: StateDep,
    url: str | None = Query(None, description="fetch and hash this URL instead of an upload"),
    content_type: str | None = Query(None, description="with url: photo or video"),
    types: str | None = Query(None, description="comma-separated signal types to store"),
    note: str | None = Query(None, description="a note kept with the entry (takeback)"),
) -> JSONResponse:
    wanted = parse_types(types)

    # Check the bank (and scope) before reading or fetching anything.
    def check() -> None:
        with state.db.sessionmaker() as s:
            scoped_bank(s, caller, bank_name)

    await anyio.to_thread.run_sync(check)
    ctype = request.headers.get("content-type", "").lower()
    if url:
        body: Any = {}
        if ctype.startswith("application/json"):
            body = await request.json()
            if not isinstance(body, dict):
                raise invalid("The JSON body must be an object.", "body")
        fp = await fingerprint_url(state, url, content_type=content_type, for_bank=True)
        meta, note_text, source = _metadata(body.get("metadata")), body.get("note", note), f"url:{url}"
    elif ctype.startswith("multipart/form-data"):
        upload = await read_upload(request)
        fp = await fingerprint_upload(state, upload, for_bank=True)
        meta = _metadata(json_field(upload.fields, "metadata"))
        note_text, source = upload.fields.get("note", note), "upload"
    else:
        raise invalid("Neither `url` nor a multipart file upload was received.", "url")
    if note_text is not None and not isinstance(note_text, str):
        raise invalid("note: must be text.", "note")
    entry = entry_from_fingerprint(fp, note=note_text, metadata=meta, source=source, types=wanted)
    return _added_response(*await anyio.to_thread.run_sync(_add, state, caller, bank_name, entry))


@router.post(
    "/bank/{bank_name}/signal",
    summary="Add an entry from hashes: {pdq: hex, md5: hex, sha256: hex}",
    responses={201: {"description": "added"}, 200: {"description": "already in the bank: its id"}},
)
def bank_add_signals(
    bank_name: str, body: dict[str, Any], caller: Submitter, state: StateDep
) -> JSONResponse:
    note = body.pop("note", None)
    meta = _metadata(body.pop("metadata", None))
    if note is not None and not isinstance(note, str):
        raise invalid("note: must be text.", "note")
    if not body:
        raise invalid('No signals given: send e.g. {"pdq": "<64 hex>"}.', "body")
    values = []
    for name, value in body.items():
        if not isinstance(value, str):
            raise invalid(f"{name}: must be a hex string.", name)
        stype, raw = parse_signal(name, value, field=name, type_field=name)
        values.append(SignalValue(stype, raw))
    entry = NewContent(signals=tuple(values), note=note, metadata=meta, source="api:signal")
    return _added_response(*_add(state, caller, bank_name, entry))


@router.get("/bank/{bank_name}/content/{content_id}", summary="Show one entry")
def bank_get_content(
    bank_name: str,
    content_id: int,
    caller: BankReader,
    session: SessionDep,
    include_signals: bool = Query(False, description="include the entry's hashes"),
) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name)
    view = get_content(session, bank_name=bank.name, content_id=content_id)
    return content_record(view, bank_info(session, name=bank.name), include_signals=include_signals)


class ContentUpdate(BaseModel):
    disable_until_ts: int | str | None = Field(
        None, description="HMA: 1 enable, 0 disable, or a Unix time (< 5 years ahead) to disable until"
    )


@router.put("/bank/{bank_name}/content/{content_id}", summary="Enable or disable one entry")
def bank_update_content(
    bank_name: str,
    content_id: int,
    body: ContentUpdate,
    caller: BankManager,
    session: SessionDep,
    state: StateDep,
) -> dict[str, Any]:
    bank = scoped_bank(session, caller, bank_name)
    get_content(session, bank_name=bank.name, content_id=content_id)  # 404 before anything else
    if body.disable_until_ts is not None:
        try:
            ts = int(body.disable_until_ts)
        except ValueError:
            raise invalid("disable_until_ts: must be an integer.", "disable_until_ts") from None
        if ts < 0:
            raise invalid("disable_until_ts: must be a non-negative integer.", "disable_until_ts")
        if ts > time.time() + FIVE_YEARS.total_seconds():
            raise invalid("disable_until_ts: must be less than 5 years in the future.", "disable_until_ts")
        if ts == 0:
            enabled, until = False, None
        elif ts == 1 or ts <= math.floor(time.time()):
            enabled, until = True, None
        else:
            enabled, until = False, datetime.fromtimestamp(ts, UTC)
        set_contents_enabled(
            session,
            bank_name=bank.name,
            content_ids=[content_id],
            enabled=enabled,
            actor=caller.actor,
            until=until,
        )
    view = get_content(session, bank_name=bank.name, content_id=content_id)
    info = bank_info(session, name=bank.name)
    session.commit()
    _changed(state)
    return content_record(view, info, include_signals=False)


@router.delete("/bank/{bank_name}/content/{content_id}", summary="Remove one entry")
def bank_delete_content(
    bank_name: str, content_id: int, caller: BankManager, session: SessionDep, state: StateDep
) -> dict[str, int]:
    bank = scoped_bank(session, caller, bank_name)
    n = remove_contents(session, bank_name=bank.name, content_ids=[content_id], actor=caller.actor)
    session.commit()
    _changed(state)
    return {"deleted": n}
