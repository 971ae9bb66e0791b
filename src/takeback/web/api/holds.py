"""``/v1/banks/{bank}/held``: a curator's review of held entries (pending review from an exchange
that reviews before matching, disputed by feedback), for keys that manage banks (curator, admin).

The same services back ``takeback bank held / accept / reject``; a key scoped to some banks sees only
those (any other reads as a bank that does not exist). Every change is audited by the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from takeback.banks import service as banks
from takeback.banks.models import HoldReason, iso
from takeback.web.deps import BankManager, SessionDep
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import JSON, HeldCount, HeldList, Released, v1_errors
from takeback.web.security import bank_for

router = APIRouter(
    prefix="/v1/banks", tags=["takeback v1"], route_class=GuardedRoute, default_response_class=JSON
)

#: entries named in one request at most (a whole bank goes by ``all``)
MAX_IDS = 10_000


class Release(BaseModel):
    content_ids: list[int] | None = Field(
        None, max_length=MAX_IDS, description="held entries of the bank (or give all=true)"
    )
    all: bool = Field(False, description="every held entry of the bank (of reason, if given)")
    reason: HoldReason | None = Field(None, description="only entries held for this reason")


class HoldBody(BaseModel):
    content_ids: list[int] = Field(..., min_length=1, max_length=MAX_IDS)
    reason: HoldReason
    until: datetime | None = Field(None, description="ISO 8601: the hold lapses by itself then")


def _held_record(v: banks.ContentView) -> dict[str, Any]:
    return {
        "content_id": v.id,
        "reason": v.hold_reason,
        "held_until": iso(v.held_until),
        "held_at": iso(v.held_at),
        "held_by": v.held_by,
        "source": v.source,
        "note": v.note,
        "signals": {t: val.hex() for t, (val, _) in v.signals.items() if t != "vpdq"},
    }


@router.get(
    "/{bank_name}/held",
    summary="A bank's held entries (pending review, disputed), oldest first",
    response_model=HeldList,
    responses=v1_errors(404),
)
def list_held(
    bank_name: str,
    caller: BankManager,
    session: SessionDep,
    reason: Annotated[HoldReason | None, Query(description="only entries held for this reason")] = None,
    lapsed: bool = Query(False, description="also entries whose hold's time ran out, still unreviewed"),
    limit: int = Query(1_000, ge=1, le=MAX_IDS),
) -> dict[str, Any]:
    bank = bank_for(session, caller, bank_name)
    views = banks.list_held(session, bank_name=bank.name, reason=reason, include_lapsed=lapsed, limit=limit)
    return {"bank": bank.name, "held": [_held_record(v) for v in views]}


def _release(
    bank_name: str, caller: Any, session: Any, body: Release, accept: Literal[True, False]
) -> dict[str, Any]:
    bank = bank_for(session, caller, bank_name)
    report = banks.release_entries(
        session,
        bank_name=bank.name,
        accept=accept,
        actor=caller.actor,
        content_ids=body.content_ids,
        all_held=body.all,
        reason=body.reason,
    )
    session.commit()
    return {"accepted": report.accepted, "rejected": report.rejected}


@router.post(
    "/{bank_name}/held/accept",
    summary="Accept held entries after review: they match from now on",
    response_model=Released,
    responses=v1_errors(404, 409),
)
def accept(bank_name: str, body: Release, caller: BankManager, session: SessionDep) -> dict[str, Any]:
    return _release(bank_name, caller, session, body, True)


@router.post(
    "/{bank_name}/held/reject",
    summary="Reject held entries after review: they are disabled for good",
    response_model=Released,
    responses=v1_errors(404, 409),
)
def reject(bank_name: str, body: Release, caller: BankManager, session: SessionDep) -> dict[str, Any]:
    return _release(bank_name, caller, session, body, False)


@router.post(
    "/{bank_name}/hold",
    summary="Hold entries out of matching (disputed, pending review) until reviewed or a time",
    response_model=HeldCount,
    responses=v1_errors(404),
)
def hold(bank_name: str, body: HoldBody, caller: BankManager, session: SessionDep) -> dict[str, Any]:
    bank = bank_for(session, caller, bank_name)
    n = banks.hold_entries(
        session,
        bank_name=bank.name,
        content_ids=body.content_ids,
        reason=body.reason,
        until=body.until,
        actor=caller.actor,
    )
    session.commit()
    return {"held": n}
