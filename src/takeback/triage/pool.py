"""A process pool for resumable work queues: unordered, bounded, and a crash costs one item.

The same ideas as :mod:`takeback.signals.batch` (processes with one BLAS thread each, small chunks so
the inter-process round trip is not paid per file, a bounded number in flight so memory stays flat,
a worker killed by a native decoder isolated to the file that killed it) for a different consumer:
a work queue does not need results in order, it needs each result as soon as it exists, so it can
be committed and never redone. ``signals.batch`` keeps its ordered generator for ``takeback hash``.

Workers come from a ``forkserver`` (a clean single-threaded parent, with the analysis modules
preloaded): forking the scanning process itself, which has a database connection and a progress
thread, is unsafe.

The forkserver's socket lives in multiprocessing's temporary folder, which it removes only at a clean
exit: ``kill -9`` left a ``/tmp/pymp-*`` folder per run. Ours is named ``takeback-pool-<pid>-*``, so
the next pool can tell ours from anyone else's and remove those whose process is gone
(:func:`sweep_stale_temp_dirs`; an ``owner.lock`` held for the process's life says it still runs).
"""

from __future__ import annotations

import fcntl
import multiprocessing
import multiprocessing.process
import multiprocessing.util
import os
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_PRELOAD = ["takeback.triage.tasks", "takeback.analysis.provenance", "takeback.analysis.nudity"]


TEMP_PREFIX = "takeback-mp-"
_LOCK_NAME = "owner.lock"
#: the open, locked ``owner.lock`` of this process's folder (the lock lasts as long as the process)
_owner_lock: int | None = None


