"""``takeback evidence``: capture, list, timeline, signed bundles and their verification."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from takeback.cases import service as cs
from takeback.cli import paths
from takeback.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, err_console, fail, usage_error
from takeback.cli.case_cmd import (
    ByOpt,
    CaseOpt,
    Lang,
    actor,
    database,
    local,
    open_locker,
    out,
    run_db,
    signer,
    when,
)
from takeback.cli.output import CsvWriter, JsonlWriter, quality_note, shown
from takeback.clock import as_utc, get_zone, iso_utc, local_zone_name
from takeback.errors import TakebackError
from takeback.evidence import service as ev
from takeback.evidence.bundle import verify_bundle
from takeback.evidence.receipts import verify_receipt
from takeback.portal import casework

evidence_app = typer.Typer(
    no_args_is_help=True, help="Tamper-evident evidence locker: capture, timeline, signed bundles."
)
app.add_typer(evidence_app, name="evidence")


#: Said before a bundle with originals is written, to the person who will hand it over.
ORIGINALS_WARNING = (
    "This bundle will contain the original images, unencrypted: anyone who gets the file can open "
    "them, and copies cannot be called back. Give it only to someone who needs the images themselves "
    "(the police, or a lawyer or court acting in the case), hand it over in person or through their "
    "secure upload (not by e-mail or chat), and delete your other copies afterwards. Platforms, "
    "helplines and regulators need only the default bundle without originals: its fingerprints let "
    "them find and remove copies."
)


class ListFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    CSV = "csv"


@evidence_app.command("add")
def evidence_add(
    case: CaseOpt,
    file: Annotated[
        Path | None,
        typer.Argument(help="The file to capture.", show_default=False, parser=paths.input_file),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="Capture a URL (fetched safely: public addresses only).", show_default=False
        ),
    ] = None,
    platform: Annotated[
        str | None, typer.Option("--platform", help="Where it was posted.", show_default=False)
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Handle or ID of who posted it.", show_default=False)
    ] = None,
    posted_at: Annotated[
        str | None,
        typer.Option(
            "--posted-at",
            help="When it was posted: 2026-03-08T14:30+08:00, or local time with --tz.",
            show_default=False,
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--tz",
            help="Time zone of --posted-at without an offset (default: this computer's).",
            show_default=False,
        ),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", show_default=False)] = None,
    hash_only: Annotated[
        bool, typer.Option("--hash-only", help="Keep fingerprints and context only; store no original.")
    ] = False,
    no_fetch: Annotated[
        bool, typer.Option("--no-fetch", help="With --url: record the link without downloading it.")
    ] = False,
    by: ByOpt = None,
) -> None:
    """Capture evidence: SHA-256 and PDQ at capture, capture time (UTC and local zone), who captured,
    and the original encrypted in the locker (unless --hash-only). Every capture is sealed in the
    case's signed custody log."""
    if (file is None) == (url is None):
        usage_error("Give a FILE or --url URL (one of them).")
    zone = tz or local_zone_name()
    try:
        get_zone(zone)
    except TakebackError as exc:
        usage_error(exc.message)
    posted = when(posted_at, zone, "posting time")
    who = actor(by)

    def check(s: Session) -> bool:
        """Consent and the case's age, before anything is asked for (the locker passphrase) or read."""
        c = cs.get_case(s, reference=case)
        ev.require_capture_consent(s, case=c, actor=who)
        return c.age.under_18

    minor = run_db(check)
    sig = signer()
    if minor and not hash_only and file is not None:
        fail(
            TakebackError(
                f"Case {case.upper()} concerns someone who is or "
                "was under 18: takeback never stores those images. "
                "Run again with --hash-only (fingerprints and context only), and report to the police and a "
                "child-protection service (see `takeback guide`).",
                code="minor_images_refused",
            )
        )
    store = not hash_only and not minor and not (url is not None and no_fetch)
    locker = open_locker(create=True) if store else None

    def work(s: Session) -> dict[str, Any]:
        c = cs.get_case(s, reference=case)
        if file is not None:
            item = ev.add_file(
                s,
                case=c,
                path=file,
                actor=who,
                signer=sig,
                locker=locker,
                capture_zone=zone,
                platform=platform,
                account=account,
                posted_at=posted,
                note=note,
            )
        else:
            assert url is not None
            item = ev.add_url(
                s,
                case=c,
                url=url,
                actor=who,
                signer=sig,
                locker=locker,
                capture_zone=zone,
                fetch_content=not no_fetch,
                platform=platform,
                account=account,
                posted_at=posted,
                note=note,
            )
        return {**_record(item), "captured_case_local": local(item.captured_at, c.timezone)}

    rec = run_db(work)
    out.print(f"Item {rec['id']} captured in {case.upper()} (custody entry {rec['custody_seq']}).")
    if rec["sha256"]:
        out.print(f"  sha256 {rec['sha256']}")
    if rec["pdq"]:
        out.print(f"  pdq    {rec['pdq']}  {quality_note(rec['pdq_quality'])}")
    if rec["fingerprint_error"]:
        out.print(f"  [yellow]{shown(rec['fingerprint_error']['message'])}[/]")
    out.print(f"  captured {rec['captured_case_local']} by {shown(who)}")
    out.print(
        "  original stored encrypted"
        if rec["stored"]
        else "  no original stored (fingerprints and context only)"
    )


