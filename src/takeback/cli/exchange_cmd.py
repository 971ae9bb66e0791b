"""``takeback exchange``: mirror another takeback instance's signed bank feed into a local bank.

``add`` pins the publisher's key (``GET /v1/feed/key`` there; compare its fingerprint out of band)
and stores the ``exchange``-role API key it issued; ``pull`` fetches and applies pages (run it on a
schedule: cron, a systemd timer), then sends the feedback given here on mirrored entries back to
their sources (``push-feedback`` does that alone); ``list`` says where each mirror stands (stale,
quarantined pages, last error, feedback outbox); ``pause`` / ``pause --resume``; ``remove``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from takeback.cli.app import EXIT_SOME_FAILED, app, err_console, fail, usage_error
from takeback.cli.bank_cmd import actor, handled, in_store, open_store, update_match_index
from takeback.cli.feedback_cmd import Lang, LangOption
from takeback.cli.output import JsonlWriter, shown
from takeback.errors import TakebackError
from takeback.i18n import translate
from takeback.store import Database

exchange_app = typer.Typer(
    name="exchange",
    no_args_is_help=True,
    help="Mirror another instance's signed bank feed: add, list, pull, pause, remove.",
)
app.add_typer(exchange_app)

out = Console(soft_wrap=True, highlight=False)


@exchange_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="The exchange's name (and its mirror bank's).")],
    url: Annotated[str, typer.Option("--url", help="The publishing instance, e.g. https://ngo.example.")],
    remote_bank: Annotated[str, typer.Option("--bank", help="The bank it publishes to you.")],
    key: Annotated[
        str, typer.Option("--key", help="The publisher's public key (base64), from /v1/feed/key.")
    ],
    token_env: Annotated[
        str,
        typer.Option("--token-env", help="Environment variable holding the exchange API key it gave you."),
    ] = "TAKEBACK_EXCHANGE_TOKEN",  # noqa: S107 (the name of a variable, not a secret)
    local: Annotated[
        bool, typer.Option("--local", help="The publisher is on this machine (allow a loopback address).")
    ] = False,
    on_bad_page: Annotated[
        str,
        typer.Option("--on-bad-page", help="stop (default) or retry (fetch a bad page again, then stop)."),
    ] = "stop",
    stale_after: Annotated[
        int, typer.Option("--stale-after", help="Seconds without a good pull: stale.")
    ] = 86_400,
    replace_key: Annotated[
        bool, typer.Option("--replace-key", help="Re-pin the key of an existing exchange (a rotated key).")
    ] = False,
    review: Annotated[
        str,
        typer.Option(
            "--review",
            help="pending: hold every new entry out of matching until a curator accepts it "
            "(takeback bank held / accept / reject), or for --review-hours; none (default): match at once.",
        ),
    ] = "none",
    review_hours: Annotated[
        float | None,
        typer.Option(
            "--review-hours", help="With --review pending: held entries match by themselves after H hours."
        ),
    ] = None,
    max_pdq_distance: Annotated[
        int | None,
        typer.Option(
            "--max-pdq-distance",
            help="Entries from this exchange never match beyond this PDQ distance (0-256), whatever the "
            "bank's threshold.",
        ),
    ] = None,
) -> None:
    """Add a mirror (or, with --replace-key, pin a publisher's new key)."""
    from takeback.exchanges import mirror

    with handled():
        if replace_key:
            in_store(lambda s: mirror.repin_key(s, name=name, publisher_key=key, actor=actor()))
            out.print(f"Pinned a new publisher key for {shown(name)}.")
            return
        token = os.environ.get(token_env, "").strip()
        if not token:
            usage_error(f"Put the API key the publisher issued in ${token_env} (never on the command line).")
        in_store(
            lambda s: mirror.add_mirror(
                s,
                name=name,
                url=url,
                remote_bank=remote_bank,
                token=token,
                publisher_key=key,
                actor=actor(),
                local=local,
                on_bad_page=on_bad_page,
                stale_after_s=stale_after,
                review=review,
                review_hours=review_hours,
                max_pdq_distance=max_pdq_distance,
            )
        )
    out.print(f"Added exchange {shown(name)}: run takeback exchange pull {shown(name)}.")
    if review == "pending":
        out.print(
            "New entries from it are held for review: takeback bank held "
            f"{shown(name)}, then takeback bank accept / reject."
        )


@exchange_app.command("update")
def update_command(
    name: str,
    review: Annotated[
        str | None, typer.Option("--review", help="pending (hold new entries for review) or none.")
    ] = None,
    review_hours: Annotated[
        float | None, typer.Option("--review-hours", help="Held entries match by themselves after H hours.")
    ] = None,
    no_review_hours: Annotated[
        bool, typer.Option("--no-review-hours", help="Hold new entries until a curator accepts them.")
    ] = False,
    max_pdq_distance: Annotated[
        int | None,
        typer.Option("--max-pdq-distance", help="Cap the PDQ distance its entries match at (0-256)."),
    ] = None,
    no_max_pdq_distance: Annotated[
        bool, typer.Option("--no-max-pdq-distance", help="Drop the cap (the bank's threshold alone).")
    ] = False,
) -> None:
    """Change an exchange's review before matching or its PDQ cap (new entries follow the new policy;
    entries already here keep their state)."""
    from takeback.exchanges import mirror

    if review_hours is not None and no_review_hours:
        usage_error("Give --review-hours or --no-review-hours, not both.")
    if max_pdq_distance is not None and no_max_pdq_distance:
        usage_error("Give --max-pdq-distance or --no-max-pdq-distance, not both.")
    kw: dict[str, object] = {}
    if review_hours is not None or no_review_hours:
        kw["review_hours"] = review_hours
    if max_pdq_distance is not None or no_max_pdq_distance:
        kw["max_pdq_distance"] = max_pdq_distance
    if review is None and not kw:
        usage_error("Nothing to change: give --review, --review-hours or --max-pdq-distance.")
    with handled():
        in_store(lambda s: mirror.configure_mirror(s, name=name, actor=actor(), review=review, **kw))  # type: ignore[arg-type]
    out.print(f"Updated exchange {shown(name)}.")


@exchange_app.command("list")
def list_command() -> None:
    """Every mirror: checkpoint, changes applied, last pull, stale, quarantined pages, last error,
    and its feedback outbox (pending, sent, refused)."""
    from takeback.exchanges import mirror
    from takeback.exchanges.feedback import outbox_counts
    from takeback.exchanges.service import get_exchange

    def work(s: Session) -> list[dict[str, Any]]:
        rows = []
        for st in mirror.statuses(s):
            ex = get_exchange(s, name=st.name)
            counts = outbox_counts(s, exchange_id=ex.id) if ex is not None else {}
            rows.append({**st.to_record(), "feedback": counts})
        return rows

    with handled():
        rows = in_store(work)
    writer = JsonlWriter(sys.stdout)
    for rec in rows:
        writer.write(rec)


@exchange_app.command("pull")
def pull_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Exchanges to pull (default: every unpaused one).")
    ] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help="Stop after this many pages.")] = None,
    page_size: Annotated[int, typer.Option("--page-size", help="Changes a page.")] = 5_000,
    lang: LangOption = Lang.EN,
) -> None:
    """Fetch and apply new pages, then send the feedback waiting for each source (a failed send
    stays queued for the next time). One bad exchange does not stop the others; the exit status
    says."""
    from takeback.exchanges import mirror

    with handled():
        db = open_store()
        try:
            with db.session() as s:
                wanted = names or [st.name for st in mirror.statuses(s) if not st.paused]
            failed = False
            added = 0
            for name in wanted:
                try:
                    report = mirror.pull(
                        db, name=name, actor=actor(), page_size=page_size, max_pages=max_pages
                    )
                except TakebackError as exc:
                    err_console.print(f"{shown(name)}: {shown(exc.message)}", highlight=False)
                    failed = True
                    continue
                added += report.added
                for q in report.quarantined:
                    err_console.print(f"{shown(name)}: quarantined a page ({shown(q)})", highlight=False)
                out.print(
                    f"{shown(name)}: {report.pages} page(s), {report.changes:,} change(s): "
                    f"{report.added:,} added, {report.updated:,} updated, {report.removed:,} removed; "
                    f"checkpoint {report.checkpoint}."
                    + (f" {report.held:,} new entries held for review." if report.held else "")
                )
                if report.error:
                    err_console.print(f"{shown(name)}: {shown(report.error)}", highlight=False)
                    failed = True
                else:  # the channel works: send the feedback waiting for this source
                    try:
                        _push(db, name, retry_now=False, lang=lang)  # a failure stays queued
                    except TakebackError as exc:
                        err_console.print(f"{shown(name)}: {shown(exc.message)}", highlight=False)
            update_match_index(db, added)
        finally:
            db.dispose()
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _push(db: Database, name: str, *, retry_now: bool, lang: Lang) -> bool:
    """Send one exchange's due feedback and say how it went; whether every batch went."""
    from takeback.exchanges import feedback

    report = feedback.push(db, name=name, actor=actor(), retry_now=retry_now)
    for reason in report.refused:
        err_console.print(
            translate("feedback.cli.refused", lang.value, name=shown(name), reason=shown(reason))
        )
    if report.error:
        err_console.print(
            translate("feedback.cli.push_failed", lang.value, name=shown(name), error=shown(report.error)),
            highlight=False,
        )
        return False
    if report.sent or report.unchanged or report.refused or report.pending:
        out.print(
            translate(
                "feedback.cli.pushed",
                lang.value,
                name=shown(name),
                sent=report.sent,
                unchanged=report.unchanged,
                refused=len(report.refused),
                pending=report.pending,
            )
        )
    return True


