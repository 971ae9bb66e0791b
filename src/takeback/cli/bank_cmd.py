"""``takeback bank``: create and curate hash banks (fingerprints only, never images)."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from takeback.banks import service as banks
from takeback.banks.formats import BankFormat, check_file, guess_format, read_file, stream_file, write_file
from takeback.banks.models import (
    DEFAULT_PDQ_THRESHOLD,
    HOLD_REASONS,
    MAX_PDQ_THRESHOLD,
    BankInfo,
    HoldReason,
    iso,
)
from takeback.cli import paths
from takeback.cli.app import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    app,
    err_console,
    fail,
    stdout_is_terminal,
    usage_error,
)
from takeback.cli.output import Format, JsonlWriter, cli_actor, quality_note, readable_utc, shown
from takeback.config import get_settings
from takeback.errors import TakebackError
from takeback.i18n import translate
from takeback.signals import SignalValue, get_signal_type
from takeback.signals.batch import default_jobs, fingerprint_paths
from takeback.signals.fingerprint import Fingerprint, FingerprintOptions
from takeback.signals.vpdq import unpack
from takeback.store import Database, database_url, open_database

T = TypeVar("T")

bank_app = typer.Typer(
    name="bank",
    help="Create and curate hash banks: named lists of fingerprints of known images (never the images).",
    no_args_is_help=True,
)
app.add_typer(bank_app, name="bank")

out = Console(soft_wrap=True, highlight=False)

#: Entries written per transaction by ``bank add`` (an import is always one transaction).
ADD_CHUNK = 500


# --- shared plumbing (``match`` uses these too) ----------------------------------------------------


def actor() -> str:
    """Who is acting, for the audit log and new entries' ``created_by``: see ``cli_actor``."""
    return cli_actor()


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Expected errors become a one-line message and exit 1, never a traceback."""
    try:
        yield
    except TakebackError as exc:
        fail(exc)


def open_store() -> Database:
    return open_database(database_url(get_settings()))


#: writes of at least this many entries leave the match index file current (Matcher.save_after)
INDEX_AFTER_ADDS = 1000


def update_match_index(db: Database, added: int) -> None:
    """Leave the match index file current after a large write, so the next ``match`` or ``serve``
    loads it instead of rebuilding it (seconds at a million hashes) or replaying the change log.
    Small writes are left to that replay (milliseconds), unless there is no index file yet."""
    from takeback.matching import open_matcher

    data_dir = get_settings().ensure_data_dir()
    if added < INDEX_AFTER_ADDS and any((data_dir / "index").glob("pdq-*.idx")):
        return
    if added:
        err_console.print("Updating the match index...", highlight=False)
    # no background save (a CLI exits straight after): close() writes the file here
    open_matcher(db, data_dir=data_dir, save_after=sys.maxsize).close()


def in_store(work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction (retried while another process holds the write lock)."""
    db = open_store()
    try:
        return db.run(work)
    finally:
        db.dispose()