def _record(it: Any) -> dict[str, Any]:
    return {
        "id": it.id,
        "kind": it.kind,
        "url": it.url,
        "final_url": it.final_url,
        "original_name": it.original_name,
        "platform": it.platform,
        "account": it.account,
        "posted_at": iso_utc(as_utc(it.posted_at)) if it.posted_at else None,
        "captured_at": iso_utc(as_utc(it.captured_at)),
        "captured_local": local(it.captured_at, it.capture_zone),
        "capture_zone": it.capture_zone,
        "captured_by": it.captured_by,
        "sha256": it.sha256,
        "md5": it.md5,
        "pdq": it.pdq,
        "pdq_quality": it.pdq_quality,
        "size": it.size,
        "media_type": it.media_type,
        "stored": it.stored,
        "note": it.note,
        "custody_seq": it.custody_seq,
        "fingerprint_error": it.fingerprint_error,
    }


@evidence_app.command("list")
def evidence_list(
    case: CaseOpt,
    fmt: Annotated[
        ListFormat, typer.Option("--format", "-f", help="table, jsonl or csv.")
    ] = ListFormat.TABLE,
) -> None:
    """Every item of a case with its hashes, times and source.

    The table shows every time in the case's time zone (named once at the top); jsonl and csv keep
    ISO 8601 UTC (``...Z``), with each capture's own zone in ``capture_zone``."""

    def work(s: Session) -> tuple[str, list[tuple[dict[str, Any], str, str]]]:
        c = cs.get_case(s, reference=case)
        return c.timezone, [
            (_record(i), local(i.captured_at, c.timezone), local(i.posted_at, c.timezone))
            for i in ev.list_items(s, case=c)
        ]

    zone, rows = run_db(work)
    recs = [r for r, _, _ in rows]
    if fmt is ListFormat.JSONL:
        w = JsonlWriter(sys.stdout)
        for r in recs:
            w.write(r)
        return
    if fmt is ListFormat.CSV:
        cw = CsvWriter(sys.stdout, list(recs[0]) if recs else ["id"])
        for r in recs:
            cw.write(r)
        return
    if not recs:
        out.print(f"No evidence yet in {case.upper()}: `takeback evidence add --case {case.upper()} FILE`.")
        return
    out.print(f"Evidence in {case.upper()} (times in {zone})")
    for r, captured, posted in rows:
        src = " · ".join(x for x in (r["platform"], r["account"], r["url"] or r["original_name"]) if x)
        out.print(f"[bold]#{r['id']}[/] {shown(src)}")
        out.print(
            f"    captured {captured} by {shown(r['captured_by'])}; "
            f"{'original stored' if r['stored'] else 'hash only'}"
        )
        if posted:
            out.print(f"    posted   {posted}")
        if r["sha256"]:
            out.print(f"    sha256 {r['sha256']}")
        if r["pdq"]:
            out.print(f"    pdq    {r['pdq']}  {quality_note(r['pdq_quality'])}")


