"""``takeback person``: enrol a consenting person's face, list who is enrolled, withdraw.

Thin over ``faces.service``. Photos are read, turned into templates and forgotten: neither the
photos nor their file names are stored (a file name is often her name); she is known by a random
pseudonym. The file names appear only on this terminal, to say which photo was refused.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from takeback.cli import paths
from takeback.cli.app import app, err_console, fail, stdout_is_terminal, usage_error
from takeback.cli.output import Format, JsonlWriter, readable_utc, shown
from takeback.config import ACTOR_SELF, acting, get_settings, installation_secret
from takeback.errors import TakebackError
from takeback.media import Limits

person_app = typer.Typer(
    name="person",
    no_args_is_help=True,
    help="Consenting people's face enrolment: enrol, list, withdraw (templates only, never photos).",
)
app.add_typer(person_app)
out = Console(soft_wrap=True)

ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help=f"Who is acting, as the audit log records it. Default: TAKEBACK_ACTOR, else '{ACTOR_SELF}'.",
        show_default=False,
    ),
]


def _read(paths: list[Path], limits: Limits) -> list[bytes]:
    photos = []
    for p in paths:
        try:
            size = p.stat().st_size
            if size > limits.max_file_bytes:
                fail(f"{shown(str(p))} is {size:,} bytes, over the limit of {limits.max_file_bytes:,}.")
            photos.append(p.read_bytes())
        except OSError as exc:
            fail(f"Cannot read {shown(str(p))}: {exc.strerror or exc}.")
    return photos


@person_app.command("enrol")
def enrol_command(
    photos: Annotated[
        list[Path],
        typer.Argument(
            help="Photos of her face (one face each), several if you can.", parser=paths.input_file
        ),
    ],
    case: Annotated[str, typer.Option("--case", "-c", help="Her case reference.", show_default=False)],
    consent_ref: Annotated[
        str | None,
        typer.Option(
            "--consent-ref", help="The reference of the consent she gave (required).", show_default=False
        ),
    ] = None,
    scope_cases: Annotated[
        list[str] | None,
        typer.Option("--scope-cases", help="Other cases that may search for her (repeat or comma-separate)."),
    ] = None,
    platform_matching: Annotated[
        bool,
        typer.Option("--platform-matching", help="She agreed that platforms may check uploads for her face."),
    ] = False,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Last day of her consent (YYYY-MM-DD).", show_default=False),
    ] = None,
    face: Annotated[
        int | None,
        typer.Option("--face", help="In a photo with several faces, which one is hers (1, 2, ...)."),
    ] = None,
    by: ByOpt = None,
) -> None:
    """Enrol a consenting person's face from her photos: templates only, sealed; all or nothing."""
    from takeback.cases import service as cases
    from takeback.faces import service as faces
    from takeback.store import database_url, open_database

    until = None
    if expires is not None:
        try:
            until = date.fromisoformat(expires.strip())
        except ValueError:
            usage_error(f"--expires is a date, YYYY-MM-DD; got {expires!r}.")
    scope = [r for item in scope_cases or () for r in item.replace(",", " ").split()]
    cfg = get_settings()
    limits = Limits.from_settings(cfg)
    data = _read(photos, limits)
    secret = installation_secret(cfg.ensure_data_dir(), faces.SECRET_NAME)
    db = open_database(database_url(cfg))
    try:
        with db.session() as s:
            c = cases.get_case(s, reference=case)
            done = faces.enrol(
                s,
                case=c,
                consent_ref=consent_ref,
                photos=data,
                secret=secret,
                actor=acting(by, default=ACTOR_SELF),
                limits=limits,
                scope_cases=scope,
                platform_matching=platform_matching,
                expires=until,
                face=face,
            )
            pseudonym, shown_faces = done.person.pseudonym, done.faces
    except TakebackError as exc:
        if exc.code == "photo_refused":
            for i, p in enumerate(photos, 1):
                err_console.print(f"photo {i}: {shown(str(p))}", highlight=False)
        fail(exc)
    finally:
        db.dispose()
    out.print(
        f"Enrolled [bold]{pseudonym}[/] in {case.upper()}: {len(shown_faces)} template(s).", highlight=False
    )
    for i, f in enumerate(shown_faces, 1):
        notes = ", ".join(w.value for w in f.warnings) or "no warnings"
        out.print(
            f"  photo {i}: face {f.box[2]}x{f.box[3]} px, score {f.score:.2f}, {notes}", highlight=False
        )
    out.print("The photos were not kept. Withdraw at any time: takeback person withdraw " + pseudonym)


@person_app.command("list")
def list_command(
    case: Annotated[str | None, typer.Option("--case", "-c", help="Only this case's people.")] = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table or jsonl. Default: table on a terminal, jsonl otherwise."),
    ] = None,
    by: ByOpt = None,
) -> None:
    """List enrolled people (pseudonym, case, consent, scope, expiry, templates; never a template)."""
    from takeback.cases import service as cases
    from takeback.faces import service as faces
    from takeback.store import database_url, open_database

    fmt = fmt or (Format.TABLE if stdout_is_terminal() else Format.JSONL)
    db = open_database(database_url(get_settings()))
    try:
        with db.session() as s:
            c = cases.get_case(s, reference=case) if case else None
            people = faces.list_persons(s, case=c, actor=acting(by, default=ACTOR_SELF))
    except TakebackError as exc:
        fail(exc)
    finally:
        db.dispose()
    rows = [
        {
            "person": p.pseudonym,
            "case": p.case,
            "consent_ref": p.consent_ref,
            "scope_cases": list(p.scope_cases),
            "platform_matching": p.platform_matching,
            "expires_at": None if p.expires_at is None else p.expires_at.isoformat(),
            "templates": p.templates,
            "model": p.model,
            "created_at": p.created_at.isoformat(),
        }
        for p in people
    ]
    if fmt is not Format.TABLE:
        writer = JsonlWriter(sys.stdout)
        for r in rows:
            writer.write(r)
        return
    if not people:
        out.print(
            "Nobody is enrolled. Enrol with consent: takeback person enrol --case C --consent-ref REF PHOTO"
        )
        return
    for p in people:
        scope = " ".join(p.scope_cases) or "own case"
        until = readable_utc(p.expires_at) if p.expires_at else "no expiry"
        out.print(
            f"{p.pseudonym:<12} {p.case:<14} consent {shown(p.consent_ref)}  {p.templates} template(s)  "
            f"scope: {scope}  platforms: {'yes' if p.platform_matching else 'no'}  until {until}",
            highlight=False,
        )


@person_app.command("withdraw")
def withdraw_command(
    person: Annotated[str, typer.Argument(help="The pseudonym enrolment printed (FP-...).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit log (optional).")] = None,
    by: ByOpt = None,
) -> None:
    """Withdraw a person's enrolment: her templates are deleted now (the audit log keeps that it happened)."""
    from takeback.faces import service as faces
    from takeback.store import database_url, open_database

    db = open_database(database_url(get_settings()))
    try:
        with db.session() as s:
            n = faces.withdraw(s, pseudonym=person, actor=acting(by, default=ACTOR_SELF), reason=reason)
    except TakebackError as exc:
        fail(exc)
    finally:
        db.dispose()
    out.print(f"Withdrawn: {person.strip().upper()}'s {n} template(s) deleted.", highlight=False)
