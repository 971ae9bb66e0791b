"""The workers of one ``takeback serve``: readiness counts all of them, and they die with it.

``takeback serve`` becomes Uvicorn's supervisor, which starts the workers; every worker accepts
connections on the same socket. So:

* **Readiness is the service's.** A load balancer's ``/status`` reaches whichever worker accepts the
  connection; one ready worker answering 200 while another still loads its index would send clients
  to 503s. Each worker writes ``worker-<pid>.ready`` in the serve's run folder
  (``DATA_DIR/run/serve-<supervisor pid>``, named in ``TAKEBACK_SERVE_RUN_DIR`` with the worker count in
  ``TAKEBACK_SERVE_WORKERS``) once its index is loaded, and ``/status`` is 200 only when as many
  live workers have one. Files of dead workers do not count (a restarted worker must load again).
* **Workers die with their supervisor.** After a ``kill -9`` of the supervisor its workers would
  hold the port and answer ``/status`` 200 with nobody to restart them or stop them. On Linux the
  kernel sends the worker SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere a
  watchdog thread also waits on the pipe multiprocessing keeps to the parent and checks
  ``os.getppid()``. SIGTERM is Uvicorn's graceful stop (in-flight requests finish, audit rows are
  written); a worker still alive ``EXIT_GRACE_S`` later exits hard.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path

log = logging.getLogger("takeback.web")

RUN_DIR_ENV = "TAKEBACK_SERVE_RUN_DIR"
WORKERS_ENV = "TAKEBACK_SERVE_WORKERS"
#: a worker whose supervisor died exits hard this long after its graceful stop began
EXIT_GRACE_S = 20.0
_PR_SET_PDEATHSIG = 1


def run_dir_for(data_dir: Path, supervisor_pid: int) -> Path:
    return data_dir / "run" / f"serve-{supervisor_pid}"


def prepare_run_dir(data_dir: Path, supervisor_pid: int) -> Path:
    """A fresh run folder for the serve about to start as ``supervisor_pid``; folders of serves
    that are gone (killed without cleaning up) are removed."""
    base = data_dir / "run"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in base.glob("serve-*"):
        pid = old.name.removeprefix("serve-")
        if pid.isdigit() and (int(pid) == supervisor_pid or not _alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    path = run_dir_for(data_dir, supervisor_pid)
    path.mkdir(mode=0o700)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class ServeRun:
    """This worker's view of its serve's run folder; ``None`` from :meth:`from_env` outside a
    multi-worker ``takeback serve`` (tests, one worker), where readiness is the worker's own."""

    def __init__(self, path: Path, workers: int) -> None:
        self.path = path
        self.workers = workers
        self._mine = path / f"worker-{os.getpid()}.ready"

    @classmethod
    def from_env(cls) -> ServeRun | None:
        path, workers = os.environ.get(RUN_DIR_ENV), os.environ.get(WORKERS_ENV, "")
        if not path or not workers.isdigit() or int(workers) < 2:
            return None
        return cls(Path(path), int(workers))

    def mark_ready(self) -> None:
        with contextlib.suppress(OSError):  # a vanished run folder: the serve is going away
            self._mine.touch(mode=0o600)

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self._mine.unlink(missing_ok=True)

    def ready_workers(self) -> int:
        """Live workers of this serve that have loaded their index."""
        count = 0
        for f in self.path.glob("worker-*.ready"):
            pid = f.name.removeprefix("worker-").removesuffix(".ready")
            if pid.isdigit() and _alive(int(pid)):
                count += 1
        return count

    def all_ready(self) -> bool:
        return self.ready_workers() >= self.workers


def die_with_parent() -> None:
    """In a worker process started by a supervisor (multiprocessing), stop when the supervisor dies.
    Does nothing in a process that was not started that way."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return
    ppid = parent.pid
    _set_parent_death_signal(signal.SIGTERM)
    threading.Thread(
        target=_watch_parent, args=(parent, ppid), name="takeback-parent-watch", daemon=True
    ).start()


def _set_parent_death_signal(sig: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d); the watchdog remains", ctypes.get_errno())
    except (OSError, AttributeError) as exc:  # no libc prctl: the watchdog remains
        log.warning("prctl unavailable (%s); the watchdog remains", exc)


def _watch_parent(parent: multiprocessing.process.BaseProcess, ppid: int) -> None:
    """Returns only to stop the worker. Checks ``getppid()`` (a worker whose parent died is
    re-parented) at least once a second, waking at once when the parent's pipe closes."""
    sentinel: int | None = getattr(parent, "sentinel", None)
    while True:
        if sentinel is not None:
            fired = bool(wait([sentinel], timeout=1.0))
        else:
            time.sleep(1.0)
            fired = False
        if os.getppid() != ppid:
            break
        if fired:
            if os.name == "nt":  # no re-parenting there: the closed pipe is the only word
                break
            sentinel = None  # closed while the parent lives (not ours to trust): poll only
    _parent_gone()


def _parent_gone() -> None:
    log.warning("the serve supervisor is gone; this worker stops")
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), signal.SIGTERM)  # Uvicorn's graceful stop
    time.sleep(EXIT_GRACE_S)
    os._exit(1)
