"""``takeback scan``: triage seized folders and archives into a case folder; ``takeback case verify``
checks one (a scan case folder, told apart from victim-support cases by its ``case.db``)."""

from __future__ import annotations

import signal
import sys
import time
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from takeback.cli import paths
from takeback.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, err_console, fail, usage_error
from takeback.cli.case_cmd import case_app
from takeback.cli.output import shown
from takeback.config import ACTOR_EXAMINER, Settings, acting, get_settings
from takeback.errors import TakebackError
from takeback.evidence.signing import PublicKey, Signer
from takeback.signals.batch import default_jobs
from takeback.triage import errors as codes
from takeback.triage import exclusion
from takeback.triage import service as triage
from takeback.triage.casedb import is_case_dir
from takeback.triage.models import ScanSettings
from takeback.triage.pipeline import Progress as ScanProgress
from takeback.triage.pipeline import RunOptions

out = Console(soft_wrap=True, highlight=False)


class Lang(StrEnum):
    EN = "en"
    ZH_HANT = "zh-Hant"


class Watermarks(StrEnum):
    AUTO = "auto"
    ON = "on"
    OFF = "off"


def _examiner(name: str | None) -> str:
    """--examiner, else TAKEBACK_ACTOR, else the role ``examiner``: the report and custody log go to
    courts and other agencies, so the account name is recorded only when someone gives it."""
    return acting(name, default=ACTOR_EXAMINER)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


class _Stats(ProgressColumn):
    """files done/total · bytes done/total · files/s · ETA · errors"""

    def render(self, task: Task) -> Text:
        p: ScanProgress | None = task.fields.get("p")
        if p is None:
            return Text("")
        elapsed = max(1e-6, time.monotonic() - p.started)
        rate = (p.files_done - p.files_before) / elapsed
        brate = (p.bytes_done - p.bytes_before) / elapsed
        left = max(0, p.bytes_total - p.bytes_done)
        if p.phase != "scanning" or brate <= 0:
            eta = "--:--"
        else:
            secs = int(left / brate)
            eta = f"{secs // 3600}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
        text = (
            f"{p.files_done:,}/{p.files_total:,} files · {_size(p.bytes_done)}/{_size(p.bytes_total)} · "
            f"{rate:,.1f} files/s · ETA {eta} · "
        )
        t = Text(text)
        t.append(f"{p.errors:,} error{'' if p.errors == 1 else 's'}", style="red" if p.errors else "")
        if p.known:
            t.append(f" · {p.known:,} known")
        return t


def _settings_for(
    case: Path,
    *,
    cfg: Settings,
    nudity: bool | None,
    watermarks: Watermarks | None,
    banks: bool | None,
    exclude: list[Path] | None,
) -> ScanSettings:
    """A new case's settings from the options; a resumed case keeps its own, except where an option
    was given explicitly (then the scan refuses a difference rather than mixing results)."""
    stored = triage.stored_settings(case)
    base = stored or ScanSettings(max_file_bytes=cfg.max_file_bytes, max_image_pixels=cfg.max_image_pixels)
    changes: dict[str, Any] = {}
    if nudity is not None:
        changes["nudity"] = nudity
    if watermarks is not None:
        changes["watermarks"] = watermarks.value
    if banks is not None:
        changes["match_banks"] = banks
    if exclude:
        changes["exclusion_lists"] = tuple(exclusion.describe(str(p)).to_json() for p in exclude)
    if not changes:
        return base
    data = base.to_json() | {k: (list(v) if isinstance(v, tuple) else v) for k, v in changes.items()}
    return ScanSettings.from_json(data)


