"""Compiling and loading the search kernels ahead of the searches that need them.

Why its own module: warming runs real searches over small ``mih`` segments, and ``mih`` runs on
``kernels``; with these steps here ``kernels`` stays below ``mih`` (no import cycle). See
``kernels.py`` for the first-run design: NumPy kernels until the compiled ones are in the cache,
filled by :func:`compile_main` in a detached nice-19 process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

from takeback.index import kernels
from takeback.index.mih import Segment, hash_words, split_widths

log = logging.getLogger(__name__)

#: how long a long-lived process waits for the background compile before giving up on it
LOAD_WAIT_S = 900.0

_lock = threading.Lock()
_loader: threading.Thread | None = None


def warm_up(cache_dir: Path | None = None) -> float:
    """Compile (or load from the cache under ``cache_dir``) every kernel a search uses, so that no
    lookup waits for it, and mark the cache ready; returns the seconds it took."""
    started = time.perf_counter()
    if cache_dir is not None:
        kernels.set_cache_dir(cache_dir)
    jit = kernels.compiled()
    rng = np.random.default_rng(0)
    words = hash_words(rng.integers(0, 256, (64, 32), dtype=np.uint8))
    scanned = Segment.build(np.arange(64), words, widths=())
    scanned._search(words[:2], 31, None, None, jit)
    tables = Segment.build(np.arange(64), words, widths=split_widths(16))
    tables._search(words[:2], 31, tables.probe_plan(31), tables.batch_keys(words[:2]), jit)
    kernels.mark_ready()
    return time.perf_counter() - started


def compile_main() -> None:
    """Entry point of the background compile process: nice 19, one per cache, marker last."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(19)
    where = kernels.cache_dir()
    if where is None:
        return
    lock = where / "compile.lock"
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: compile anyway
            pass
        except OSError:
            return  # another process is compiling into this cache
        if not kernels.available():
            warm_up()
    finally:
        os.close(fd)


def load_when_available() -> None:
    """For long-lived processes: switch to the compiled kernels as soon as they are in the cache
    (starting the compile if needed), in a background thread; searches use NumPy meanwhile."""
    global _loader
    with _lock:
        if kernels.loaded() or (_loader is not None and _loader.is_alive()):
            return
        _loader = threading.Thread(target=_load_loop, name="takeback-kernels-load", daemon=True)
        _loader.start()


def _load_loop() -> None:
    deadline = time.monotonic() + LOAD_WAIT_S
    if not kernels.available():
        kernels.start_compiling()
    while not kernels.available():
        if time.monotonic() > deadline:
            log.warning("the search kernels were not compiled in time; searches stay on NumPy")
            return
        time.sleep(0.5)
    started = time.perf_counter()
    try:
        kernels.compiled()
        warm_up()  # loads each kernel from the cache now, not during a lookup
    except Exception as exc:  # searches stay on NumPy: exact, slower
        log.warning("could not load the compiled search kernels: %s", exc)
        return
    log.info("compiled PDQ search kernels loaded in %.2f s", time.perf_counter() - started)
