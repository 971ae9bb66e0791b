"""``takeback serve`` as a real subprocess, for tests that kill it or flood it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

_KEY = re.compile(r"tbk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in (task / "children").read_text().split())
    return sorted(set(found))


def gone(pid: int) -> bool:
    """The process no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status or "\nState:\tX" in status


@dataclass
class ServeProcess:
    proc: subprocess.Popen[str]
    url: str
    admin: str | None
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        """Resident memory of the server process (VmRSS, KiB)."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]

    def workers(self) -> list[int]:
        """Process ids of the supervisor's children (the Uvicorn workers when there are several)."""
        return children(self.pid)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def start_serve(
    data_dir: Path,
    *,
    db_url: str | None = None,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    port: int | None = None,
) -> ServeProcess:
    """``takeback serve`` on a free port (or ``port``), once ``/status`` is 200; ``preexec`` runs in the
    child before it starts (a memory limit, say)."""
    port = port or free_port()
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data_dir), **(extra_env or {})}
    if db_url:
        env["TAKEBACK_DATABASE_URL"] = db_url
    else:
        env.pop("TAKEBACK_DATABASE_URL", None)
    log = data_dir / f"serve-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "takeback.cli.main", "serve", "--port", str(port), "--workers", str(workers)],
        stdout=fh,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=preexec,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"takeback serve exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/status", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"takeback serve did not become ready:\n{log.read_text()}")
        time.sleep(0.1)
    m = _KEY.search(log.read_text())
    return ServeProcess(proc, url, m.group(0) if m else None, log)
