"""The portal's in-browser fingerprinting (headless Debian Chromium) against ``takeback hash``.

Same run, same files, same machine: the browser side is ``hashFiles`` from
``src/takeback/web/portal/static/js/hashing.js`` driven through the test harness page
(``tests/portal``), timed inside the page from the call to the last result (workers started by the
call are included); the Python side is ``fingerprint_paths`` (what ``takeback hash --dihedral`` runs),
one job, and for the large file takeback's streaming SHA-256 + MD5 loop (hashlib, 1-MiB reads).

Sets: a 12-MP JPEG (4000 x 3000 synthetic high detail, quality 90; and the 12-MP phone photos of
``../shared/data/pdq/reg-test-input/exif-rotn``): PDQ + 8 dihedral + MD5 + SHA-256, one file per
call; 50 1-MP JPEGs in one call; a 2-GB file (sniffed as MP4 video: MD5 and SHA-256 only), with the
peak resident memory of Chromium's processes sampled during the run.

    python benchmarks/bench_portal.py                 # defaults
    python benchmarks/bench_portal.py --big-mb 512 --repeat 1

Writes a JSON summary to stdout; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.portal import harness  # noqa: E402
from tests.signals.high_detail import detailed_image  # noqa: E402

from takeback.signals.batch import fingerprint_paths  # noqa: E402
from takeback.signals.fingerprint import FingerprintOptions  # noqa: E402

PDQ_DATA = ROOT.parent / "shared" / "data" / "pdq"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def python_hash(paths: list[Path]) -> tuple[float, list[Any]]:
    t = time.perf_counter()
    fps = list(fingerprint_paths([str(p) for p in paths], options=FingerprintOptions(dihedral=True)))
    return time.perf_counter() - t, fps


def python_stream(path: Path) -> float:
    """takeback's streaming loop for a large file: SHA-256 and MD5 fed 1-MiB reads."""
    t = time.perf_counter()
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    sha.hexdigest()
    md5.hexdigest()
    return time.perf_counter() - t


def browser_run(page: Any, paths: list[Path]) -> dict[str, Any]:
    page.set_input_files("#files", [str(p) for p in paths])
    out: dict[str, Any] = page.evaluate("window.harness.run()")
    bad = [r for r in out["results"] if r["md5"] is None or r["sha256"] is None]
    assert not bad, bad
    return out