@app.command("scan")
def scan_command(
    sources: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Folders, ZIP/TAR(.gz) archives or files to scan (read in place, never modified). "
            "Leave out to resume or re-report an existing case.",
            show_default=False,
            parser=paths.walk_input,
        ),
    ] = None,
    case: Annotated[
        Path | None,
        typer.Option(
            "--case",
            "-c",
            help="The case folder (created if new; resumed if it exists).",
            show_default=False,
            parser=paths.case_folder,
        ),
    ] = None,
    examiner: Annotated[
        str | None,
        typer.Option(
            "--examiner",
            "-e",
            help=(
                "Who runs the scan, as recorded in custody and the report: a name, badge number or role. "
                "Default: TAKEBACK_ACTOR, else 'examiner' (never the account name unless you give it)."
            ),
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes. Default: one per core.")
    ] = None,
    exclude_hashes: Annotated[
        list[Path] | None,
        typer.Option(
            "--exclude-hashes",
            help="Known-file list (md5sum/sha1sum/sha256sum format, or an NSRL RDS v3 SQLite database); "
            "matching files are counted, not analysed. Repeatable.",
            parser=paths.input_file,
        ),
    ] = None,
    lang: Annotated[Lang, typer.Option("--lang", help="Report language: en or zh-Hant.")] = Lang.EN,
    reveal: Annotated[
        bool,
        typer.Option(
            "--reveal", help="Clear (not blurred, colour) thumbnails in the report; recorded in custody."
        ),
    ] = False,
    nudity: Annotated[
        bool | None,
        typer.Option(
            "--nudity/--no-nudity",
            help="Score images for nudity (review order). Default: on.",
            show_default=False,
        ),
    ] = None,
    watermarks: Annotated[
        Watermarks | None,
        typer.Option(
            "--watermarks",
            help="Read invisible watermarks: auto (not on 4:2:0 JPEGs, where they cannot survive), on, off.",
        ),
    ] = None,
    banks: Annotated[
        bool | None,
        typer.Option(
            "--banks/--no-banks",
            help="Match against this installation's hash banks. Default: on.",
            show_default=False,
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Live progress bar (on a terminal).")
    ] = True,
) -> None:
    """Triage seized folders and archives into a case folder: every file fingerprinted, checked for AI
    provenance, matched against the banks and grouped, with a signed chain of custody, a report
    (report.html, report.pdf) and exports (items.csv, items.jsonl, hashes.md5, hashes.sha256,
    vics.json, custody.jsonl).

    Killed or interrupted? Run the same command again: it resumes where it stopped. Exit status: 0,
    1 when some items could not be read or decoded (listed in the report), 2 on a usage error.
    """
    if case is None:
        usage_error("Give the case folder with --case DIR.")
    folder = case.absolute()
    if not sources and not is_case_dir(folder):
        usage_error(f"{folder} is not a case folder yet: give the folders, archives or files to scan.")
    if sources and is_case_dir(folder):
        pass  # resuming with the same sources is fine; the scan checks they are the same
    cfg = get_settings()
    who = _examiner(examiner)
    try:
        settings = _settings_for(
            folder, cfg=cfg, nudity=nudity, watermarks=watermarks, banks=banks, exclude=exclude_hashes
        )
    except TakebackError as exc:
        fail(exc, code=2)
    signer = Signer.load_or_create(cfg.ensure_data_dir())
    matcher, db = _open_banks(cfg) if settings.match_banks else (None, None)
    show = progress and sys.stderr.isatty()
    bar: Progress | None = None
    task_id: Any = None

    def on_progress(p: ScanProgress) -> None:
        if bar is not None:
            bar.update(task_id, total=max(1, p.bytes_total), completed=p.bytes_done, description=p.phase, p=p)

    previous = signal.signal(signal.SIGTERM, _sigterm)
    run = RunOptions(
        signer=signer,
        examiner=who,
        jobs=jobs or cfg.jobs or default_jobs(),
        progress=on_progress if show else None,
        matcher=matcher,
    )
    case_db = None
    try:
        if show:
            bar = Progress(
                TextColumn("{task.description:<9}"),
                BarColumn(bar_width=24),
                _Stats(),
                console=err_console,
                transient=False,
            )
            bar.start()
            task_id = bar.add_task("starting", total=1, p=None)
        try:
            case_db, summary = triage.scan(
                folder, [str(s) for s in sources] if sources else None, settings=settings, run=run
            )
        finally:
            if bar is not None:
                bar.stop()
        err_console.print("Writing the report and exports...", highlight=False)
        written = triage.write_outputs(case_db, lang=lang.value, reveal=reveal, signer=signer, actor=who)
        _audit(db, who, summary.case_id, folder, summary)
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]Interrupted.[/] Finished items are saved in {shown(str(folder))}; "
            "run the same command to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except TakebackError as exc:
        fail(exc, code=2 if exc.code in (codes.CASE_MISMATCH, codes.NO_SOURCES) else EXIT_SOME_FAILED)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if case_db is not None:
            case_db.close()
        if matcher is not None:
            matcher.close()
        if db is not None:
            db.dispose()
    status = "resumed and completed" if summary.resumed else "completed"
    out.print(f"Scan {status}: case [bold]{summary.case_id}[/] in {shown(str(folder))}")
    out.print(
        f"  {summary.items:,} items: {summary.done:,} analysed, {summary.known:,} known (excluded), "
        f"{summary.errors:,} with errors; {summary.matched:,} matched a bank; {summary.groups:,} groups."
    )
    if summary.repeated:
        out.print(f"  {summary.repeated:,} items in flight when the last run stopped were processed again.")
    out.print("  " + ", ".join(shown(n) for n in written))
    if reveal:
        out.print("  [yellow]Thumbnails are clear in this report (--reveal): recorded in the custody log.[/]")
    raise typer.Exit(EXIT_SOME_FAILED if summary.errors else EXIT_OK)


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _open_banks(cfg: Settings) -> tuple[Any, Any]:
    from takeback.matching import open_matcher
    from takeback.store import database_url, open_database

    try:
        db = open_database(database_url(cfg))
    except TakebackError as exc:
        fail(
            f"The installation's database (hash banks) cannot be opened: {exc.message} "
            "Scan without bank matching with --no-banks."
        )
    matcher = open_matcher(db, data_dir=cfg.ensure_data_dir())
    for notice in matcher.notices:
        err_console.print(f"[yellow]notice:[/] {shown(notice)}", highlight=False)
    return matcher, db


