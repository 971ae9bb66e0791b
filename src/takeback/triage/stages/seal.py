"""Sealing: each final item's record (every result column, canonical JSON) is hashed into
``record_sha256`` and each batch of them sealed by one signed ``items.sealed`` custody entry (a
digest over id:hash), in the transaction that wrote them; ``case verify`` recomputes it all."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from takeback.evidence.custody import canonical_json
from takeback.triage.models import UNSEALED, item, record_of
from takeback.triage.stages.context import ScanContext

SEAL_BATCH = 2000


def seal(ctx: ScanContext, s: Session) -> int:
    """Hash every final, unsealed item record and seal the batch with one custody entry."""
    sealed = 0
    while True:
        rows = s.execute(select(item).where(UNSEALED).order_by(item.c.id).limit(SEAL_BATCH)).all()
        if not rows:
            return sealed
        hashes = [(r.id, record_hash(r)) for r in rows]
        digest = batch_digest(hashes)
        entry = ctx.case.custody(s, ctx.run_opts.signer).append(
            actor=ctx.actor,
            action="items.sealed",
            details={
                "first": hashes[0][0],
                "last": hashes[-1][0],
                "count": len(hashes),
                "digest": digest,
            },
        )
        s.execute(
            update(item)
            .where(item.c.id == bindparam("b_id"))
            .values(record_sha256=bindparam("b_h"), sealed_seq=entry.seq),
            [{"b_id": i, "b_h": h} for i, h in hashes],
        )
        sealed += len(hashes)


def seal_all(ctx: ScanContext) -> None:
    with ctx.case.session() as s:
        seal(ctx, s)


def record_hash(row: Any) -> str:
    return hashlib.sha256(canonical_json(record_of(row))).hexdigest()


def batch_digest(hashes: list[tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for i, rh in hashes:
        h.update(f"{i}:{rh}\n".encode())
    return h.hexdigest()


def items_digest(s: Session) -> str:
    """One hash over every item's record hash, in id order (the whole case's item table)."""
    h = hashlib.sha256()
    for i, rh in s.execute(select(item.c.id, item.c.record_sha256).order_by(item.c.id)):
        h.update(f"{i}:{rh}\n".encode())
    return h.hexdigest()
