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
dir's ``index/jit``), else numba's default. Compiling costs a few seconds once per machine and
numba version; loading the cache ~0.1 s per process; ``mih.warm_up`` does either up front.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import ModuleType

import numpy as np

#: probes per round: the round's temporaries (~20 bytes a probe) stay in the core's L2 cache
ROUND_PROBES = 48 * 1024

_cache_dir: Path | None = None
_compiled: ModuleType | None = None
_lock = threading.Lock()


def set_cache_dir(path: Path) -> None:
    """Keep compiled kernels under ``path`` (effective if no search has compiled them yet)."""
    global _cache_dir
    _cache_dir = Path(path)


def compiled() -> ModuleType:
    """The module of compiled kernels, imported (and numba configured) on first use."""
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