def _portal_row(e: casework.EvidenceEvent) -> tuple[datetime, str, str, str | None]:
    """What she did on the portal, as a timeline line: hashes sent, her log, her encrypted files."""
    if e.kind == "submission":
        state = f", withdrawn {iso_utc(e.withdrawn_at)}" if e.withdrawn_at else ""
        return e.at, "portal", f"she sent the hashes of a {e.text} (SHA-256 {e.sha256}){state}", None
    if e.kind == "log":
        what = " · ".join(x for x in (e.log_kind, e.platform, e.account, e.url, e.text) if x)
        return e.at, "her log", what, e.reference
    return (
        e.at,
        "portal",
        f"she stored an encrypted file ({e.size or 0:,} bytes; only her passphrase opens it)",
        None,
    )


@evidence_app.command("timeline")
def evidence_timeline(
    case: CaseOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One chronological timeline: postings, captures, reports made (with reference numbers), replies."""

    def work(s: Session) -> tuple[str, list[dict[str, Any]]]:
        c = cs.get_case(s, reference=case)
        rows = [(e.at, e.kind, e.text, e.reference) for e in ev.timeline(s, case=c)]
        rows += [_portal_row(e) for e in casework.evidence_timeline(s, case=c) if e.source == "portal"]
        rows.sort(key=lambda r: r[0])
        return c.timezone, [
            {"at": iso_utc(at), "local": local(at, c.timezone), "kind": kind, "text": text, "reference": ref}
            for at, kind, text, ref in rows
        ]

    zone, events = run_db(work)
    if as_json:
        sys.stdout.write(json.dumps(events, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"Timeline of {case.upper()} (times in {zone})")
    for e in events:
        ref = shown(f"  [ref {e['reference']}]") if e["reference"] else ""
        out.print(f"{e['local']}  {e['kind']:<9} {shown(e['text'])}{ref}")


@evidence_app.command("bundle")
def evidence_bundle(
    case: CaseOpt,
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="The ZIP file to write.", show_default=False, parser=paths.output_file
        ),
    ],
    with_originals: Annotated[
        bool,
        typer.Option(
            "--with-originals",
            help="Also put the original images in the ZIP, unencrypted (for the police or a court only).",
        ),
    ] = False,
    hashes_only: Annotated[
        bool,
        typer.Option(
            "--hashes-only", help="Fingerprints and context only (the default; kept for old scripts)."
        ),
    ] = False,
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the summary: en or zh-Hant.")] = Lang.EN,
    by: ByOpt = None,
) -> None:
    """Export a signed bundle: manifest.json, the custody log and a PDF + HTML summary, with the
    fingerprints (SHA-256, PDQ) of every item but not the images themselves. --with-originals adds
    the originals, unencrypted. `takeback evidence verify` checks a bundle."""
    if with_originals and hashes_only:
        usage_error("--with-originals and --hashes-only contradict each other; give one.")
    if out_path.exists():
        usage_error(f"{out_path} already exists; choose another name.")
    needs_locker = with_originals and run_db(
        lambda s: any(i.stored for i in ev.list_items(s, case=cs.get_case(s, reference=case)))
    )
    if needs_locker:
        err_console.print(f"[bold yellow]Warning:[/] {ORIGINALS_WARNING}", highlight=False)
    locker = open_locker(create=False) if needs_locker else None
    with database() as db:
        try:
            res = casework.export_case_bundle(
                db,
                reference=case,
                out=out_path,
                signer=signer(),
                actor=actor(by),
                locker=locker,
                with_originals=with_originals,
                lang=lang.value,
            )
        except TakebackError as exc:
            fail(exc)
    originals = (
        f"{res.originals} original{'' if res.originals == 1 else 's'} (unencrypted)"
        if with_originals
        else "no originals (fingerprints and context only)"
    )
    items = f"{res.items} item{'' if res.items == 1 else 's'}"
    out.print(f"Wrote {shown(res.path)} ({res.bytes:,} bytes): {items}, {originals}.")
    out.print(f"  sha256 {res.sha256}")
    out.print(f"  signing key {signer().public.fingerprint}")
    if not with_originals:
        out.print(
            "  No images inside: its fingerprints let a platform, a helpline or a regulator find copies. "
            "For the police or a court, who may need the images themselves, add --with-originals."
        )


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[
        Path, typer.Argument(help="The bundle ZIP.", show_default=False, parser=paths.input_file)
    ],
    trusted_key: Annotated[
        str | None,
        typer.Option(
            "--trusted-key", help="Require this signing key (key id or fingerprint).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every hash, the custody chain and the signatures; name the first thing that fails."""
    r = verify_bundle(bundle, trusted_key=trusted_key)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "ok": r.ok,
                    "checks": r.checks,
                    "failure": None
                    if r.failure is None
                    else {"code": r.failure.code, "member": r.failure.member, "message": r.failure.message},
                    "key_id": r.key.key_id if r.key else None,
                    "fingerprint": r.key.fingerprint if r.key else None,
                    "items": r.items,
                    "originals": r.originals,
                    "custody_entries": r.custody_entries,
                    "supplements": r.supplements,
                },
                indent=2,
            )
            + "\n"
        )
        raise typer.Exit(EXIT_OK if r.ok else EXIT_SOME_FAILED)
    for c in r.checks:
        out.print(f"  [green]ok[/]  {shown(c)}")
    if not r.ok:
        assert r.failure is not None
        where = f" ({r.failure.member})" if r.failure.member else ""
        out.print(f"[bold red]FAILED[/] {shown(r.failure.code)}{shown(where)}: {shown(r.failure.message)}")
        raise typer.Exit(EXIT_SOME_FAILED)
    out.print(
        f"[bold green]VERIFIED[/] {shown(r.reference)}: {r.items} items, {r.originals} originals, "
        f"{r.custody_entries} custody entries."
    )
    if r.supplements.get("portal"):
        n = r.supplements["portal"]
        out.print(f"  and {n} records from the victim portal, with their receipts checked")
    if r.key:
        out.print(f"  signed by key {shown(r.key.key_id)}; fingerprint {shown(r.key.fingerprint)}")
        if trusted_key is None:
            out.print("  Compare this fingerprint with the one the sender gave you (or pass --trusted-key).")