def _children(root: int) -> set[int]:
    """Every process descended from ``root`` (this process started Chromium through Playwright)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - out
        out |= frontier
    return out


def _rss_kib(pid: int) -> tuple[int, str]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return 0, ""
    rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    found = re.search(rb"--type=([a-z-]+)", cmd)
    kind = found.group(1).decode() if found else "browser"
    return rss, kind


class MemorySampler:
    """Peak resident memory of Chromium's processes (summed, and per kind) every 50 ms."""

    def __init__(self) -> None:
        self.pids = {p for p in _children(os.getpid()) if b"chrom" in _cmd(p)}
        self.peak_total = 0
        self.peak_kind: dict[str, int] = {}
        self.trace: list[int] = []  # the renderer's RSS (KiB), one sample a second
        self.start_total = self.sample()
        self.start_kind = dict(self.peak_kind)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> int:
        total, kinds = 0, {}
        for pid in self.pids:
            rss, kind = _rss_kib(pid)
            total += rss
            kinds[kind] = kinds.get(kind, 0) + rss
        self.peak_total = max(self.peak_total, total)
        for k, v in kinds.items():
            self.peak_kind[k] = max(self.peak_kind.get(k, 0), v)
        return total

    def _loop(self) -> None:
        n = 0
        while not self._stop.wait(0.05):
            n += 1
            if n % 20 == 0:
                self.pids |= {p for p in _children(os.getpid()) if b"chrom" in _cmd(p)}
                self.trace.append(sum(_rss_kib(p)[0] for p in self.pids if _rss_kib(p)[1] == "renderer"))
            self.sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cmd(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def write_jpegs(folder: Path, n: int, w: int, h: int, seed0: int) -> list[Path]:
    out = []
    for i in range(n):
        p = folder / f"img-{w}x{h}-{i:03d}.jpg"
        Image.fromarray(detailed_image(w, h, seed0 + i)).save(p, "JPEG", quality=90)
        out.append(p)
    return out


def write_big(path: Path, mb: int) -> None:
    block = bytearray(os.urandom(8 << 20))
    block[4:8] = b"ftyp"
    with path.open("wb") as f:
        for i in range(mb // 8):
            block[8:16] = i.to_bytes(8, "big")  # no two blocks alike
            f.write(block)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="12-MP calls per file (median)")
    ap.add_argument("--n-small", type=int, default=50)
    ap.add_argument("--big-mb", type=int, default=2048)
    args = ap.parse_args()
    if not harness.chromium_available():
        sys.exit(f"no Chromium at {harness.CHROMIUM}")

    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or platform.node()}",
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="bench_portal_") as tmp:
        folder = Path(tmp)
        large = write_jpegs(folder, 2, 4000, 3000, 100)
        real = sorted((PDQ_DATA / "reg-test-input" / "exif-rotn").glob("*.jpg"))
        small = write_jpegs(folder, args.n_small, 1152, 864, 200)
        big = folder / "big.mp4"
        write_big(big, args.big_mb)

        with harness.serve() as base, harness.browser() as b:
            report["chromium"] = b.version
            page, requests = harness.open_harness(b, base)
            # cold: the first call on a fresh page starts the workers and compiles their code
            report["jpeg_12mp_cold_first_call_s"] = round(browser_run(page, large[:1])["seconds"], 3)

            for name, files in (("jpeg_12mp_synthetic", large), ("jpeg_12mp_real", real)):
                py_t, py_fps = python_hash(files)
                times, bits, stages = [], [], []
                for path, fp in zip(files, py_fps, strict=True):
                    runs = [browser_run(page, [path]) for _ in range(args.repeat)]
                    times.append(statistics.median(r["seconds"] for r in runs))
                    bits.append(hamming(runs[0]["results"][0]["pdq"], fp.hex("pdq")))
                    stages.extend(r["results"][0]["timings"] for r in runs)
                report[name] = {
                    "files": len(files),
                    "browser_s_per_image": round(statistics.median(times), 3),
                    "python_s_per_image": round(py_t / len(files), 3),
                    "max_bits_from_python": max(bits),
                    "browser_median_ms_by_stage": {
                        k: round(statistics.median(t[k] for t in stages)) for k in stages[0]
                    },
                }

            py_t, py_fps = python_hash(small)
            out = browser_run(page, small)
            report["jpeg_1mp_x50"] = {
                "files": len(small),
                "browser_s": round(out["seconds"], 2),
                "python_s": round(py_t, 2),
                "max_bits_from_python": max(
                    hamming(r["pdq"], fp.hex("pdq")) for r, fp in zip(out["results"], py_fps, strict=True)
                ),
                "page_longest_gap_ms": round(out["longestGapMs"]),
            }

            py_t = python_stream(big)
            with MemorySampler() as mem:
                out = browser_run(page, [big])
            size_mb = big.stat().st_size / 1e6
            report["stream_2gb"] = {
                "megabytes": round(size_mb),
                "browser_mb_s": round(size_mb / out["seconds"]),
                "python_mb_s": round(size_mb / py_t),
                "chromium_rss_mb_before": round(mem.start_total / 1024),
                "chromium_rss_mb_peak": round(mem.peak_total / 1024),
                "mb_by_process_kind_before": {k: round(v / 1024) for k, v in mem.start_kind.items()},
                "peak_mb_by_process_kind": {k: round(v / 1024) for k, v in mem.peak_kind.items()},
                "renderer_mb_each_second": [round(v / 1024) for v in mem.trace],
            }
            assert all(u.startswith((base, f"blob:{base}")) for u in requests)  # her own file, read locally
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
