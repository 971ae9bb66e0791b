"""``takeback keys``: create, list and revoke API keys for ``takeback serve``.

Works directly on the database (the service need not be running; a running service sees a new key at
once and a revocation within ``TAKEBACK_API_KEY_CACHE_SECONDS``).
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from takeback.auth import Role, create_key, describe_key, list_keys, resolve_banks, revoke_key
from takeback.cli.app import app, err_console, stdout_is_terminal, usage_error
from takeback.cli.output import Format, JsonlWriter, cli_actor, readable_utc, shown
from takeback.config import get_settings
from takeback.store import Database, database_url, open_database

keys_app = typer.Typer(
    name="keys",
    no_args_is_help=True,
    help="API keys for `takeback serve`: create (shown once), list, revoke.",
)
app.add_typer(keys_app)

out = Console(soft_wrap=True)

SHOWN_ONCE = "Store this key now: it is shown only once (only a hash of it is kept)."

_RELATIVE = re.compile(r"^(\d+)\s*([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str) -> datetime:
    """``30d``, ``12h``, ``2w``, or an ISO date/time (naive times are UTC)."""
    m = _RELATIVE.match(text.strip().lower())
    if m:
        return datetime.now(UTC) + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        usage_error(f"--expires {text!r}: use e.g. 30d, 12h, 2w, 2027-01-31 or 2027-01-31T18:00+08:00.")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _open() -> Database:
    return open_database(database_url(get_settings()))


@keys_app.command("create")
def create_command(
    role: Annotated[
        Role, typer.Option("--role", "-r", help="matcher, submitter, curator, exchange or admin.")
    ],
    bank: Annotated[
        list[str] | None,
        typer.Option("--bank", "-b", help="Limit the key to this bank (repeat for several). Default: all."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="A label: who or what uses the key.")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="Expiry: 30d, 12h, 2w or an ISO date/time. Default: never."),
    ] = None,
    rate_limit: Annotated[
        float | None,
        typer.Option(
            "--rate-limit",
            min=0,
            help="Requests per second for this key; 0 = unlimited. Default: TAKEBACK_API_RATE_LIMIT.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create an API key. The key is printed once: store it now, it cannot be shown again."""
    expires_at = parse_expiry(expires) if expires else None
    db = _open()
    try:
        with db.session() as s:
            created = create_key(
                s,
                role=role,
                actor=cli_actor(),
                name=name,
                bank_ids=resolve_banks(s, names=bank, role=role),
                expires_at=expires_at,
                rate_limit=rate_limit,
            )
            record = describe_key(s, created.info)
    finally:
        db.dispose()
    if not stdout_is_terminal():
        # JSON for scripts; the person who ran it still hears that this is the only chance
        JsonlWriter(sys.stdout).write({"key": created.token, **record})
        err_console.print(SHOWN_ONCE, style="yellow", highlight=False)
        return
    out.print(f"[bold]{created.token}[/]", highlight=False)
    scope = ", ".join(record["banks"]) if record["banks"] is not None else "all banks"
    out.print(
        f"key id {record['key_id']} · role {record['role']} · {shown(scope)}"
        + (f" · expires {readable_utc(record['expires_at'])}" if record["expires_at"] else ""),
        highlight=False,
    )
    out.print(SHOWN_ONCE, style="yellow")


@keys_app.command("list")
def list_command(
    all_keys: Annotated[bool, typer.Option("--all", help="Also list revoked and expired keys.")] = False,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table or jsonl. Default: table on a terminal, jsonl otherwise."),
    ] = None,
) -> None:
    """List API keys (ids, roles, scope, status; never the keys themselves)."""
    fmt = fmt or (Format.TABLE if stdout_is_terminal() else Format.JSONL)
    if fmt is Format.CSV:
        usage_error("keys list supports --format table or jsonl.")
    db = _open()
    try:
        with db.session() as s:
            records = [describe_key(s, k) for k in list_keys(s, include_inactive=all_keys)]
    finally:
        db.dispose()
    if fmt is Format.JSONL:
        writer = JsonlWriter(sys.stdout)
        for r in records:
            writer.write(r)
        return
    if not records:
        out.print("No API keys yet. Create one: takeback keys create --role admin")
        return
    table = Table(
        Column("key id", no_wrap=True, min_width=12),  # what `keys revoke` needs: never cut
        "role",
        "name",
        "banks",
        "rate/s",
        Column("expires", min_width=10),
        "status",
        "created by",
        box=None,  # as `bank list`: the columns, not the lines, fit an 80-column terminal
        pad_edge=False,
        header_style="bold",
    )
    for r in records:
        table.add_row(
            r["key_id"],
            r["role"],
            shown(r["name"] or ""),
            shown(", ".join(r["banks"])) if r["banks"] is not None else "all",
            "default"
            if r["rate_limit"] is None
            else ("unlimited" if r["rate_limit"] == 0 else f"{r['rate_limit']:g}"),
            readable_utc(r["expires_at"]) or "never",
            r["status"],
            shown(r["created_by"]),
        )
    out.print(table)


@keys_app.command("revoke")
def revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key id (shown by `keys list`) or the whole key.")],
) -> None:
    """Revoke a key. A running service refuses it within TAKEBACK_API_KEY_CACHE_SECONDS (default 2 s)."""
    db = _open()
    try:
        with db.session() as s:
            info = revoke_key(s, key_id=key_id, actor=cli_actor())
    finally:
        db.dispose()
    out.print(f"revoked {info.key_id} ({info.role.value})", highlight=False)
