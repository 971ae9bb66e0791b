"""Entry point: assembles the command groups and turns expected errors into clean exits.

Each command module registers its commands on the shared Typer ``app`` when imported. ``run`` imports
only the module(s) of the command being run (``takeback hash`` needs neither the web stack nor the
database layer), which saves about a second of start-up; ``--help``, no command or an unknown one
load them all so that every command is listed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from takeback.cli.app import EXIT_SOME_FAILED, app, err_console
from takeback.cli.output import shown
from takeback.errors import TakebackError

__all__ = ["COMMAND_MODULES", "full_app", "load_commands", "run"]

#: top-level command -> the modules that register it (``case verify`` lives with ``scan``)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "bank": ("bank_cmd",),
    "case": ("case_cmd", "scan_cmd"),
    "evidence": ("evidence_cmd",),
    "exchange": ("exchange_cmd",),
    "feedback": ("feedback_cmd",),
    "guide": ("guide_cmd",),
    "hash": ("hash_cmd",),
    "inspect": ("inspect_cmd",),
    "keys": ("keys_cmd",),
    "match": ("match_cmd",),
    "person": ("person_cmd",),
    "review": ("users_cmd",),
    "scan": ("scan_cmd",),
    "serve": ("serve_cmd",),
    "users": ("users_cmd",),
    "watch": ("watch_cmd",),
}


def load_commands(argv: Sequence[str] | None = None) -> None:
    """Register the commands ``argv`` needs (all of them when it names none we know)."""
    first = next((a for a in argv or () if not a.startswith("-")), None)
    wanted = COMMAND_MODULES.get(first or "")
    names = wanted if wanted is not None else sorted({m for ms in COMMAND_MODULES.values() for m in ms})
    for name in names:
        importlib.import_module(f"takeback.cli.{name}")


def full_app() -> typer.Typer:
    """The app with every command registered (for tests and documentation tools)."""
    load_commands()
    return app


def run() -> None:
    """Console-script entry point."""
    try:
        load_commands(sys.argv[1:])
        app()
    except TakebackError as exc:
        err_console.print(f"[bold red]error:[/] {shown(exc.message)}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_SOME_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    run()
