"""Peak memory and time of ``hash`` vs ``inspect`` on one generated large PNG (issue 12).

Each measurement runs in a fresh process (peak RSS is per process: ``ru_maxrss`` of the child), on
the same file: fingerprint_file (what ``takeback hash`` runs) is the baseline; inspect (``takeback
inspect``, every check on) should stay within its memory. ``--old-src DIR`` also runs inspect from
another checkout's ``src`` (e.g. ``git archive <commit> src | tar -x -C DIR``) for a before/after.

    .venv/bin/python benchmarks/bench_large_image.py --side 14142
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHILD = r"""
import json, resource, sys, time
path, what = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if what == "hash":
    from takeback.signals.fingerprint import fingerprint_file
    fp = fingerprint_file(path)
    ok = fp.error is None and fp.hex("pdq") is not None
else:
    from takeback.analysis.provenance import inspect
    r = inspect(path)
    ok = r.error is None and not any(f.error and f.kind.endswith(".failed") for f in r.findings)
dt = time.perf_counter() - t
print(json.dumps({"ok": ok, "s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_png(side: int, path: Path) -> None:
    """A detailed RGB picture (gradients, rings, noise), built in row bands to bound memory."""
    rng = np.random.default_rng(0)
    im = Image.new("RGB", (side, side))
    band = 1024
    for top in range(0, side, band):
        h = min(band, side - top)
        y, x = np.mgrid[top : top + h, 0:side].astype(np.float32)
        base = 120 + 60 * np.sin(x / 37.0) + 50 * np.cos(y / 53.0) + 20 * np.sin((x + y) / 11.0)
        noise = rng.integers(-12, 13, (h, side, 3), dtype=np.int16)
        arr = np.clip(base[:, :, None] + noise + np.array([0, 25, 50]), 0, 255).astype(np.uint8)
        im.paste(Image.fromarray(arr), (0, top))
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    path.write_bytes(buf.getvalue())


def measure(path: Path, what: str, src: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), what], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=8000, help="square image side in pixels (default 8000)")
    ap.add_argument("--old-src", help="also run inspect from this src directory (before/after)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.png"
        t = time.perf_counter()
        make_png(args.side, path)
        print(
            f"{args.side} x {args.side} PNG, {path.stat().st_size / 1e6:.0f} MB, "
            f"made in {time.perf_counter() - t:.0f} s"
        )
        runs = [("hash", "hash", None), ("inspect", "inspect", None)]
        if args.old_src:
            runs.append(("inspect (old src)", "inspect", args.old_src))
        base: dict[str, float] | None = None
        for label, what, src in runs:
            r = measure(path, what, src)
            base = base or r
            print(
                f"{label:18s} {r['s']:6.1f} s  peak RSS {r['rss_mb']:7.0f} MB  "
                f"({r['rss_mb'] / base['rss_mb']:.2f}x hash's memory, {r['s'] / base['s']:.2f}x its time)"
                f"{'' if r['ok'] else '  FAILED'}"
            )


if __name__ == "__main__":
    main()
