"""Fingerprint many files in parallel, in a stable order, with bounded memory.

Workers are processes (decoding and hashing hold the GIL in places, and a crash in a native decoder
must not take the batch down); each runs single-threaded BLAS so N workers use N cores, not N^2.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

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


_CHUNK_FILES = 8
_CHUNK_BYTES = 4 << 20


#: a per-file analysis run in the worker beside the hashes (a picklable, module-level function)
Analyse = Callable[[str], dict[str, Any]]


def _fingerprint_one(path: str, options: FingerprintOptions, analyse: Analyse | None) -> Fingerprint:
    fp = fingerprint_file(path, options=options)
    if analyse is not None:
        try:
            fp.analysis = analyse(path)
        except Exception as exc:  # an analysis bug must cost this file's analysis, not the batch
            fp.analysis = {
                "error": {"code": "analysis_failed", "message": f"Analysis failed ({type(exc).__name__})."}
            }
    return fp


def _fingerprint_chunk(
    paths: list[str], options: FingerprintOptions, analyse: Analyse | None = None
) -> list[Fingerprint]:
    return [_fingerprint_one(p, options, analyse) for p in paths]


def _from_walk_error(err: WalkError) -> Fingerprint:
    return Fingerprint(path=display_path(err.path), error={"code": err.code, "message": err.message})


def fingerprint_paths(
    paths: Iterable[str],
    *,
    options: FingerprintOptions | None = None,
    jobs: int = 1,
    on_result: Callable[[Fingerprint], None] | None = None,
    analyse: Analyse | None = None,
) -> Iterator[Fingerprint]:
    """Fingerprints for every file under ``paths``, in walk order; errors become records.

    ``jobs=1`` runs in this process (what the single-core benchmark measures). With more, at most
    ``2 * jobs`` chunks of a few files are in flight, so memory stays flat however large the tree.
    ``analyse(path)``, when given, runs in the same worker after the hashes (the file is still in the
    OS cache) and lands in ``Fingerprint.analysis``; a failure there is recorded, never raised.
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
                    else _fingerprint_one(entry, opts, analyse)
                )
                if on_result:
                    on_result(fp)
                yield fp
        return

    # Files travel to workers in small chunks: one inter-process round trip per file costs about as
    # much as hashing a small image, which capped two-core scaling on 1-MP files at ~1.7x.
    window: deque[Fingerprint | list[object]] = deque()  # records, or [paths, future]
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker)

    def submit(chunk: list[str]) -> Future[list[Fingerprint]]:
        return pool.submit(_fingerprint_chunk, chunk, opts, analyse)

    def renew_pool() -> None:
        nonlocal pool
        pool.shutdown(wait=False, cancel_futures=True)
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker)

    def isolate(chunk: list[str]) -> list[Fingerprint]:
        """A native decoder killed a worker: rerun the chunk's files one by one to find the culprit."""
        out = []
        for path in chunk:
            try:
                out.extend(submit([path]).result())
            except BrokenProcessPool:
                renew_pool()
                out.append(
                    Fingerprint(
                        path=display_path(path),
                        error={
                            "code": "decoder_crash",
                            "message": "The decoder crashed on this file; it was skipped.",
                        },
                    )
                )
        return out

    def drain_one() -> list[Fingerprint]:
        head = window.popleft()
        if isinstance(head, Fingerprint):
            return [head]
        chunk, fut = head[0], head[1]
        assert isinstance(chunk, list) and isinstance(fut, Future)
        try:
            done: list[Fingerprint] = fut.result()
            return done
        except BrokenProcessPool:
            renew_pool()
        results = isolate(chunk)
        for item in window:  # every in-flight chunk died with the pool: send them again
            if isinstance(item, list):
                item[1] = submit(item[0])  # type: ignore[arg-type]
        return results

    pending: list[str] = []
    pending_bytes = 0

    def flush() -> None:
        nonlocal pending, pending_bytes
        if pending:
            window.append([pending, submit(pending)])
            pending, pending_bytes = [], 0

    try:
        for entry in entries:
            if isinstance(entry, WalkError):
                flush()
                window.append(_from_walk_error(entry))
            else:
                pending.append(entry)
                with contextlib.suppress(OSError):  # a file that cannot be stat'ed: the worker reports it
                    pending_bytes += os.stat(entry).st_size
                if len(pending) >= _CHUNK_FILES or pending_bytes >= _CHUNK_BYTES:
                    flush()
            while len(window) > 2 * jobs:
                for fp in drain_one():
                    if on_result:
                        on_result(fp)
                    yield fp
        flush()
        while window:
            for fp in drain_one():
                if on_result:
                    on_result(fp)
                yield fp
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
