"""A process pool for resumable work queues: unordered, bounded, and a crash costs one item.

The same ideas as :mod:`takeback.signals.batch` (processes with one BLAS thread each, small chunks so
the inter-process round trip is not paid per file, a bounded number in flight so memory stays flat,
a worker killed by a native decoder isolated to the file that killed it) for a different consumer:
a work queue does not need results in order, it needs each result as soon as it exists, so it can
be committed and never redone. ``signals.batch`` keeps its ordered generator for ``takeback hash``.

Workers come from a ``forkserver`` (a clean single-threaded parent, with the analysis modules
preloaded): forking the scanning process itself, which has a database connection and a progress
thread, is unsafe.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_PRELOAD = ["takeback.triage.tasks", "takeback.analysis.provenance", "takeback.analysis.nudity"]


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
