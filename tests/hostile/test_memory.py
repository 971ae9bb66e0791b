"""Issue 12: ``inspect`` stays within the memory hashing needs (a 200-MP PNG took 4.3 GB to
inspect, 0.6 GB to hash). Bounded-memory behaviour, not timing: a child process caps its address
space (``RLIMIT_AS``) at what it holds after warming up plus 12 bytes a pixel, then hashes and
inspects a 25-MP PNG. Hashing needs ~8 bytes a pixel there; inspect used ~21 before (its watermark
check made float64 planes of the whole image) and ran out; now it reads strips (~7).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import io, json, resource, sys
import numpy as np
from PIL import Image
from takeback.analysis.provenance import inspect
from takeback.signals.fingerprint import fingerprint_bytes

def png(side):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=1)
    return buf.getvalue()

def vm_size():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize"))

warm = png(320)
inspect(warm), fingerprint_bytes(warm)  # every module loaded, every pool started
side = int(sys.argv[1])
big = png(side)
limit = vm_size() + 12 * side * side
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
fp = fingerprint_bytes(big)
found = inspect(big)
print(json.dumps({
    "hash_error": fp.error,
    "inspect_errors": [f.error.code for f in found.findings if f.error is not None],
    "watermark_checked": "watermark" in found.checks,
}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_inspect_fits_in_the_memory_hashing_needs() -> None:
    # one malloc arena: thread arenas reserve 64 MB of address space each, which is not memory used
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "5000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"hash_error": None, "inspect_errors": [], "watermark_checked": True}
