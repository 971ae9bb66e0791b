"""``takeback users`` and ``takeback review add``: staff accounts and scan folders for the console.

Works directly on the database, as ``takeback keys`` does, through the same ``staff.service``
functions the console's admin page calls. A new account (and a reset second factor) gets a
one-time enrolment link: the person opens it, chooses a password and scans a QR code; nobody
else ever knows either.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from takeback.cli.app import app, err_console, stdout_is_terminal
from takeback.cli.output import Format, JsonlWriter, cli_actor, readable_utc, shown
from takeback.cli.paths import input_folder
from takeback.clock import as_utc
from takeback.config import get_settings, installation_secret
from takeback.portal import casework
from takeback.staff import service as staff
from takeback.staff.models import StaffRole
from takeback.store import Database, database_url, open_database

users_app = typer.Typer(
    name="users",
    no_args_is_help=True,
    help="Staff accounts for the console (/console): create, list, deactivate, reset-totp, assign.",
)
app.add_typer(users_app)
review_app = typer.Typer(name="review", no_args_is_help=True, help="Scan case folders for the review grid.")
app.add_typer(review_app)

out = Console(soft_wrap=True)
BASE_URL_HELP = "The address people open takeback serve at (for the link printed)."
LINK_ONCE = (
    "Give this link to the person privately. It works once, for 72 hours, and is not shown again; "
    "they choose their password and add the second factor there."
)


def _open() -> tuple[Database, bytes]:
    cfg = get_settings()
    return open_database(database_url(cfg)), installation_secret(cfg.ensure_data_dir(), staff.SECRET_NAME)


def _link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/console/enrol/{token}"


def _print_link(handle: str, role: str, link: str) -> None:
    if not stdout_is_terminal():
        JsonlWriter(sys.stdout).write({"handle": handle, "role": role, "enrolment_link": link})
        err_console.print(LINK_ONCE, style="yellow", highlight=False)
        return
    out.print(f"{shown(handle)} ({role}): [bold]{link}[/]", highlight=False)
    out.print(LINK_ONCE, style="yellow")


@users_app.command("create")
def create_command(
    handle: Annotated[
        str, typer.Argument(help="A login name (2-32 of a-z 0-9 . _ -); need not be a real name.")
    ],
    role: Annotated[
        StaffRole, typer.Option("--role", "-r", help="caseworker, supervisor, investigator or admin.")
    ],
    base_url: Annotated[str, typer.Option("--base-url", help=BASE_URL_HELP)] = "http://127.0.0.1:8000",
) -> None:
    """Create a staff account; prints its one-time enrolment link."""
    db, key = _open()
    try:
        with db.session() as s:
            user, token = staff.create_user(s, handle=handle, role=role, key=key, actor=cli_actor())
            name, kind = user.handle, user.role
    finally:
        db.dispose()
    _print_link(name, kind, _link(base_url, token))


@users_app.command("list")
def list_command(
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table or jsonl. Default: table on a terminal, jsonl otherwise."),
    ] = None,
) -> None:
    """List staff accounts (handles, roles, state; never a password or seed)."""
    fmt = fmt or (Format.TABLE if stdout_is_terminal() else Format.JSONL)
    db, _ = _open()
    try:
        with db.session() as s:
            rows = [
                {
                    "handle": u.handle,
                    "role": u.role,
                    "state": "deactivated" if not u.active else "active" if u.totp_sealed else "not enrolled",
                    "created_at": as_utc(u.created_at).isoformat(),
                }
                for u in staff.list_users(s)
            ]
    finally:
        db.dispose()
    if fmt is not Format.TABLE:
        writer = JsonlWriter(sys.stdout)
        for r in rows:
            writer.write(r)
        return
    if not rows:
        out.print("No staff accounts yet. Create one: takeback users create HANDLE --role admin")
        return
    for r in rows:
        out.print(
            f"{shown(r['handle']):<24} {r['role']:<13} {r['state']:<13} {readable_utc(r['created_at'])}"
        )


@users_app.command("deactivate")
def deactivate_command(handle: Annotated[str, typer.Argument(help="The account's handle.")]) -> None:
    """Stop an account signing in (its sessions end now). Accounts are never deleted."""
    db, _ = _open()
    try:
        with db.session() as s:
            user = staff.deactivate(s, handle=handle, actor=cli_actor())
            name = user.handle
    finally:
        db.dispose()
    out.print(f"{shown(name)} is deactivated: it cannot sign in, and its sessions have ended.")


@users_app.command("reset-totp")
def reset_totp_command(
    handle: Annotated[str, typer.Argument(help="The account's handle.")],
    base_url: Annotated[str, typer.Option("--base-url", help=BASE_URL_HELP)] = "http://127.0.0.1:8000",
) -> None:
    """Clear an account's second factor (a lost phone); prints a new enrolment link."""
    db, key = _open()
    try:
        with db.session() as s:
            user, token = staff.reset_totp(s, handle=handle, key=key, actor=cli_actor())
            name, kind = user.handle, user.role
    finally:
        db.dispose()
    _print_link(name, kind, _link(base_url, token))


@users_app.command("assign")
def assign_command(
    handle: Annotated[str, typer.Argument(help="The account's handle.")],
    case: Annotated[
        str | None, typer.Option("--case", help="A victim case number (to a caseworker).")
    ] = None,
    scan: Annotated[int | None, typer.Option("--scan", help="A registered scan folder's number.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Take the access away instead.")] = False,
) -> None:
    """Give a caseworker a case, or an investigator a scan folder (or --remove it)."""
    db, _ = _open()
    try:
        with db.session() as s:
            if remove:
                done = staff.unassign(s, handle=handle, case_reference=case, scan_id=scan, actor=cli_actor())
                message = "Removed." if done else "Nothing to remove: that was not assigned."
            else:
                staff.assign(
                    s,
                    handle=handle,
                    case_reference=case,
                    scan_id=scan,
                    actor=cli_actor(),
                    closed=casework.closed_case,
                )
                message = f"Assigned to {shown(staff.normalise_handle(handle))}."
    finally:
        db.dispose()
    out.print(message, highlight=False)


@review_app.command("add")
def review_add_command(
    folder: Annotated[Path, typer.Argument(parser=input_folder, help="A takeback scan case folder.")],
    label: Annotated[str, typer.Option("--label", "-l", help="How the review grid names it.")],
) -> None:
    """Register a scan case folder for the review grid (opened in place; the folder is not copied)."""
    from takeback.triage.casedb import is_case_dir

    if not is_case_dir(folder):
        from takeback.cli.app import usage_error

        usage_error(f"{shown(str(folder))} is not a scan case folder (it has no case.db).")
    db, _ = _open()
    try:
        with db.session() as s:
            row = staff.register_scan(s, folder=folder, label=label, actor=cli_actor())
            number = row.id
    finally:
        db.dispose()
    out.print(
        f"Registered as scan folder {number}. Assign it: takeback users assign HANDLE --scan {number}",
        highlight=False,
    )