def _stale(path: str, pid: int) -> bool:
    """Whether a pool folder's process is gone: its ``owner.lock`` can be locked (the kernel drops a
    dead process's locks, whatever PID namespace it ran in); without one, whether its pid is dead."""
    try:
        fd = os.open(os.path.join(path, _LOCK_NAME), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: the scan that made it is running
    finally:
        os.close(fd)
    return True


#: a forkserver socket path (``<folder>/listener-XXXXXXXX``) must fit ``sun_path`` (108 bytes, NUL included)
_MAX_SOCKET_PATH = 100


def temp_parent() -> str:
    """Where pool folders go: the usual temporary folder, unless a socket inside a pool folder there
    would be too long for ``AF_UNIX`` (a deep ``TMPDIR``), then the first usable short system one."""
    base = tempfile.gettempdir()
    room = len(f"/{TEMP_PREFIX}{os.getpid()}-XXXXXXXX/listener-XXXXXXXX")
    if len(base) + room <= _MAX_SOCKET_PATH:
        return base
    for short in ("/tmp", "/var/tmp", "/usr/tmp"):  # noqa: S108  (mkdtemp: a private 0700 folder in it)
        if os.path.isdir(short) and os.access(short, os.W_OK | os.X_OK):
            return short
    return base


def sweep_stale_temp_dirs(parent: str | None = None) -> list[str]:
    """Remove the pool temporary folders (``takeback-pool-<pid>-*``, owned by this user) whose process
    has died; returns what was removed. Nothing else is touched: other users' folders, running scans'
    folders, links and anything not named by us stay."""
    parent = parent or temp_parent()
    removed: list[str] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            pid = int(entry.name[len(TEMP_PREFIX) :].split("-", 1)[0])
            st = entry.stat(follow_symlinks=False)
        except (ValueError, OSError):
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or pid == os.getpid():
            continue
        if _stale(entry.path, pid):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


def _claim_temp_dir() -> None:
    """Before the forkserver starts: give multiprocessing a temporary folder named for this process and
    locked by it (removed at exit like its own ``pymp-*``), after sweeping those of dead scans.
    multiprocessing has no public setting for the folder; its per-process ``_config["tempdir"]`` is what
    ``multiprocessing.util.get_temp_dir`` uses."""
    global _owner_lock
    config = getattr(multiprocessing.process.current_process(), "_config", None)
    if not isinstance(config, dict) or config.get("tempdir") is not None:
        return  # already chosen (an earlier pool, or multiprocessing itself) and cleaned at exit
    parent = temp_parent()
    sweep_stale_temp_dirs(parent)
    path = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=parent)
    fd = os.open(os.path.join(path, _LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _owner_lock = fd
    config["tempdir"] = path
    multiprocessing.util.Finalize(
        None, shutil.rmtree, args=(path,), kwargs={"ignore_errors": True}, exitpriority=-100
    )


class WorkerPool(Generic[T, R]):
    """Run ``fn(chunk) -> results`` over chunks in ``jobs`` processes (``jobs=0``: in this process,
    without crash isolation, for debugging). ``on_crash(task)`` makes the result for a task whose
    worker died on it."""

    def __init__(
        self,
        fn: Callable[[list[T]], list[R]],
        *,
        jobs: int,
        on_crash: Callable[[T], R],
        initializer: Callable[..., Any] | None = None,
        initargs: Sequence[Any] = (),
        preload: Sequence[str] = tuple(_PRELOAD),
    ) -> None:
        self.fn = fn
        self.jobs = jobs
        self.on_crash = on_crash
        self.initializer = initializer
        self.initargs = tuple(initargs)
        self._futures: dict[Future[list[R]], list[T]] = {}
        self._suspects: deque[T] = deque()
        self._ready: deque[list[R]] = deque()
        self.crashes = 0
        self._ctx: Any = None
        self._pool: ProcessPoolExecutor | None = None
        if jobs > 0:
            _claim_temp_dir()
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(list(preload))
            self._ctx = ctx
            self._pool = self._new_pool()
        elif initializer is not None:
            initializer(*self.initargs)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=self._ctx, initializer=self.initializer, initargs=self.initargs
        )

    def _renew(self) -> None:
        assert self._pool is not None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    @property
    def in_flight(self) -> int:
        """Chunks submitted and not yet returned (suspects count one each)."""
        return len(self._futures) + len(self._suspects) + len(self._ready)

    def submit(self, chunk: list[T]) -> None:
        if not chunk:
            return
        if self._pool is None:
            self._ready.append(self.fn(chunk))
            return
        self._futures[self._pool.submit(self.fn, chunk)] = chunk

    def wait(self, timeout: float | None = None) -> list[R]:
        """Results of whatever finished (blocking up to ``timeout`` for at least one chunk)."""
        if self._ready:
            return self._ready.popleft()
        if self._suspects:
            return self._isolate(self._suspects.popleft())
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[R] = []
        broken = False
        for fut in done:
            chunk = self._futures.pop(fut)
            try:
                out.extend(fut.result())
            except BrokenProcessPool:
                broken = True
                self._suspects.extend(chunk)
        if broken:
            # Every chunk in flight died with the pool; the finished ones keep their results.
            for fut, chunk in list(self._futures.items()):
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    out.extend(fut.result())
                else:
                    self._suspects.extend(chunk)
            self._futures.clear()
            self._renew()
        return out

    def _isolate(self, task: T) -> list[R]:
        """After a crash, run the suspects one at a time: the one that kills a worker is the culprit."""
        assert self._pool is not None
        try:
            return self._pool.submit(self.fn, [task]).result()
        except BrokenProcessPool:
            self.crashes += 1
            self._renew()
            return [self.on_crash(task)]

    def close(self, *, wait: bool = True) -> None:
        """Shut down; ``wait=False`` (an interrupted scan) ends the workers now instead of letting
        them finish their chunks, whose items stay pending and are redone on resume."""
        if self._pool is None:
            return
        if not wait:
            for proc in list(getattr(self._pool, "_processes", {}).values()):  # no public API for this
                proc.terminate()
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._pool = None

    def __enter__(self) -> WorkerPool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