def parse_meta(items: list[str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            usage_error(f"--meta {item!r}: write it as key=value.")
        meta[key.strip()] = value
    return meta


_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")


def parse_until(text: str | None) -> datetime | None:
    """``--until``: an ISO date or date-time (local time unless it says otherwise), or 30m/12h/7d/2w."""
    if text is None:
        return None
    raw = text.strip()
    m = _DURATION.match(raw.lower())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return datetime.now(UTC) + timedelta(**{unit: int(m.group(1))})
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        usage_error(f"--until {text!r}: give a date (2026-12-31), a date-time, or a duration like 7d or 12h.")
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # a person typing a time means their own clock
    return parsed.astimezone(UTC)


def _format_option(default_help: str = "Default: table on a terminal, jsonl otherwise.") -> Any:
    return typer.Option("--format", "-f", help=f"Output format. {default_help}", case_sensitive=False)


def pick_format(fmt: Format | None) -> Format:
    if fmt is Format.CSV:
        usage_error("This command writes table or jsonl.")
    return fmt or (Format.TABLE if stdout_is_terminal() else Format.JSONL)


BankName = Annotated[str, typer.Argument(help="The bank's name (case-insensitive).", show_default=False)]


# --- banks ----------------------------------------------------------------------------------------


def _print_banks(infos: list[BankInfo]) -> None:
    if not infos:
        out.print("No banks yet. Create one with: takeback bank create NAME")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    types = banks.signal_order()
    for col in ("bank", "kind", "pdq threshold", "state", "entries", *types):
        table.add_column(col, justify="right" if col in ("entries", *types) else "left")
    for i in infos:
        state = (
            "enabled"
            if i.enabled
            else f"disabled until {readable_utc(i.disabled_until)}"
            if i.disabled_until
            else "disabled"
        )
        if not i.enabled and i.active:
            state = "enabled (disable expired)"
        entries = (
            f"{i.entries:,}"
            + (f" ({i.disabled_entries:,} off)" if i.disabled_entries else "")
            + (f" ({i.held_entries:,} held)" if i.held_entries else "")
        )
        table.add_row(
            shown(i.name),
            "allow-list" if i.is_allow_list else "block",
            str(i.pdq_threshold),
            state,
            entries,
            *(f"{i.signals.get(t, 0):,}" for t in types),
        )
    out.print(table)


@bank_app.command("create")
def create_command(
    name: BankName,
    threshold: Annotated[
        int,
        typer.Option(
            "--threshold",
            "-t",
            help=f"PDQ distance (0-{MAX_PDQ_THRESHOLD} of 256 bits) at or below which entries match.",
        ),
    ] = DEFAULT_PDQ_THRESHOLD,
    allow_list: Annotated[
        bool,
        typer.Option("--allow-list", help="Known-benign content: its matches suppress other banks' matches."),
    ] = False,
    description: Annotated[str | None, typer.Option("--description", help="What the bank holds.")] = None,
) -> None:
    """Create a bank."""
    with handled():
        bank = in_store(
            lambda s: banks.create_bank(
                s,
                name=name,
                actor=actor(),
                pdq_threshold=threshold,
                allow_list=allow_list,
                description=description,
            )
        )
    kind = "allow-list bank" if allow_list else "bank"
    out.print(f"Created {kind} [bold]{shown(bank.name)}[/] (PDQ threshold {bank.pdq_threshold}).")


@bank_app.command("list")
def list_command(fmt: Annotated[Format | None, _format_option()] = None) -> None:
    """List the banks with their policy and entry counts."""
    with handled():
        infos = in_store(lambda s: banks.list_banks(s))
    if pick_format(fmt) is Format.JSONL:
        writer = JsonlWriter(sys.stdout)
        for i in infos:
            writer.write(i.to_record())
        return
    _print_banks(infos)


class ShowFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"


@bank_app.command("show")
def show_command(
    name: BankName,
    entries: Annotated[
        int, typer.Option("--entries", "-n", min=0, help="How many of the newest entries to show.")
    ] = 10,
    fmt: Annotated[
        ShowFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="table, json (indented) or jsonl (one line). Default: table on a terminal, json otherwise.",
            case_sensitive=False,
        ),
    ] = None,
) -> None:
    """Show a bank's policy, counts and newest entries.

    One bank is one document, so its JSON is indented (readable wherever it lands, a terminal that
    does not say it is one included); list commands keep one JSON record per line."""

    from takeback.banks import feedback as fb

    def work(
        s: Session,
    ) -> tuple[BankInfo, list[banks.ContentView], fb.BankFeedback, dict[int, fb.OpinionCounts]]:
        info = banks.bank_info(s, name=name)
        views = list(banks.iter_contents(s, bank_name=name, newest_first=True, limit=entries))
        return (
            info,
            views,
            fb.bank_feedback(s, bank_name=name),
            fb.counts_of(s, content_ids=[v.id for v in views]),
        )

    with handled():
        info, views, feedback, counts = in_store(work)
    none = fb.OpinionCounts()
    fmt = fmt or (ShowFormat.TABLE if stdout_is_terminal() else ShowFormat.JSON)
    if fmt is not ShowFormat.TABLE:
        record = {
            **info.to_record(),
            "feedback": feedback.to_record(),
            "newest_entries": [
                v.to_record() | {"held": v.hold_record(), "feedback": counts.get(v.id, none).to_record()}
                for v in views
            ],
        }
        indent = 2 if fmt is ShowFormat.JSON else None
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=indent) + "\n")
        return
    _print_banks([info])
    if info.description:
        out.print(f"\n{shown(info.description)}")
    out.print(f"\ncreated {readable_utc(info.created_at)} by {shown(info.created_by)}")
    f = feedback
    out.print(
        f"feedback: {f.confirmed:,} confirmed, {f.disputed:,} disputed, {f.negative:,} negative only "
        f"({f.positives:,} positive, {f.negatives:,} negative opinions); {f.quarantined:,} held as disputed "
        f"(threshold {f.dispute_threshold} negatives)"
    )
    if not views:
        return
    now = datetime.now(UTC)
    out.print(f"\nnewest {len(views)} entr{'y' if len(views) == 1 else 'ies'}:")
    for v in views:
        state = (
            ""
            if v.active(now)
            else _held_state(v)
            if v.held(now)
            else "  [yellow]disabled[/]"
            + (f" until {readable_utc(v.disabled_until)}" if v.disabled_until else "")
        )
        kind = next(t for t in ("pdq", "sha256", "md5", "vpdq") if t in v.signals)
        others = "+".join(t for t in banks.signal_order() if t in v.signals and t != kind)
        extra = f"  (+{others})" if others else ""
        value, quality = v.signals[kind]
        st = get_signal_type(kind)
        text = f"{len(unpack(value))} frames" if st.bag_of_frames else value.hex()
        if st.has_quality and quality is not None:
            text += f"  {quality_note(quality)}"
        c = counts.get(v.id)
        said = (
            f"  [+{c.positive} -{c.negative}{f' ?{c.investigation_seed}' if c.investigation_seed else ''}]"
            if c
            else ""
        )
        out.print(f"  #{v.id}  {kind} {text}{extra}{state}{said}")
        if v.note:
            out.print(f"      note: {shown(v.note)}")


