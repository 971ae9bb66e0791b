"""``POST /v1/feedback``: a platform says whether a match was right (``positive``), wrong
(``negative``) or a lead to check (``investigation_seed``).

A key may give feedback on the entries of the banks it may match against (roles ``matcher``,
``curator``, ``admin``; a scoped key only its banks, any other bank reading as unknown). The entry
is named by bank and id (as a match names it) or by a hash (every entry holding it, in the banks
the key may use). One opinion per key and entry: giving another replaces it, the same again
changes nothing. An entry a mirror brought in has the opinion queued for its source
(:mod:`takeback.exchanges.feedback`).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from takeback.banks.service import BankError
from takeback.exchanges.feedback import entries_with_hash, give_feedback
from takeback.web.api.matching import parse_signal
from takeback.web.deps import FeedbackGiver, StateDep
from takeback.web.errors import ApiError
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import JSON, Shape, v1_errors
from takeback.web.security import bank_for

router = APIRouter(prefix="/v1", tags=["takeback v1"], route_class=GuardedRoute, default_response_class=JSON)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opinion: str = Field(description="positive, negative or investigation_seed")
    bank: str | None = Field(None, description="the entry's bank (with content_id), as a match names it")
    content_id: int | None = Field(None, description="the entry's id in that bank")
    signal_type: str | None = Field(None, description="or: a hash's type (with hash): every entry holding it")
    hash: str | None = Field(None, description="the hash, hex")
    note: str | None = Field(
        None, description="why (at most 2,000 characters); sent on to a mirrored entry's source"
    )


class Counts(Shape):
    positive: int
    negative: int
    investigation_seed: int
    opinion: str | None = Field(
        description="positive, negative, investigation_seed, disputed (mixed) or none"
    )


class FeedbackItem(Shape):
    bank: str
    content_id: int
    opinion: str
    changed: bool = Field(description="false when this key had given the same opinion and note already")
    counts: Counts
    quarantined: bool = Field(description="held for a curator's review as disputed: it does not match")
    queued: bool = Field(description="the entry came from a mirror: the opinion is queued for its source")


class FeedbackAnswer(Shape):
    results: list[FeedbackItem]


@router.post(
    "/feedback",
    summary="Give an opinion of a bank entry: a true positive, a false positive, or a lead",
    response_model=FeedbackAnswer,
    responses=v1_errors(404),
)
async def feedback(body: FeedbackRequest, caller: FeedbackGiver, state: StateDep) -> dict[str, Any]:
    by_entry = body.bank is not None or body.content_id is not None
    by_hash = body.signal_type is not None or body.hash is not None
    if by_entry == by_hash:
        raise ApiError(
            "Name the entry either by bank and content_id (as a match names it) or by signal_type and hash.",
            code="invalid_request",
            status=422,
            field="bank" if by_hash else "content_id",
        )
    if by_entry and (body.bank is None or body.content_id is None):
        field = "bank" if body.bank is None else "content_id"
        raise ApiError(
            f"Give both bank and content_id ({field} is missing).",
            code="invalid_request",
            status=422,
            field=field,
        )
    value: bytes | None = None
    if by_hash:
        if body.signal_type is None or body.hash is None:
            field = "signal_type" if body.signal_type is None else "hash"
            raise ApiError(
                f"Give both signal_type and hash ({field} is missing).",
                code="invalid_request",
                status=422,
                field=field,
            )
        value = parse_signal(body.signal_type, body.hash, field="hash")[1]

    def work(s: Session) -> list[dict[str, Any]]:
        if body.bank is not None and body.content_id is not None:
            targets = [(bank_for(s, caller, body.bank), body.content_id)]
        else:
            assert body.signal_type is not None and value is not None
            targets = entries_with_hash(
                s, signal_type=body.signal_type, value=value, bank_ids=caller.bank_ids
            )
            if not targets:
                raise BankError(
                    "No entry holds this hash in the banks this key can match against.",
                    code="unknown_content",
                )
        return [
            give_feedback(
                s,
                bank=bank,
                content_id=cid,
                giver=caller.actor,
                opinion=body.opinion,
                note=body.note,
                actor=caller.actor,
            ).to_record()
            for bank, cid in targets
        ]

    results = await anyio.to_thread.run_sync(state.db.run, work)
    if state.matcher.ready and any(r["quarantined"] for r in results):
        state.matcher.get().mark_stale()  # this worker's next lookup sees the hold at once
    return {"results": results}
