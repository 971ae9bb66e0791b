"""``/v1/feed``: a bank's signed change feed, for another instance to mirror (role ``exchange``).

``GET /v1/feed/key`` gives the publisher's public key, which a mirror's administrator pins (compare
its fingerprint out of band); ``GET /v1/feed/{bank}?after=N&limit=M`` gives the signed page after
checkpoint ``N`` (:mod:`takeback.exchanges.feed`); ``POST /v1/feed/{bank}/feedback`` takes the
opinions a mirror's platforms gave on the bank's entries, each named by the fingerprint key the
feed uses (:func:`takeback.exchanges.feedback.receive`). A key sees only the banks it is scoped to;
any other bank reads as one that does not exist.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from takeback.evidence.signing import Signer
from takeback.exchanges.feed import DEFAULT_PAGE, MAX_PAGE, build_page
from takeback.exchanges.feedback import MAX_RELAY_ITEMS, receive
from takeback.web.deps import FeedbackRelay, FeedReader, StateDep
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import JSON, Shape, v1_errors
from takeback.web.security import bank_for

router = APIRouter(
    prefix="/v1/feed", tags=["takeback v1"], route_class=GuardedRoute, default_response_class=JSON
)


class FeedKey(BaseModel):
    key_id: str = Field(description="The first 16 hex digits of the key's SHA-256.")
    public_key: str = Field(description="Base64 of the 32-byte Ed25519 public key: what a mirror pins.")
    fingerprint: str = Field(description="The key's SHA-256 in groups of four, to compare out of band.")
    algorithm: str = "Ed25519"


class FeedPage(BaseModel):
    payload: str = Field(description="The page as JSON text: exactly the bytes (UTF-8) that were signed.")
    key_id: str = Field(description="The signing key's id.")
    signature: str = Field(description="Base64 Ed25519 signature over the payload.")


@functools.cache
def _signer(data_dir: Path) -> Signer:
    return Signer.load_or_create(data_dir)


@router.get(
    "/key", summary="The publisher's feed-signing public key", response_model=FeedKey, responses=v1_errors()
)
def feed_key(caller: FeedReader, state: StateDep) -> dict[str, Any]:
    signer = _signer(state.settings.ensure_data_dir())
    return {
        "key_id": signer.key_id,
        "public_key": signer.public.to_b64(),
        "fingerprint": signer.public.fingerprint,
        "algorithm": "Ed25519",
    }


@router.get(
    "/{bank_name}",
    summary="One signed page of a bank's change feed",
    response_model=FeedPage,
    responses=v1_errors(404),
)
async def feed_page(
    bank_name: str,
    caller: FeedReader,
    state: StateDep,
    after: int = Query(0, ge=0, description="The checkpoint the page continues from (0: the start)."),
    limit: int = Query(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Changes at most."),
) -> Response:
    signer = _signer(state.settings.ensure_data_dir())

    def build() -> bytes:
        with state.db.session() as s:
            bank = bank_for(s, caller, bank_name)
            return build_page(s, bank=bank, signer=signer, after=after, limit=limit)

    body = await anyio.to_thread.run_sync(build)
    return Response(body, media_type="application/json")


class RelayedOpinion(BaseModel):
    key: str = Field(description="The entry's fingerprint key, as this feed's pages name it.")
    giver: str = Field(description="Who gave the opinion on the mirror (its API key id, say).")
    opinion: str = Field(description="positive, negative or investigation_seed")
    note: str | None = None


class RelayRequest(BaseModel):
    items: list[RelayedOpinion] = Field(max_length=MAX_RELAY_ITEMS, description="Opinions, in order.")


class RelayCounts(Shape):
    positive: int
    negative: int
    investigation_seed: int
    opinion: str | None


class RelayResult(Shape):
    key: str | None
    status: str = Field(description="recorded, unchanged (a resend), or refused (with code and message)")
    counts: RelayCounts | None = None
    quarantined: bool | None = None
    code: str | None = None
    message: str | None = None


class RelayAnswer(Shape):
    results: list[RelayResult]


@router.post(
    "/{bank_name}/feedback",
    summary="Opinions a mirror's platforms gave on this bank's entries (an exchange key scoped to it)",
    response_model=RelayAnswer,
    response_model_exclude_unset=True,
    responses=v1_errors(404),
)
async def feed_feedback(
    bank_name: str, body: RelayRequest, caller: FeedbackRelay, state: StateDep
) -> dict[str, Any]:
    def work(s: Session) -> list[dict[str, Any]]:
        bank = bank_for(s, caller, bank_name)
        return receive(s, bank=bank, sender=caller.actor, items=[i.model_dump() for i in body.items])

    results = await anyio.to_thread.run_sync(state.db.run, work)
    if state.matcher.ready and any(r.get("quarantined") for r in results):
        state.matcher.get().mark_stale()
    return {"results": results}
