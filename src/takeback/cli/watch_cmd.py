"""``takeback watch``: re-check a case's reported posts and record what is still up.

``watch run`` checks what is due; run it from a timer (cron, a systemd timer) every hour or so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from takeback.cases import service as cs
from takeback.cli.app import app, usage_error
from takeback.cli.case_cmd import ByOpt, CaseOpt, actor, local, out, run_db, signer
from takeback.cli.output import shown
from takeback.clock import parse_duration
from takeback.errors import TakebackError
from takeback.watch import service as ws
from takeback.watch.models import Watch

watch_app = typer.Typer(no_args_is_help=True, help="Re-check reported posts: still up, removed, re-uploaded.")
app.add_typer(watch_app, name="watch")


def _hours(every: str) -> int:
    try:
        d = parse_duration(every)
    except TakebackError as exc:
        usage_error(exc.message)
    if d.months:
        usage_error("--every takes hours or days, e.g. 6h or 1d.")
    return d.hours


def _line(w: Watch, zone: str) -> str:
    takedown = f", takedown #{w.takedown_id}" if w.takedown_id else ""
    last = (
        f"last {w.last_outcome} (HTTP {w.last_http_status or '-'}) {local(w.last_checked_at, zone)}"
        if w.last_checked_at
        else "not checked yet"
    )
    return f"#{w.id} {w.url}{takedown}: every {w.every_hours} h, {last}; next {local(w.next_due_at, zone)}"


@watch_app.command("add")
def watch_add(
    case: CaseOpt,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="The page to re-check. Default: every takedown URL of the case not watched yet."
        ),
    ] = None,
    every: Annotated[str, typer.Option("--every", help="How often: 6h, 12h, 1d.")] = "6h",
    by: ByOpt = None,
) -> None:
    """Watch a URL of the case (first check due at once)."""
    hours = _hours(every)

    def work(s: Session) -> list[str]:
        c = cs.get_case(s, reference=case)
        if url is not None:
            added = [ws.add_watch(s, case=c, url=url, actor=actor(by), every_hours=hours)]
        else:
            added = ws.add_takedown_watches(s, case=c, actor=actor(by), every_hours=hours)
            if not added:
                return [f"Nothing to add: case {c.reference} has no takedown URL that is not watched yet."]
        return [f"Watching {_line(w, c.timezone)}" for w in added]

    for line in run_db(work):
        out.print(shown(line))


@watch_app.command("list")
def watch_list(case: CaseOpt) -> None:
    """The case's watches and what their last check saw."""

    def work(s: Session) -> list[str]:
        c = cs.get_case(s, reference=case)
        lines = [_line(w, c.timezone) for w in ws.watches(s, case=c)]
        return lines or [f"Case {c.reference} watches nothing. Add: takeback watch add --case {c.reference}"]

    for line in run_db(work):
        out.print(shown(line))


@watch_app.command("run")
def watch_run(
    case: Annotated[
        str | None, typer.Option("--case", "-c", help="Only this case.", show_default=False)
    ] = None,
    by: ByOpt = None,
) -> None:
    """Check every watch that is due now; each check goes into the case's custody log."""
    sig = signer()
    who = actor(by)

    def due_ids(s: Session) -> list[int]:
        c = cs.get_case(s, reference=case) if case else None
        return [w.id for w in ws.due(s, case=c)]

    def check(watch_id: int) -> Callable[[Session], str]:
        def work(s: Session) -> str:
            r = ws.run_check(s, watch=ws.get_watch(s, watch_id=watch_id), signer=sig, actor=who)
            why = f" ({r.reason})" if r.reason else ""
            return (
                f"#{r.watch.id} {r.watch.url}: {r.outcome.value}{why}, HTTP {r.check.http_status or '-'}, "
                f"{len(r.check.images)} image(s) checked, {len(r.check.matched)} matched the case; "
                f"custody #{r.custody_seq}" + (f"; takedown {r.takedown_status}" if r.takedown_status else "")
            )

        return work

    ids = run_db(due_ids)
    if not ids:
        out.print("Nothing is due.")
    for watch_id in ids:  # one transaction per check: a site's failure never undoes another's record
        out.print(shown(run_db(check(watch_id))))


@watch_app.command("remove")
def watch_remove(
    case: CaseOpt,
    watch_id: Annotated[int, typer.Option("--id", help="The watch to stop.", show_default=False)],
    by: ByOpt = None,
) -> None:
    """Stop watching a URL (its past checks stay in the custody log)."""

    def work(s: Session) -> str:
        c = cs.get_case(s, reference=case)
        w = ws.remove_watch(s, case=c, watch_id=watch_id, actor=actor(by))
        return f"Stopped watching #{w.id} {w.url}."

    out.print(shown(run_db(work)))
