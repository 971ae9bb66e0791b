"""Entry point: assembles the command groups and turns expected errors into clean exits."""

from __future__ import annotations

import sys

from takeback.cli import (
    bank_cmd,  # noqa: F401  (registers ``takeback bank ...``)
    case_cmd,  # noqa: F401  (registers ``takeback case ...``)
    evidence_cmd,  # noqa: F401  (registers ``takeback evidence ...``)
    guide_cmd,  # noqa: F401  (registers ``takeback guide``)
    hash_cmd,  # noqa: F401  (registers ``takeback hash``)
    inspect_cmd,  # noqa: F401  (registers ``takeback inspect``)
    keys_cmd,  # noqa: F401  (registers ``takeback keys ...``)
    match_cmd,  # noqa: F401  (registers ``takeback match``)
    scan_cmd,  # noqa: F401  (registers ``takeback scan`` and ``takeback case verify``)
    serve_cmd,  # noqa: F401  (registers ``takeback serve``)
)
from takeback.cli.app import EXIT_SOME_FAILED, app, err_console
from takeback.errors import TakebackError

__all__ = ["app", "run"]


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except TakebackError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_SOME_FAILED)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    run()
