"""Grouping steps and the runner that stores and seals what they find (see :mod:`.base`)."""

from __future__ import annotations

import hashlib
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy import delete, insert, select

from takeback.evidence.custody import canonical_json
from takeback.evidence.signing import Signer
from takeback.triage.archives import ArchiveLimits
from takeback.triage.casedb import CaseDB
from takeback.triage.content import ContentAccess
from takeback.triage.grouping.base import (
    Group,
    GroupingContext,
    GroupingStep,
    Link,
    Member,
    StepResult,
)
from takeback.triage.grouping.steps import BUILTIN
from takeback.triage.models import ScanSettings, grp, grp_member, item, link

ENTRY_POINT_GROUP = "takeback.grouping"

__all__ = [
    "Group",
    "GroupingContext",
    "GroupingStep",
    "Link",
    "Member",
    "StepResult",
    "available_steps",
    "group_digest",
    "run_grouping",
]


def available_steps() -> dict[str, type[Any]]:
    """Built-in steps plus any installed under the ``takeback.grouping`` entry-point group."""
    steps: dict[str, type[Any]] = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in steps:
            steps[ep.name] = ep.load()
    return steps


def group_digest(s: Any, step: str) -> str:
    """A hash over everything one step stored (groups, members, links), in a stable order."""
    h = hashlib.sha256()
    groups = s.execute(select(grp).where(grp.c.step == step).order_by(grp.c.id)).all()
    # every member of the step in one ordered read (a query per group cost seconds at 20,000 items)
    members = iter(
        s.execute(
            select(grp_member)
            .join(grp, grp.c.id == grp_member.c.group_id)
            .where(grp.c.step == step)
            .order_by(grp_member.c.group_id, grp_member.c.item_id)
        )
    )
    m = next(members, None)
    for g in groups:
        h.update(canonical_json([g.id, g.kind, g.label, g.key, g.size, g.details]) + b"\n")
        while m is not None and m.group_id == g.id:
            h.update(canonical_json([m.item_id, m.role, m.details]) + b"\n")
            m = next(members, None)
    for lk in s.execute(select(link).where(link.c.step == step).order_by(link.c.id)):
        h.update(
            canonical_json(
                [lk.id, lk.source_item, lk.derived_item, lk.kind, lk.directed, lk.score, lk.details]
            )
            + b"\n"
        )
    return h.hexdigest()


def _items_state(s: Any) -> str:
    h = hashlib.sha256()
    for i, rh in s.execute(select(item.c.id, item.c.record_sha256).order_by(item.c.id)):
        h.update(f"{i}:{rh}\n".encode())
    return h.hexdigest()


def log_mismatches(case: CaseDB, session: Any, signer: Signer, actor: str, content: ContentAccess) -> None:
    """Content read again that no longer has its recorded SHA-256: a custody event, once per item."""
    for item_id, recorded, now in content.mismatches:
        case.custody(session, signer).append(
            actor=actor,
            action="item.hash_mismatch",
            subject=f"item:{item_id}",
            details={"recorded_sha256": recorded, "read_sha256": now},
        )
    content.mismatches.clear()


def run_grouping(case: CaseDB, *, settings: ScanSettings, signer: Signer, actor: str, jobs: int) -> int:
    """Run every configured step whose input changed since it last ran; returns the groups stored."""
    from takeback.triage.tasks import WorkerOptions, init_worker

    steps = available_steps()
    limits = ArchiveLimits(in_memory_bytes=settings.max_file_bytes)
    from takeback.media import Limits

    worker_opts = WorkerOptions(
        limits=Limits(max_pixels=settings.max_image_pixels, max_file_bytes=settings.max_file_bytes)
    )
    ctx = GroupingContext(
        case,
        settings=settings,
        content=ContentAccess(case, limits),
        jobs=jobs,
        worker_init=(init_worker, (worker_opts,)),
    )
    with case.session() as s:
        state = _items_state(s)
    total = 0
    for name in settings.grouping:
        cls = steps.get(name)
        if cls is None:
            with case.session() as s:
                case.custody(s, signer).append(
                    actor=actor, action="grouping.skipped", details={"step": name, "reason": "not installed"}
                )
            continue
        step = cls()
        with case.session() as s:
            done = case.get_meta(s, f"grouping:{name}")
        if done and done.get("items") == state and done.get("version") == step.version:
            with case.session() as s:
                total += len(s.execute(select(grp.c.id).where(grp.c.step == name)).all())
            continue
        result: StepResult = step.run(ctx)
        with case.session() as s:
            log_mismatches(case, s, signer, actor, ctx.content)
            old = [r[0] for r in s.execute(select(grp.c.id).where(grp.c.step == name))]
            for i in range(0, len(old), 500):
                s.execute(delete(grp_member).where(grp_member.c.group_id.in_(old[i : i + 500])))
            s.execute(delete(grp).where(grp.c.step == name))
            s.execute(delete(link).where(link.c.step == name))
            for g in result.groups:
                gid = s.execute(
                    insert(grp)
                    .values(
                        step=name,
                        kind=g.kind,
                        label=g.label,
                        key=g.key,
                        size=len(g.members),
                        details=g.details,
                    )
                    .returning(grp.c.id)
                ).scalar_one()
                rows = [
                    {"group_id": gid, "item_id": m.item_id, "role": m.role, "details": m.details}
                    for m in g.members
                ]
                for i in range(0, len(rows), 2000):
                    s.execute(insert(grp_member), rows[i : i + 2000])
            if result.links:
                s.execute(
                    insert(link),
                    [
                        {
                            "step": name,
                            "source_item": lk.source_item,
                            "derived_item": lk.derived_item,
                            "kind": lk.kind,
                            "directed": lk.directed,
                            "score": lk.score,
                            "details": lk.details,
                        }
                        for lk in result.links
                    ],
                )
            digest = group_digest(s, name)
            case.set_meta(
                s,
                f"grouping:{name}",
                {"items": state, "version": step.version, "notes": result.notes, "digest": digest},
            )
            case.custody(s, signer).append(
                actor=actor,
                action="grouping.completed",
                details={
                    "step": name,
                    "version": step.version,
                    "groups": len(result.groups),
                    "members": sum(len(g.members) for g in result.groups),
                    "links": len(result.links),
                    "digest": digest,
                },
            )
        total += len(result.groups)
    return total
