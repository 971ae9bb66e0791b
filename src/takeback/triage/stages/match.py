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
    from takeback.signals.fingerprint import Fingerprint

    queries, owners = [], []
    for r in results:
        if r.state == KNOWN or not (r.sha256 or r.pdq):
            continue
        record = {
            "path": str(r.id),
            "sha256": r.sha256,
            "md5": r.md5,
            "pdq": r.pdq,
            "pdq_quality": r.pdq_quality,
            "pdq_dihedral": r.pdq_dihedral.split() if r.pdq_dihedral else None,
        }
        queries.append(MatchQuery.from_fingerprint(Fingerprint.from_record(record)))
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