@evidence_app.command("verify-receipt")
def evidence_verify_receipt(
    receipt: Annotated[
        Path,
        typer.Argument(
            help="The receipt (.json) the portal gave.", show_default=False, parser=paths.input_file
        ),
    ],
    file: Annotated[
        Path, typer.Argument(help="The original file.", show_default=False, parser=paths.input_file)
    ],
    trusted_key: Annotated[
        str | None,
        typer.Option(
            "--trusted-key", help="Require this signing key (key id or fingerprint).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that FILE is the exact file a signed hash receipt was issued for, and when."""
    try:
        data = receipt.read_bytes()
    except OSError as exc:
        fail(f"Cannot read {shown(str(receipt))}: {exc.strerror or exc}.")
    r = verify_receipt(data, file, trusted_key=trusted_key)
    rec = r.receipt
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "ok": r.ok,
                    "checks": r.checks,
                    "failure": r.failure,
                    "case": rec.case if rec else None,
                    "received_at": iso_utc(rec.received_at) if rec else None,
                    "sha256": rec.sha256 if rec else None,
                    "key_id": rec.key.key_id if rec else None,
                    "fingerprint": rec.key.fingerprint if rec else None,
                },
                indent=2,
            )
            + "\n"
        )
        raise typer.Exit(EXIT_OK if r.ok else EXIT_SOME_FAILED)
    for c in r.checks:
        out.print(f"  [green]ok[/]  {shown(c)}")
    if not r.ok or rec is None:
        out.print(f"[bold red]NOT VERIFIED[/] {shown(r.failure or '')}")
        raise typer.Exit(EXIT_SOME_FAILED)
    out.print(
        f"[bold green]VERIFIED[/] {shown(file.name)} existed by {shown(iso_utc(rec.received_at))} (UTC): "
        f"its hashes were received for case {shown(rec.case)}."
    )
    out.print(f"  signed by key {shown(rec.key.key_id)}; fingerprint {shown(rec.key.fingerprint)}")
    if trusted_key is None:
        out.print(
            "  Compare this fingerprint with the one the installation publishes (or pass --trusted-key)."
        )
