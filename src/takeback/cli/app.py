"""The root Typer app and the shared way commands report errors and exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from takeback.cli.output import shown
from takeback.errors import TakebackError

app = typer.Typer(
    name="takeback",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

err_console = Console(stderr=True)

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


@app.callback()
def _root() -> None:
    """takeback: fingerprints, hash banks and evidence tools for people hit by AI-generated intimate
    image abuse, and for those who help them.

    Images you hash never leave your device: only fingerprints are computed and shown.
    """


def fail(error: TakebackError | str, *, code: int = EXIT_SOME_FAILED) -> NoReturn:
    """Print an expected error for a person (no traceback) and exit. The message is printed as
    text, never as markup, with control characters escaped: messages echo paths, names and URLs."""
    message = error.message if isinstance(error, TakebackError) else error
    err_console.print(f"[bold red]error:[/] {shown(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    fail(message, code=EXIT_USAGE)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