def _held_state(v: banks.ContentView) -> str:
    reason = (v.hold_reason or "").replace("_", " ")
    return f"  [yellow]held: {reason}[/]" + (f" until {readable_utc(v.held_until)}" if v.held_until else "")


@bank_app.command("rename")
def rename_command(
    name: BankName, new_name: Annotated[str, typer.Argument(help="The new name.", show_default=False)]
) -> None:
    """Rename a bank (its entries, ids and history stay)."""
    with handled():
        bank = in_store(lambda s: banks.update_bank(s, name=name, new_name=new_name, actor=actor()))
    out.print(f"Renamed to [bold]{shown(bank.name)}[/].")


@bank_app.command("set")
def set_command(
    name: BankName,
    threshold: Annotated[
        int | None, typer.Option("--threshold", "-t", help=f"New PDQ threshold (0-{MAX_PDQ_THRESHOLD}).")
    ] = None,
    allow_list: Annotated[
        bool | None,
        typer.Option(
            "--allow-list/--block-list", help="Make it an allow-list bank, or an ordinary (blocking) one."
        ),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", help="What the bank holds.")] = None,
    dispute_threshold: Annotated[
        int | None,
        typer.Option(
            "--dispute-threshold",
            help="Negative opinions (more than the positives) that hold an entry for review (default 3).",
        ),
    ] = None,
) -> None:
    """Change a bank's policy: threshold, allow-list, description or dispute threshold."""
    from takeback.banks import feedback as fb

    if threshold is None and allow_list is None and description is None and dispute_threshold is None:
        usage_error(
            "Give at least one of --threshold, --allow-list/--block-list, --description, --dispute-threshold."
        )

    def work(s: Session) -> Any:
        if dispute_threshold is not None:
            fb.set_dispute_threshold(s, bank_name=name, threshold=dispute_threshold, actor=actor())
        if threshold is None and allow_list is None and description is None:
            return banks.get_bank(s, name=name)
        return banks.update_bank(
            s,
            name=name,
            pdq_threshold=threshold,
            allow_list=allow_list,
            description=description,
            actor=actor(),
        )

    with handled():
        bank = in_store(work)
    if dispute_threshold is not None:
        out.print(translate("feedback.cli.threshold", "en", bank=shown(bank.name), n=dispute_threshold))
    kind = "allow-list" if bank.is_allow_list else "blocking"
    out.print(f"{shown(bank.name)}: {kind} bank, PDQ threshold {bank.pdq_threshold}.")


@bank_app.command("delete")
def delete_command(
    name: BankName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a bank: it stops matching at once. Its rows are kept (soft delete) and the name freed."""
    if not yes:
        if not sys.stdin.isatty():
            usage_error("Deleting a bank needs --yes when not run interactively.")
        typer.confirm(f"Delete bank {name!r}? It will stop matching.", abort=True)
    with handled():
        bank = in_store(lambda s: banks.delete_bank(s, name=name, actor=actor()))
    out.print(f"Deleted bank {shown(bank.name)}.")


# --- entries --------------------------------------------------------------------------------------


@bank_app.command("add")
def add_command(
    name: BankName,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Image and video files and folders (walked recursively).",
            show_default=False,
            parser=paths.walk_input,
        ),
    ],
    note: Annotated[str | None, typer.Option("--note", help="A note stored with every entry added.")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="key=value metadata (repeatable).")] = None,
    source: Annotated[
        str, typer.Option("--source", help="Provenance stored with each entry (file names are not stored).")
    ] = "takeback bank add",
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = None,
    fmt: Annotated[Format | None, _format_option()] = None,
) -> None:
    """Add one entry per image or video: only its fingerprints (PDQ, MD5, SHA-256; for videos vPDQ,
    every distinct frame's hash) are stored, never the image or video.

    A file whose fingerprint is already in the bank is skipped as a duplicate. Files that cannot be
    read or decoded are reported and the rest are added. Exit 1 when any file failed.
    """
    metadata = parse_meta(meta)
    settings = get_settings()
    view = pick_format(fmt)
    writer = JsonlWriter(sys.stdout) if view is Format.JSONL else None
    # Videos: every distinct frame, so that trimmed copies and clips sampled at any moment match.
    options = FingerprintOptions.from_settings(settings, for_bank=True)
    counts = {"added": 0, "duplicate": 0, "failed": 0}
    with handled():
        db = open_store()
        try:
            db.run(lambda s: banks.get_bank(s, name=name))  # fail fast, before hashing anything
            pending: list[Fingerprint] = []

            def flush() -> None:
                entries = [
                    banks.entry_from_fingerprint(fp, note=note, metadata=metadata, source=source)
                    for fp in pending
                ]
                outcomes = db.run(
                    lambda s: banks.add_contents(s, bank_name=name, entries=entries, actor=actor())
                )
                for fp, o in zip(pending, outcomes, strict=True):
                    status = "added" if o.added else "duplicate"
                    counts[status] += 1
                    _report_add(writer, fp, status, o.content_id or o.duplicate_of)
                pending.clear()

            for fp in fingerprint_paths(
                [str(p) for p in paths], options=options, jobs=jobs or settings.jobs or default_jobs()
            ):
                if fp.error:
                    counts["failed"] += 1
                    _report_add(writer, fp, "error", None)
                    continue
                pending.append(fp)
                if len(pending) >= ADD_CHUNK:
                    flush()
            if pending:
                flush()
            update_match_index(db, counts["added"])
        finally:
            db.dispose()
    err_console.print(
        f"{counts['added']} added, {counts['duplicate']} already in the bank, {counts['failed']} failed.",
        highlight=False,
    )
    raise typer.Exit(EXIT_SOME_FAILED if counts["failed"] else EXIT_OK)


def _report_add(writer: JsonlWriter | None, fp: Fingerprint, status: str, content_id: int | None) -> None:
    if writer is not None:
        writer.write(
            {
                "path": fp.path,
                "status": status,
                "content_id": content_id if status == "added" else None,
                "duplicate_of": content_id if status == "duplicate" else None,
                "pdq": fp.hex("pdq"),
                "pdq_quality": fp.quality("pdq"),
                "sha256": fp.hex("sha256"),
                "error": fp.error,
            }
        )
        return
    path = shown(fp.path)
    if status == "error":
        assert fp.error is not None
        out.print(f"[red]failed[/]     {path}: {shown(fp.error['message'])}")
    elif status == "duplicate":
        out.print(f"duplicate  {path} (already entry #{content_id})")
    else:
        low = (
            "  [yellow]low-quality PDQ (matches will be flagged)[/]"
            if any(get_signal_type(v.signal_type).is_low_quality(v.quality) for v in fp.values())
            else ""
        )
        out.print(f"[green]added[/]      {path} as #{content_id}{low}")


@bank_app.command("add-hash")
def add_hash_command(
    name: BankName,
    pdq: Annotated[str | None, typer.Option("--pdq", help="PDQ hash, 64 hex characters.")] = None,
    pdq_quality: Annotated[
        int | None, typer.Option("--pdq-quality", min=0, max=100, help="The PDQ hash's quality, if known.")
    ] = None,
    md5: Annotated[str | None, typer.Option("--md5", help="MD5, 32 hex characters.")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help="SHA-256, 64 hex characters.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note stored with the entry.")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="key=value metadata (repeatable).")] = None,
    source: Annotated[
        str, typer.Option("--source", help="Provenance of the entry.")
    ] = "takeback bank add-hash",
) -> None:
    """Add one entry from hashes (for example a victim's own, computed on their device).

    Give any of --pdq, --md5, --sha256 (all describing the same content). Any case is accepted.
    """
    given = [(n, v) for n, v in (("pdq", pdq), ("md5", md5), ("sha256", sha256)) if v is not None]
    if not given:
        usage_error("Give at least one of --pdq, --md5, --sha256.")
    if pdq_quality is not None and pdq is None:
        usage_error("--pdq-quality needs --pdq.")
    try:
        signals = tuple(
            SignalValue(
                n,
                get_signal_type(n).validate(v, field=f"--{n}"),
                pdq_quality if get_signal_type(n).has_quality else None,
            )
            for n, v in given
        )
    except TakebackError as exc:
        usage_error(exc.message)
    entry = banks.NewContent(signals=signals, note=note, metadata=parse_meta(meta), source=source)
    with handled():
        (outcome,) = in_store(lambda s: banks.add_contents(s, bank_name=name, entries=[entry], actor=actor()))
    if outcome.added:
        out.print(f"Added entry #{outcome.content_id}.")
    else:
        out.print(f"Already in the bank as entry #{outcome.duplicate_of}; nothing added.")


ContentIds = Annotated[
    list[int], typer.Argument(help="Entry ids (see bank show / export).", show_default=False)
]


@bank_app.command("remove")
def remove_command(name: BankName, content_ids: ContentIds) -> None:
    """Remove entries (and their fingerprints) from a bank. An unknown id changes nothing."""
    with handled():
        n = in_store(
            lambda s: banks.remove_contents(s, bank_name=name, content_ids=content_ids, actor=actor())
        )
    out.print(f"Removed {n} entr{'y' if n == 1 else 'ies'}.")


UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="Re-enable automatically then: a date (2026-12-31, local time), a date-time, or 7d / 12h.",
    ),
]


@bank_app.command("disable")
def disable_command(
    name: BankName,
    content_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Entries to disable; none means the whole bank.", show_default=False),
    ] = None,
    until: UntilOption = None,
) -> None:
    """Stop a bank, or some of its entries, from matching (for good, or until a time)."""
    when = parse_until(until)
    with handled():
        if content_ids:
            n = in_store(
                lambda s: banks.set_contents_enabled(
                    s, bank_name=name, content_ids=content_ids, enabled=False, until=when, actor=actor()
                )
            )
            what = f"{n} entr{'y' if n == 1 else 'ies'}"
        else:
            bank = in_store(
                lambda s: banks.set_bank_enabled(s, name=name, enabled=False, until=when, actor=actor())
            )
            what = f"bank {shown(bank.name)}"
    out.print(f"Disabled {what}" + (f" until {readable_utc(when)}." if when else "."))


@bank_app.command("enable")
def enable_command(
    name: BankName,
    content_ids: Annotated[
        list[int] | None,
        typer.Argument(help="Entries to enable; none means the bank itself.", show_default=False),
    ] = None,
) -> None:
    """Let a disabled bank, or disabled entries, match again."""
    with handled():
        if content_ids:
            n = in_store(
                lambda s: banks.set_contents_enabled(
                    s, bank_name=name, content_ids=content_ids, enabled=True, actor=actor()
                )
            )
            what = f"{n} entr{'y' if n == 1 else 'ies'}"
        else:
            bank = in_store(lambda s: banks.set_bank_enabled(s, name=name, enabled=True, actor=actor()))
            what = f"bank {shown(bank.name)}"
    out.print(f"Enabled {what}.")


# --- export / import ------------------------------------------------------------------------------


HoldReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help=f"Only entries held for this reason: {', '.join(HOLD_REASONS)}."),
]


@bank_app.command("held")
def held_command(
    name: BankName,
    reason: HoldReasonOption = None,
    lapsed: Annotated[
        bool, typer.Option("--lapsed", help="Also entries whose hold's time ran out (still unreviewed).")
    ] = False,
    fmt: Annotated[Format | None, _format_option()] = None,
) -> None:
    """Entries held out of matching (pending review from an exchange, disputed), oldest first."""
    with handled():
        views = in_store(
            lambda s: banks.list_held(
                s,
                bank_name=name,
                reason=cast(HoldReason | None, reason),
                include_lapsed=lapsed,
            )
        )
    if pick_format(fmt) is Format.JSONL:
        writer = JsonlWriter(sys.stdout)
        for v in views:
            writer.write(
                {
                    "content_id": v.id,
                    "reason": v.hold_reason,
                    "held_until": iso(v.held_until),
                    "held_at": iso(v.held_at),
                    "held_by": v.held_by,
                    "source": v.source,
                    "note": v.note,
                    "signals": {t: val.hex() for t, (val, _) in v.signals.items() if t != "vpdq"},
                }
            )
        return
    if not views:
        out.print(f"Nothing held in {shown(name)}.")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("entry", "reason", "held until", "held", "by", "source"):
        table.add_column(col)
    for v in views:
        table.add_row(
            f"#{v.id}",
            (v.hold_reason or "").replace("_", " "),
            readable_utc(v.held_until) if v.held_until else "until reviewed",
            readable_utc(v.held_at) if v.held_at else "",
            shown(v.held_by or ""),
            shown(v.source or ""),
        )
    out.print(table)
    out.print(f"{len(views)} held. Review them: takeback bank accept|reject {shown(name)} ID... (or --all).")


def _release(name: str, content_ids: list[int] | None, every: bool, reason: str | None, accept: bool) -> None:
    if bool(content_ids) == every:
        usage_error("Give the entry ids, or --all; not both.")
    with handled():
        report = in_store(
            lambda s: banks.release_entries(
                s,
                bank_name=name,
                accept=accept,
                actor=actor(),
                content_ids=content_ids or None,
                all_held=every,
                reason=cast(HoldReason | None, reason),
            )
        )
    n = report.accepted if accept else report.rejected
    what = f"{n} entr{'y' if n == 1 else 'ies'}"
    out.print(
        f"Accepted {what}: they match from now on."
        if accept
        else f"Rejected {what}: they are disabled (takeback bank enable undoes it)."
    )


ReleaseIds = Annotated[list[int] | None, typer.Argument(help="Held entries (see takeback bank held).")]
AllHeld = Annotated[bool, typer.Option("--all", help="Every held entry of the bank (of --reason, if given).")]


@bank_app.command("accept")
def accept_command(
    name: BankName, content_ids: ReleaseIds = None, every: AllHeld = False, reason: HoldReasonOption = None
) -> None:
    """Accept held entries after review: they match from now on."""
    _release(name, content_ids, every, reason, accept=True)


@bank_app.command("reject")
def reject_command(
    name: BankName, content_ids: ReleaseIds = None, every: AllHeld = False, reason: HoldReasonOption = None
) -> None:
    """Reject held entries after review: they are disabled for good (a mirror's updates keep them so)."""
    _release(name, content_ids, every, reason, accept=False)


@bank_app.command("export")
def export_command(
    name: BankName,
    fmt: Annotated[
        BankFormat,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="jsonl or csv (everything, re-importable exactly); te-csv (python-threatexchange), "
            "hma-json (HMA bank content), vics-1.3 / vics-2.0 (Project VIC), md5sum, sha256sum, "
            "nsrl (RDS v3 SQLite; needs -o).",
        ),
    ] = BankFormat.JSONL,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of standard output.", parser=paths.output_file
        ),
    ] = None,
) -> None:
    """Export every entry: hashes, note, metadata, provenance and state (re-importable exactly)."""
    if fmt.needs_file and output is None:
        usage_error(f"--format {fmt.value} writes a database: give the file with --output.")
    with handled():
        db = open_store()
        try:
            with db.session() as s:
                banks.get_bank(s, name=name)
                views = banks.iter_contents(s, bank_name=name)
                if output is None:
                    n, skipped = write_file(views, sys.stdout, fmt=fmt, bank=name)
                else:
                    tmp = output.with_name(output.name + ".part")
                    if fmt.needs_file:
                        n, skipped = write_file(views, tmp, fmt=fmt, bank=name)
                    else:
                        with open(tmp, "w", encoding="utf-8", newline="") as fh:
                            n, skipped = write_file(views, fh, fmt=fmt, bank=name)
                    tmp.replace(output)
        finally:
            db.dispose()
    err_console.print(f"Exported {n} entr{'y' if n == 1 else 'ies'}.", highlight=False)
    if skipped:
        err_console.print(
            f"Left out {skipped} entr{'y' if skipped == 1 else 'ies'} without a hash {fmt.value} carries.",
            highlight=False,
        )


@bank_app.command("import")
def import_command(
    name: BankName,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A bank file (see --format); - reads standard input.",
            show_default=False,
            parser=paths.input_file_or_stdin,
        ),
    ] = None,
    fmt: Annotated[
        BankFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="jsonl, csv, te-csv, hma-json, vics-1.3, vics-2.0, md5sum, sha256sum or nsrl. "
            "Default: from the file name's extension.",
        ),
    ] = None,
    from_case: Annotated[
        Path | None,
        typer.Option(
            "--from-case",
            help="A scan case folder: import the fingerprints of what its scan flagged.",
            parser=paths.input_folder,
        ),
    ] = None,
    group: Annotated[
        int | None,
        typer.Option("--group", help="With --from-case: only this group's images (see its report)."),
    ] = None,
    all_items: Annotated[
        bool,
        typer.Option(
            "--all-items",
            help="With --from-case: every image and video, not only those the scan flagged "
            "(this includes the person's own photos).",
        ),
    ] = False,
    include_low_quality: Annotated[
        bool,
        typer.Option(
            "--include-low-quality",
            help="With --from-case: keep PDQ hashes of quality below 50 too (they match unrelated pictures).",
        ),
    ] = False,
) -> None:
    """Import entries from a file, all or nothing: one bad row and nothing is imported.

    Entries whose hash is already in the bank are skipped and counted. Every bad row is listed.

    With --from-case, the images and videos of a scan case (or of one group) that the scan flagged
    (AI provenance, nudity, the derivative side of a source -> derivative link, a bank match) are
    added by fingerprint only (PDQ, MD5, SHA-256; vPDQ as the scan sampled it, about one frame a
    second: for trimmed copies and clips to match too, add the video itself with bank add). Left out
    unless asked, and counted: unflagged items such as the person's own photos (--all-items), and PDQ
    hashes of quality below 50 (--include-low-quality; the item's SHA-256 and MD5 still go in). The
    files never leave the case; the import is recorded in the case's custody log.
    """
    if from_case is not None:
        if file is not None:
            usage_error("Give either a file or --from-case, not both.")
        _import_from_case(
            name, from_case, group, all_items=all_items, include_low_quality=include_low_quality
        )
        return
    if group is not None or all_items or include_low_quality:
        usage_error("--group, --all-items and --include-low-quality go with --from-case.")
    if file is None:
        usage_error("Give a bank export file to import (or --from-case DIR).")
    label = "stdin" if str(file) == "-" else file.name
    kind = fmt or guess_format(str(file))
    if kind is None:
        usage_error(f"{file}: cannot tell the format from the name; give --format (e.g. jsonl or csv).")
    if kind.needs_file and str(file) == "-":
        usage_error(f"--format {kind.value} reads a database file, not standard input.")
    with handled():
        db = open_store()
        try:
            db.run(lambda s: banks.get_bank(s, name=name))
            try:
                if kind.needs_file:
                    count = check_file(file, fmt=kind, source=label)
                    err_console.print(f"Importing {count:,} entries in one transaction...", highlight=False)
                    report = db.run(
                        lambda s: banks.import_batches(
                            s,
                            bank_name=name,
                            batches=stream_file(file, fmt=kind, source=label),
                            actor=actor(),
                            source=label,
                        )
                    )
                else:
                    if str(file) == "-":
                        entries = read_file(sys.stdin.buffer, fmt=kind, source=label)
                    else:
                        entries = read_file(file, fmt=kind, source=label)
                    err_console.print(
                        f"Importing {len(entries):,} entries in one transaction...", highlight=False
                    )
                    report = db.run(
                        lambda s: banks.import_contents(
                            s, bank_name=name, entries=entries, actor=actor(), source=label
                        )
                    )
            except OSError as exc:
                fail(f"Could not read {file}: {exc.strerror or exc}.")
            except banks.ImportFileError as exc:
                for line, problem in exc.problems:
                    err_console.print(f"{shown(label)}: line {line}: {shown(problem)}", highlight=False)
                fail(exc)
            update_match_index(db, report.added)
        finally:
            db.dispose()
    out.print(
        f"Imported {report.added:,} of {report.rows:,} entries"
        + (f"; {report.duplicates:,} were already in the bank (skipped)." if report.duplicates else ".")
    )


