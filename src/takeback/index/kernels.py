"""The compiled inner loops of the PDQ index (numba): probing, candidate expansion, verification.

Why compiled: at 1M hashes a query at radius 31 makes ~1,400 probes and verifies ~1,400 random
candidates, so its cost is ~4,000 random memory reads. NumPy needs a dozen passes over every
temporary to do the same (measured: ~95 µs of CPU per query in batches); these loops do it in one
pass per stage, close to the machine's random-read throughput (~6 ns a read here).

How: work is staged so that every loop has independent iterations and (almost) no unpredictable
branches, which keeps many cache misses in flight at once — fusing "look up the bucket, read its
rows, read their hashes" into one loop was measured 2-3x slower, because each mispredicted
bucket-size branch throws away the misses queued behind it:

1. probe: for a chunk of queries, every probe key's bucket (start, size); empty buckets dropped;
2. expand: the bucket rows, copying ``EXPAND`` slots per bucket without a branch (the rare larger
   bucket is finished in a second loop);
3. verify: the full 256-bit distance of every candidate (four POPCNTs); hits are rare.

A row seen by several tables is reported once, by the first table that can see it (its substring
there is within that table's probe radius), so no sort or set is needed to deduplicate.

Compiled code is cached on disk (``cache=True``). Where: ``NUMBA_CACHE_DIR`` if set, else the
directory given to :func:`set_cache_dir` before the first search (the matcher passes the data
dir's ``index/jit``), else numba's default. Compiling costs ~5-10 s of CPU once per machine and
numba version; loading the cache ~0.3 s (with numba's import) per process.

First run: nobody waits for the compiler. Until the compiled kernels are loaded, searches run the
same kernels in NumPy (``_numpy``: identical answers, ~3x the CPU per query) and the first search
starts :func:`compile_main` in a detached background process at nice 19, which compiles into the
cache and then leaves a ``ready-<numba>-<python>-<kernels hash>`` marker there (``warm.py`` holds
the compile and load steps, which exercise ``mih``'s segments: kernels stays below mih). A process with a
large batch (``SYNC_LOAD_QUERIES``) loads the compiled kernels at once when the marker is there; a
long-lived one (the server) calls :func:`load_when_available`, which switches over in a background
thread as soon as the marker appears; a short CLI run with a few hashes stays on NumPy (loading
numba would cost it more than the search).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import numpy as np

from takeback.index import _numpy

log = logging.getLogger(__name__)

#: probes per round: the round's temporaries (~20 bytes a probe) stay in the core's L2 cache
ROUND_PROBES = 48 * 1024
#: a search of at least this many queries loads the compiled kernels from a filled cache first
#: (~0.3 s, paid back after ~5,000 queries at ~65 µs saved each; see benchmarks/RESULTS.md)
SYNC_LOAD_QUERIES = 4096

_cache_dir: Path | None = None
_compiled: ModuleType | None = None
_lock = threading.Lock()
_compiler: subprocess.Popen[bytes] | None = None
_compiler_started = False


def set_cache_dir(path: Path) -> None:
    """Keep compiled kernels under ``path`` (effective if no search has compiled them yet)."""
    global _cache_dir
    _cache_dir = Path(path)


def cache_dir() -> Path | None:
    """Where the compiled kernels are cached (``None``: numba's default place)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    return Path(env) if env else _cache_dir


def _marker() -> Path | None:
    """The file that says every kernel a search uses is compiled in the cache."""
    where = cache_dir()
    if where is None:
        return None
    try:
        from importlib.metadata import version

        numba_version = version("numba")
    except Exception:  # pragma: no cover - numba is a dependency
        numba_version = "unknown"
    source = Path(__file__).with_name("_jit.py").read_bytes()
    tag = sys.implementation.cache_tag or "py"
    return where / f"ready-{numba_version}-{tag}-{hashlib.sha256(source).hexdigest()[:16]}"


def loaded() -> bool:
    """The compiled kernels are loaded in this process."""
    return _compiled is not None


def available() -> bool:
    """The compiled kernels are loaded, or in the cache ready to load."""
    if _compiled is not None:
        return True
    marker = _marker()
    return marker is not None and marker.exists()


def implementation(queries: int = 1) -> ModuleType:
    """The kernels a search of ``queries`` queries should run now: the compiled ones once loaded
    (loaded here for a large batch when the cache holds them), else the NumPy ones, starting the
    background compile if nobody has compiled them yet."""
    if _compiled is not None:
        return _compiled
    if available():
        if queries >= SYNC_LOAD_QUERIES:
            return compiled()
    else:
        start_compiling()
    return _numpy


def start_compiling() -> None:
    """Compile the kernels into the cache in a detached, low-priority process (once per process;
    a second compiler for the same cache finds its lock taken and exits)."""
    global _compiler, _compiler_started
    where = cache_dir()
    with _lock:
        if _compiler_started or where is None:
            return
        _compiler_started = True
        try:
            where.mkdir(parents=True, exist_ok=True, mode=0o700)
            env = {**os.environ, "NUMBA_CACHE_DIR": str(where)}
            _compiler = subprocess.Popen(
                [sys.executable, "-c", "from takeback.index.warm import compile_main; compile_main()"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
                start_new_session=True,  # outlives a CLI run and its Ctrl-C
            )
        except OSError as exc:  # no compiler: searches stay on NumPy, still exact
            log.warning("could not start compiling the search kernels: %s", exc)


def mark_ready() -> None:
    """Leave the marker that says every kernel is compiled in the cache (written last, atomically)."""
    marker = _marker()
    if marker is not None and not marker.exists():
        with contextlib.suppress(OSError):
            tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
            tmp.write_bytes(b"")
            os.replace(tmp, marker)


def compiled() -> ModuleType:
    """The module of compiled kernels, imported (and numba configured) on first use; kernels not in
    the cache yet compile on their first call (seconds)."""
    global _compiled
    if _compiled is not None:
        return _compiled
    with _lock:
        if _compiled is None:
            if "NUMBA_CACHE_DIR" not in os.environ and _cache_dir is not None:
                import numba.core.config

                try:
                    _cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                    # read when the kernels are decorated (``_jit``'s import), so set it just before
                    numba.core.config.CACHE_DIR = str(_cache_dir)  # type: ignore[attr-defined]
                except OSError:  # an unwritable data dir: numba's default place
                    pass
            from takeback.index import _jit

            _compiled = _jit
    return _compiled


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view: memory-mapped and in-memory arrays then share one compiled version."""
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v