@exchange_app.command("push-feedback")
def push_feedback_command(
    names: Annotated[
        list[str] | None, typer.Argument(help="Exchanges to send for (default: every unpaused one).")
    ] = None,
    retry_now: Annotated[
        bool, typer.Option("--retry-now", help="Send what is queued now, not waiting out the backoff.")
    ] = False,
    lang: LangOption = Lang.EN,
) -> None:
    """Send the opinions given here on mirrored entries back to their sources (also done at the end
    of every pull). A source that is down keeps them queued, retried with backoff."""
    from takeback.exchanges import mirror

    with handled():
        db = open_store()
        try:
            with db.session() as s:
                wanted = names or [st.name for st in mirror.statuses(s) if not st.paused]
            failed = False
            for name in wanted:
                try:
                    failed = not _push(db, name, retry_now=retry_now, lang=lang) or failed
                except TakebackError as exc:
                    err_console.print(f"{shown(name)}: {shown(exc.message)}", highlight=False)
                    failed = True
        finally:
            db.dispose()
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@exchange_app.command("pause")
def pause_command(
    name: str,
    resume: Annotated[bool, typer.Option("--resume", help="Resume pulling.")] = False,
) -> None:
    """Stop pulling an exchange (its mirror bank keeps matching), or resume."""
    from takeback.exchanges import mirror

    with handled():
        in_store(lambda s: mirror.pause(s, name=name, paused=not resume, actor=actor()))
    out.print(f"{'Resumed' if resume else 'Paused'} {shown(name)}.")


@exchange_app.command("remove")
def remove_command(name: str) -> None:
    """Remove a mirror: its state, and its mirror bank (soft-deleted: it stops matching)."""
    from takeback.exchanges import mirror

    with handled():
        if not in_store(lambda s: mirror.remove(s, name=name, actor=actor())):
            fail(f"No exchange called {name!r}.")
    out.print(f"Removed {shown(name)}.")
