"""Group and complete: the grouping steps run over the sealed items, then the completion is logged
with a digest over every item record. A run that stops early (interrupted, disk full) says so in the
log, so the next run knows how the last one ended."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select

from takeback.triage.models import DONE, KNOWN, PENDING, bank_match, item, now_iso
from takeback.triage.stages.context import ScanContext
from takeback.triage.stages.seal import items_digest


@dataclass
class ScanSummary:
    case_id: str
    items: int
    done: int
    known: int
    errors: int
    matched: int
    groups: int
    resumed: bool
    repeated: int  # items processed again because a previous run died with them in flight


def group(ctx: ScanContext) -> int:
    """Run the grouping steps whose input changed; returns the groups stored."""
    from takeback.triage.grouping import run_grouping

    ctx.progress.phase = "grouping"
    ctx.notify(force=True)
    return run_grouping(
        ctx.case,
        settings=ctx.settings,
        signer=ctx.run_opts.signer,
        actor=ctx.actor,
        jobs=ctx.run_opts.jobs,
    )


def complete(ctx: ScanContext, resumed: bool, groups: int) -> ScanSummary:
    """The completion entry (counts and a digest over every item record) and the run's summary."""
    with ctx.case.session() as s:
        counts: dict[str, int] = dict(
            s.execute(select(item.c.state, func.count()).group_by(item.c.state)).all()
        )
        errors = int(s.scalar(select(func.count()).where(item.c.error_code.is_not(None))) or 0)
        matched = int(
            s.scalar(
                select(func.count(func.distinct(bank_match.c.item_id))).where(
                    and_(bank_match.c.allow_list.is_(False), bank_match.c.suppressed.is_(False))
                )
            )
            or 0
        )
        total = int(sum(counts.values()))
        ctx.log(
            s,
            "scan.completed",
            items=total,
            done=int(counts.get(DONE, 0)),
            known=int(counts.get(KNOWN, 0)),
            errors=errors,
            bank_matched_items=matched,
            groups=groups,
            items_digest=items_digest(s),
        )
        ctx.case.set_meta(s, "run_state", "completed")
        ctx.case.set_meta(s, "completed_at", now_iso())
    ctx.progress.phase = "done"
    ctx.refresh_totals()
    return ScanSummary(
        case_id=ctx.case.case_id,
        items=total,
        done=int(counts.get(DONE, 0)),
        known=int(counts.get(KNOWN, 0)),
        errors=errors,
        matched=matched,
        groups=groups,
        resumed=resumed,
        repeated=ctx.repeated,
    )


def stopped(ctx: ScanContext, reason: str) -> None:
    """Log that this run stops before completing (best effort: a full disk may refuse even this)."""
    try:
        with ctx.case.session() as s:
            pending = s.scalar(select(func.count()).select_from(item).where(item.c.state == PENDING)) or 0
            ctx.log(s, "scan.stopped", reason=reason, pending=int(pending))
            ctx.case.set_meta(s, "run_state", "stopped")
    except Exception:  # noqa: S110  (a full disk may refuse even this; the next run says so)
        pass
