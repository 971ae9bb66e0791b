"""``takeback serve``: run the matching service (HMA-compatible HTTP API) on this machine.

On a database with no active admin key it creates one and prints it (once), so a fresh install is
usable straight away.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

from takeback.auth import ApiKey, Role, create_key
from takeback.cli.app import app, fail
from takeback.config import Settings, get_settings
from takeback.store import Database, database_url, open_database

out = Console(soft_wrap=True)
#: Uvicorn's httptools protocol plus request-head size and time limits (see takeback.web.protocol)
HTTP_PROTOCOL = "takeback.web.protocol:GuardedHttpToolsProtocol"


def ensure_admin_key(db: Database) -> str | None:
    """Create and return a first admin key when no active admin key exists; else ``None``."""
    with db.session() as s:
        admins = s.scalars(select(ApiKey).where(ApiKey.role == Role.ADMIN.value)).all()
        if any(k.status() == "active" for k in admins):
            return None
        created = create_key(s, role=Role.ADMIN, actor="cli:serve", name="first admin key")
        return created.token


def ensure_first_staff(db: Database, settings: Settings) -> str | None:
    """With no staff account yet, make the first administrator (handle ``admin``) and return its
    one-time enrolment token: the person who started the server opens the link, chooses a password
    and adds the second factor; later accounts are made on the admin page or with ``takeback users``."""
    from takeback.config import installation_secret
    from takeback.staff import service as staff
    from takeback.staff.models import StaffRole, StaffUser

    with db.session() as s:
        if s.scalar(select(StaffUser.id).limit(1)) is not None:
            return None
        key = installation_secret(settings.ensure_data_dir(), staff.SECRET_NAME)
        _, token = staff.create_user(s, handle="admin", role=StaffRole.ADMIN, key=key, actor="cli:serve")
        return token


def _check_port(host: str, port: int) -> None:
    """Fail with a sentence, not a traceback, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"Port {port} on {host} is already in use; choose another with --port.", code=2)
            fail(f"Cannot listen on {host}:{port}: {exc.strerror}.", code=2)


def _banner(
    settings: Settings, host: str, port: int, workers: int, admin_key: str | None, staff_token: str | None
) -> None:
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}"
    out.print(f"[bold]takeback[/] · {url}", highlight=False)
    out.print(
        f"  victim portal {url}/   (a person's own browser: fingerprint, case number, guidance)",
        highlight=False,
    )
    out.print(
        f"  staff console {url}/console   (caseworkers, investigators: sign-in with a second factor)",
        highlight=False,
    )
    out.print(f"  API docs      {url}/docs   (the matching service, HMA-compatible)", highlight=False)
    out.print(f"  readiness     {url}/status   liveness {url}/status/live", highlight=False)
    db_shown = "SQLite in " + str(settings.data_dir) if not settings.database_url else "TAKEBACK_DATABASE_URL"
    out.print(f"  database      {db_shown}", highlight=False)
    out.print(f"  workers       {workers}", highlight=False)
    if admin_key:
        out.print("\nFirst admin key (shown once; only a hash is stored):", highlight=False)
        out.print(f"  [bold]{admin_key}[/]", highlight=False)
        out.print("\nTry it:", highlight=False)
        out.print(
            f"  curl -s -H 'Authorization: Bearer {admin_key}' -H 'Content-Type: application/json' "
            f'-d \'{{"name": "NCII"}}\' {url}/c/banks',
            highlight=False,
        )
        out.print(
            "  takeback keys create --role matcher --name my-platform   (keys for clients)", highlight=False
        )
    else:
        out.print(
            "\nAdmin keys already exist (takeback keys list). New key: takeback keys create --role admin",
            highlight=False,
        )
    if staff_token:
        out.print(
            "\nFirst staff administrator (handle admin): open this link once to set it up", highlight=False
        )
        out.print(f"  [bold]{url}/console/enrol/{staff_token}[/]", highlight=False)
    out.print("Press Ctrl-C to stop (in-flight requests finish first).\n", highlight=False)


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="Worker processes; they share the index file's pages. Default: 2 (1 on a 1-core machine).",
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option("--access-log", help="Log each request line (off by default: URLs carry hashes)."),
    ] = False,
) -> None:
    """Serve the HTTP API: HMA-compatible /h, /m and /c routes plus /v1 (batch matching, keys).

    SQLite in the data folder by default; PostgreSQL when TAKEBACK_DATABASE_URL says so. Every route
    but /status and /status/live needs an API key.
    """
    settings = get_settings()
    workers = workers or min(2, os.cpu_count() or 1)
    db = open_database(database_url(settings))
    try:
        admin_key = ensure_admin_key(db)
        staff_token = ensure_first_staff(db, settings)
    finally:
        db.dispose()
    _check_port(host, port)
    _banner(settings, host, port, workers, admin_key, staff_token)
    sys.stdout.flush()
    sys.stderr.flush()
    # Become a plain Uvicorn process: the supervisor and its workers then import only the service,
    # not every CLI command (about 130 MB less per process), and signals reach Uvicorn directly
    # (SIGTERM / Ctrl-C: stop accepting, finish in-flight requests, run the lifespan's shutdown).
    # Settings travel in the environment (TAKEBACK_*), as they came in; so do the run folder where
    # each worker says it is ready and the worker count (readiness is every worker's: web.workers).
    # exec keeps this process's id, which becomes the supervisor's.
    from takeback.web.workers import RUN_DIR_ENV, WORKERS_ENV, prepare_run_dir

    os.environ[RUN_DIR_ENV] = str(prepare_run_dir(settings.ensure_data_dir(), os.getpid()))
    os.environ[WORKERS_ENV] = str(workers)
    args = [
        sys.executable, "-m", "uvicorn", "takeback.web.app:create_app_from_env", "--factory",
        "--host", host, "--port", str(port), "--workers", str(workers),
        "--log-level", "info", "--access-log" if access_log else "--no-access-log",
        "--timeout-graceful-shutdown", "15", "--timeout-keep-alive", "30", "--backlog", "4096",
        "--no-server-header", "--no-proxy-headers",
        "--http", HTTP_PROTOCOL,
    ]  # fmt: skip
    os.execv(sys.executable, args)  # noqa: S606 (no shell: a fixed argument list)
