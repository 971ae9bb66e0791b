"""Start or resume: a new case records its settings, sources and known-file lists; a resumed one
must be the same scan (settings and sources, or none given) and says how the last run ended. Then
the sources are listed (stat only, idempotent: a listing cut short by a kill is completed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from takeback.triage import errors as codes
from takeback.triage import exclusion, sources
from takeback.triage.archives import detect
from takeback.triage.errors import TriageError
from takeback.triage.models import PENDING, ScanSettings, item, known_list, now_iso, source
from takeback.triage.stages.context import ScanContext
from takeback.triage.tasks.read import hash_file


def start(ctx: ScanContext, source_args: list[str] | None) -> bool:
    """Create the case or check it may be resumed; returns whether it was resumed."""
    with ctx.case.session() as s:
        stored = ctx.case.get_meta(s, "settings")
        if stored is None:
            _create(ctx, s, source_args)
            resumed = False
        else:
            resumed = True
            _check_resume(ctx, s, ScanSettings.from_json(stored), source_args)
        specs = {(x["path"], x["sha256"]): exclusion.ListSpec(**x) for x in ctx.settings.exclusion_lists}
        found = []
        for r in s.execute(select(known_list).order_by(known_list.c.id)):
            spec = specs.get((r.path, r.sha256))
            if spec is not None:
                found.append(exclusion.sources_for(r.id, spec, str(ctx.case.db_path)))
        ctx.known_sources = tuple(found)
    return resumed


def _create(ctx: ScanContext, s: Session, source_args: list[str] | None) -> None:
    if not source_args:
        raise TriageError("Give at least one folder, archive or file to scan.", code=codes.NO_SOURCES)
    specs = sources.describe_sources(source_args)
    settings_json = ctx.settings.to_json()
    ctx.case.set_meta(s, "settings", settings_json)
    ctx.case.set_meta(s, "created_at", now_iso())
    ctx.case.set_meta(s, "examiner", ctx.actor)
    ctx.case.set_meta(s, "runs", 1)
    ctx.case.set_meta(s, "run_state", "running")
    ctx.log(
        s,
        "case.created",
        subject=f"case:{ctx.case.case_id}",
        case_id=ctx.case.case_id,
        settings=settings_json,
        environment=ctx.environment(),
    )
    for n, spec in enumerate(specs, start=1):
        details: dict[str, Any] = {"source": n, "path": spec.arg, "kind": spec.kind}
        sha, size = None, None
        if spec.kind == "file":
            sha, size = hash_file(spec.raw)
            kind = "archive" if _is_archive(spec.raw) else "file"
            details.update(kind=kind, sha256=sha, size=size)
        else:
            kind = spec.kind
        s.execute(
            insert(source).values(
                id=n,
                arg=spec.arg,
                raw=spec.raw,
                kind=kind,
                size=size,
                sha256_before=sha,
                enumerated=False,
            )
        )
        ctx.log(s, "source.registered", subject=f"source:{n}", **details)
    for lst in ctx.settings.exclusion_lists:
        spec_l = exclusion.ListSpec(**lst)
        known = exclusion.load(s, spec_l, case_db_path=str(ctx.case.db_path))
        entries = s.scalar(select(known_list.c.entries).where(known_list.c.id == known.list_id))
        ctx.log(
            s,
            "exclusions.loaded",
            name=spec_l.name,
            format=spec_l.format,
            sha256=spec_l.sha256,
            entries=int(entries or 0),
        )
    ctx.log(s, "scan.started", run=1, environment=ctx.environment())


def _check_resume(ctx: ScanContext, s: Session, stored: ScanSettings, source_args: list[str] | None) -> None:
    diff = stored.differences(ctx.settings)
    if diff:
        raise TriageError(
            f"This case was started with other settings ({', '.join(diff)}); a resumed scan must compute "
            "the same things. Use the original options, or a new --case folder.",
            code=codes.CASE_MISMATCH,
        )
    if source_args:
        given = [spec.raw for spec in sources.describe_sources(source_args)]
        recorded = [bytes(r[0]) for r in s.execute(select(source.c.raw).order_by(source.c.id))]
        if given != recorded:
            raise TriageError(
                "This case was started with other sources. Re-run it with the same sources in the same "
                "order (or none: the recorded ones are used), or scan into a new --case folder.",
                code=codes.CASE_MISMATCH,
            )
    previous = ctx.case.get_meta(s, "run_state", "running")
    runs = int(ctx.case.get_meta(s, "runs", 1)) + 1
    in_flight = s.scalar(
        select(func.count()).select_from(item).where(item.c.state == PENDING, item.c.attempts > 0)
    )
    ctx.repeated = int(in_flight or 0)
    ctx.case.set_meta(s, "runs", runs)
    ctx.case.set_meta(s, "run_state", "running")
    ctx.log(
        s,
        "scan.resumed",
        run=runs,
        previous_run_ended="unexpectedly" if previous == "running" else previous,
        in_flight_items=ctx.repeated,
        environment=ctx.environment(),
    )


def enumerate_sources(ctx: ScanContext) -> None:
    """List every source not yet listed into the queue."""
    ctx.progress.phase = "listing"
    with ctx.case.session() as s:
        todo = s.execute(
            select(source.c.id).where(source.c.enumerated.is_(False)).order_by(source.c.id)
        ).all()
    for (sid,) in todo:

        def seen(n: int, size: int) -> None:
            ctx.progress.files_total += n
            ctx.progress.bytes_total += size
            ctx.notify()

        files, size = sources.enumerate_source(ctx.case.session, sid, on_batch=seen)
        with ctx.case.session() as s:
            ctx.log(s, "source.enumerated", subject=f"source:{sid}", files=files, bytes=size)
    ctx.refresh_totals()


def _is_archive(raw: bytes) -> bool:
    try:
        with open(raw, "rb") as fh:
            return detect(fh.read(4096)) is not None
    except OSError:
        return False
