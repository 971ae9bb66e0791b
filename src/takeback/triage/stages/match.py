"""Match: each batch of results is looked up in the installation's banks before it is committed, so
an item's bank matches are stored in the transaction that makes it final."""

from __future__ import annotations

from typing import Any

from takeback.triage.models import KNOWN, ItemResult
from takeback.triage.stages.context import ScanContext


def match(ctx: ScanContext, results: list[ItemResult]) -> list[dict[str, Any]]:
    """The bank matches of a batch of results (rows for ``bank_match``), with their explanations."""
    matcher = ctx.run_opts.matcher
    if matcher is None or not ctx.settings.match_banks:
        return []
    from takeback.matching import MatchQuery

    queries, owners = [], []
    for r in results:
        if r.state == KNOWN or not (r.sha256 or r.pdq):
            continue
        dihedral = r.pdq_dihedral
        queries.append(
            MatchQuery(
                label=str(r.id),
                pdq=bytes.fromhex(r.pdq) if r.pdq else None,
                pdq_quality=r.pdq_quality,
                pdq_dihedral=tuple(bytes.fromhex(h) for h in dihedral.split()) if dihedral else None,
                md5=bytes.fromhex(r.md5) if r.md5 else None,
                sha256=bytes.fromhex(r.sha256) if r.sha256 else None,
            )
        )
        owners.append(r.id)
    if not queries:
        return []
    out = []
    for item_id, res in zip(owners, matcher.match(queries), strict=True):
        for m in res.matches:
            out.append(
                {
                    "item_id": item_id,
                    "bank": m.bank,
                    "content_id": m.content_id,
                    "signal_type": m.signal_type,
                    "distance": m.distance,
                    "threshold": m.threshold,
                    "orientation": m.orientation,
                    "allow_list": m.allow_list,
                    "suppressed": m.suppressed,
                    "explanation": m.explain(),
                }
            )
    return out
