"""Fingerprint many files in parallel, in a stable order, with bounded memory.

Workers are processes (decoding and hashing hold the GIL in places, and a crash in a native decoder
must not take the batch down); each runs single-threaded BLAS so N workers use N cores, not N^2.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from takeback.media.walk import WalkError, display_path, iter_files
from takeback.signals.fingerprint import Fingerprint, FingerprintOptions, fingerprint_file


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _from_walk_error(err: WalkError) -> Fingerprint:
    return Fingerprint(path=display_path(err.path), error={"code": err.code, "message": err.message})


def fingerprint_paths(
    paths: Iterable[str],
    *,
    options: FingerprintOptions | None = None,
    jobs: int = 1,
    on_result: Callable[[Fingerprint], None] | None = None,
) -> Iterator[Fingerprint]:
    """Fingerprints for every file under ``paths``, in walk order; errors become records.

    ``jobs=1`` runs in this process (what the single-core benchmark measures). With more, at most
    ``4 * jobs`` files are in flight, so memory stays flat however large the tree.
    """
    opts = options or FingerprintOptions()
    entries = iter_files(paths)
    if jobs <= 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            for entry in entries:
                fp = (
                    _from_walk_error(entry)
                    if isinstance(entry, WalkError)
                    else fingerprint_file(entry, options=opts)
                )
                if on_result:
                    on_result(fp)
                yield fp
        return

    window: deque[Fingerprint | list[object]] = deque()  # records, or [path, future]
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker)

    def submit(path: str) -> Future[Fingerprint]:
        return pool.submit(fingerprint_file, path, options=opts)

    def drain_one() -> Fingerprint:
        nonlocal pool
        head = window.popleft()
        if isinstance(head, Fingerprint):
            return head
        path, fut = str(head[0]), head[1]
        assert isinstance(fut, Future)
        try:
            done: Fingerprint = fut.result()
            return done
        except BrokenProcessPool:
            pass
        # A native decoder killed a worker; every in-flight future is lost. Retry this file alone in
        # a fresh pool: if it crashes again it is the culprit, otherwise carry on as normal.
        pool.shutdown(wait=False, cancel_futures=True)
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker)
        try:
            result = submit(path).result()
        except BrokenProcessPool:
            pool.shutdown(wait=False, cancel_futures=True)
            pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker)
            result = Fingerprint(
                path=display_path(path),
                error={
                    "code": "decoder_crash",
                    "message": "The decoder crashed on this file; it was skipped.",
                },
            )
        for item in window:
            if isinstance(item, list):
                item[1] = submit(str(item[0]))
        return result

    try:
        for entry in entries:
            if isinstance(entry, WalkError):
                window.append(_from_walk_error(entry))
            else:
                window.append([entry, submit(entry)])
            while len(window) > 4 * jobs:
                fp = drain_one()
                if on_result:
                    on_result(fp)
                yield fp
        while window:
            fp = drain_one()
            if on_result:
                on_result(fp)
            yield fp
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
