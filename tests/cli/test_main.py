"""The entry point loads only the command being run, and still lists every command in --help."""

from __future__ import annotations

import subprocess
import sys

from takeback.cli.main import COMMAND_MODULES

PROBE = """
import sys
sys.argv = ["takeback", *sys.argv[1:]]
from takeback.cli import main
try:
    main.run()
except SystemExit:
    pass
prefixes = ("takeback.cli.", "takeback.web", "sqlalchemy")
print("LOADED", sorted(m for m in sys.modules if m.startswith(prefixes)))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)


def test_a_command_loads_only_its_own_module() -> None:
    out = _run("hash", "--help").stdout
    assert "--dihedral" in out  # the hash command's own help
    loaded = out.split("LOADED", 1)[1]
    assert "takeback.cli.hash_cmd" in loaded
    for other in ("bank_cmd", "serve_cmd", "scan_cmd", "evidence_cmd"):
        assert f"takeback.cli.{other}" not in loaded
    assert "takeback.web" not in loaded and "sqlalchemy" not in loaded


def test_help_lists_every_command() -> None:
    out = _run("--help").stdout
    for command in COMMAND_MODULES:
        assert command in out, command


def test_case_verify_is_there_when_running_case() -> None:
    out = _run("case", "--help").stdout
    assert "verify" in out