def _audit(db: Any, actor: str, case_id: str, folder: Path, summary: Any) -> None:
    if db is None:
        return
    from takeback.store import record_audit

    db.run(
        lambda s: record_audit(
            s,
            actor=actor,
            action="triage.scan",
            object_type="scan_case",
            object_id=case_id,
            details={
                "folder": str(folder),
                "items": summary.items,
                "errors": summary.errors,
                "groups": summary.groups,
            },
        )
    )


# --- takeback case verify DIR ---------------------------------------------------------------------------


@case_app.command("verify")
def case_verify(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A scan case folder (made by takeback scan --case).",
            show_default=False,
            parser=paths.input_folder,
        ),
    ],
    sources: Annotated[
        bool, typer.Option("--sources", help="Also hash the source archives and every source file again.")
    ] = False,
    trusted_key: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-key", help="Require every entry to be signed by this public key (base64). Repeatable."
        ),
    ] = None,
) -> None:
    """Verify a scan case folder: the custody chain and every signature, then every hash the log
    records (sealed item records, groups, report and exports). Names the first broken entry.

    (Victim-support cases are checked by `takeback case show --case REF`.)"""
    if not is_case_dir(folder):
        usage_error(
            f"{folder} is not a scan case folder (no case.db). To check a victim-support case, use "
            "`takeback case show --case REF`; an evidence bundle, `takeback evidence verify`."
        )
    try:
        keys = [PublicKey.from_b64(k) for k in trusted_key or []]
    except ValueError:
        usage_error(
            "--trusted-key takes an Ed25519 public key in base64 (as printed by takeback keys / verify)."
        )
    try:
        v = triage.verify_case_dir(folder, sources=sources, trusted_keys=keys or None)
    except TakebackError as exc:
        fail(exc)
    out.print(f"Case [bold]{v.case_id}[/] in {shown(str(v.folder))}")
    for k in v.keys:
        out.print(f"  signed by key {shown(k.key_id)}  (fingerprint {shown(k.fingerprint)})")
    out.print(f"  {v.entries:,} custody entries, {v.items:,} items, {v.checked_files:,} files hashed")
    if v.review_entries is not None:
        out.print(f"  {v.review_entries:,} review-log entries (categorisations, notes, reveals)")
    for w in v.warnings:
        out.print(f"  [yellow]note:[/] {shown(w)}")
    first = v.first
    if first is None:
        out.print("[green]Verified:[/] the chain, every signature and every recorded hash match.")
        raise typer.Exit(EXIT_OK)
    out.print(f"[bold red]BROKEN[/] at {first.where}: {shown(first.message)} [dim]({first.code})[/]")
    for p in v.problems:
        if p is not first:
            out.print(f"  also: {shown(p.message)} [dim]({p.code})[/]")
    raise typer.Exit(EXIT_SOME_FAILED)