#: What the scan's flags and a case import's reasons for leaving items out mean, for a person.
_LEFT_OUT = {
    "not_flagged": "not flagged by the scan (no AI provenance, nudity, derivative link or bank match)",
    "source_picture": "sources that derivatives were made from (usually the person's own photos)",
    "allow_listed": "matched an allow-list bank (known benign)",
}


def _import_from_case(
    name: str, folder: Path, group: int | None, *, all_items: bool, include_low_quality: bool
) -> None:
    from takeback.evidence.signing import Signer
    from takeback.triage.casedb import CaseDB
    from takeback.triage.service import NothingToImportError, import_into_bank, record_bank_import

    with handled():
        db = open_store()
        try:
            case = CaseDB.open_read_only(folder)
            try:
                done = import_into_bank(
                    db,
                    case,
                    bank=name,
                    group=group,
                    actor=actor(),
                    all_items=all_items,
                    include_low_quality=include_low_quality,
                )
            except NothingToImportError as exc:
                if exc.code != "no_images":
                    _print_left_out(exc.selection.left_out)
                fail(exc.message)
            finally:
                case.close()
            update_match_index(db, done.report.added)
        finally:
            db.dispose()
        report, sel = done.report, done.selection
        what = f"group {group} of case {done.case_id}" if group is not None else f"case {done.case_id}"
        record_bank_import(
            folder,
            bank=name,
            group=group,
            entries=report.rows,
            added=report.added,
            duplicates=report.duplicates,
            signer=Signer.load_or_create(get_settings().ensure_data_dir()),
            actor=actor(),
            left_out=sel.left_out,
            pdq_left_out=sel.pdq_left_out,
        )
    out.print(
        f"Imported {report.added:,} of {report.rows:,} fingerprints from {what}"
        + (f"; {report.duplicates:,} were already in the bank." if report.duplicates else ".")
    )
    if sel.flagged:
        labels = {
            "ai": "AI provenance",
            "nudity": "nudity",
            "derivative": "derivative",
            "bank_match": "bank match",
        }
        out.print(
            "  flagged by the scan: "
            + ", ".join(f"{n:,} {labels.get(f, f)}" for f, n in sorted(sel.flagged.items()))
        )
    _print_left_out(sel.left_out)
    if sel.pdq_left_out:
        n = sel.pdq_left_out
        out.print(
            f"PDQ left out for {n:,} of them: a PDQ of quality below 50 is unreliable (it matches unrelated "
            f"flat pictures). {'Its' if n == 1 else 'Their'} SHA-256 and MD5 were imported, so exact copies "
            "are still blocked; add --include-low-quality to keep the PDQ too."
        )


def _print_left_out(left_out: dict[str, int]) -> None:
    if not left_out:
        return
    total = sum(left_out.values())
    out.print(f"Left out {total:,} item{'' if total == 1 else 's'} (add --all-items to import them too):")
    for reason, n in sorted(left_out.items(), key=lambda kv: -kv[1]):
        out.print(f"  {n:>6,}  {_LEFT_OUT.get(reason, reason)}")


@bank_app.command("reindex")
def reindex_command() -> None:
    """Rebuild the match index from the database (never needed in normal use: it is kept current)."""
    from takeback.matching import open_matcher

    with handled():
        db = open_store()
        try:
            matcher = open_matcher(db, data_dir=get_settings().ensure_data_dir())
            matcher.rebuild()
            stats = matcher.stats()
        finally:
            db.dispose()
    out.print(f"Match index rebuilt: {stats['pdq_hashes']:,} PDQ hashes, written to {stats['index_file']}.")
