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

The stream is run A/B, alternately in one run: the hashes' rounds in WebAssembly (what the portal
uses), in JavaScript (``hashEngine: 'js'``) and in WebAssembly read slice by slice instead of by
the BYOB reader (``streamReader: 'slice'``), ``--stream-repeat`` times each, with the load
average next to every figure (the machine may be shared); ``--before DIR`` adds an arm, another
copy of ``static/js`` (e.g. ``git archive`` of an older commit), served the same way. The hashers
alone are timed too, in the page and in Node (where installed): SHA-256 and MD5, JavaScript and
WebAssembly, on 64 MiB in memory.

    python benchmarks/bench_portal.py                 # defaults
    python benchmarks/bench_portal.py --big-mb 512 --repeat 1
    python benchmarks/bench_portal.py --only stream --stream-repeat 3

Writes a JSON summary to stdout; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
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

PDQ_DATA = Path(os.environ.get("TAKEBACK_SHARED_DATA", ROOT.parent / "shared" / "data")) / "pdq"


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


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MemorySampler:
    """Peak resident memory of Chromium's processes (summed, and per kind) every 50 ms, and the CPU
    time they used meanwhile (a figure less at the mercy of other jobs on a shared machine)."""

    def __init__(self) -> None:
        self.pids = {p for p in _children(os.getpid()) if b"chrom" in _cmd(p)}
        self.cpu_start = {p: _cpu_s(p) for p in self.pids}
        self.cpu_by_kind: dict[str, float] = {}
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
        for pid in self.pids:
            kind = _rss_kib(pid)[1]
            used = _cpu_s(pid) - self.cpu_start.get(pid, 0.0)
            self.cpu_by_kind[kind] = round(self.cpu_by_kind.get(kind, 0.0) + used, 2)


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


# The hashers alone on 64 MiB in memory, alternating, 3 rounds: MB/s of each (page or Node).
HASHERS_ALONE = """async ([base, wasmBytes]) => {
  const { Sha256 } = await import(base + 'sha256.js');
  const { Md5 } = await import(base + 'md5.js');
  const { loadWasmBlocks } = await import(base + 'wasm-hashes.js');
  const wasm = await loadWasmBlocks(wasmBytes ? () => wasmBytes : undefined);
  const data = new Uint8Array(8 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const arms = {
    sha256_js: () => new Sha256(), sha256_wasm: () => new Sha256(wasm.sha256),
    md5_js: () => new Md5(), md5_wasm: () => new Md5(wasm.md5),
  };
  for (const make of Object.values(arms)) make().update(data.subarray(0, 1 << 20)).hex(); // warm
  const out = { sha256_js: [], sha256_wasm: [], md5_js: [], md5_wasm: [] };
  for (let round = 0; round < 3; round++) {
    for (const [name, make] of Object.entries(arms)) {
      const t = performance.now();
      const h = make();
      for (let k = 0; k < 8; k++) h.update(data);
      h.hex();
      out[name].push(Math.round((64 * 1.048576) / ((performance.now() - t) / 1000)));
    }
  }
  return { wasm_loaded: !!wasm, ...out };
}"""


def node_hashers() -> dict[str, Any] | None:
    """HASHERS_ALONE in Node, from a copy of the engine (an ES-module package), or None without Node."""
    exe = shutil.which("node") or shutil.which("nodejs")
    if not exe:
        return None
    with tempfile.TemporaryDirectory(prefix="bench_portal_node_") as tmp:
        for name in ("sha256.js", "md5.js", "wasm-hashes.js", "hashes.wasm"):
            shutil.copy(harness.JS_DIR / name, Path(tmp) / name)
        (Path(tmp) / "package.json").write_text('{"type": "module"}')
        script = (
            "import { readFileSync } from 'node:fs';\n"
            f"const run = {HASHERS_ALONE};\n"
            "process.stdout.write(JSON.stringify(await run(['./', readFileSync('./hashes.wasm')])));\n"
        )
        (Path(tmp) / "run.mjs").write_text(script)
        run = functools.partial(subprocess.run, capture_output=True, text=True, check=True, timeout=600)
        version = run([exe, "--version"]).stdout.strip()
        done = run([exe, "run.mjs"], cwd=tmp)
        out: dict[str, Any] = json.loads(done.stdout)
        return {"node": version, **out}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def stream_ab(b: Any, base: str, big: Path, repeat: int, before: Path | None) -> dict[str, Any]:
    """The large file, WebAssembly and JavaScript SHA-256 (and the --before copy) run alternately."""
    size_mb = big.stat().st_size / 1e6
    page, requests = harness.open_harness(b, base)
    arms: dict[str, tuple[Any, dict[str, Any]]] = {
        "wasm": (page, {"hashEngine": "auto"}),
        "js": (page, {"hashEngine": "js"}),
        # the same, read slice by slice as where there is no BYOB reader
        "wasm_slice": (page, {"hashEngine": "auto", "streamReader": "slice"}),
    }
    extra = contextlib.ExitStack()
    if before is not None:
        old_base = extra.enter_context(harness.serve(routes={"/static/js/": before}))
        arms["before"] = (harness.open_harness(b, old_base)[0], {})
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in arms}
    with extra:
        for _ in range(repeat):
            for name, (pg, options) in arms.items():
                pg.set_input_files("#files", [str(big)])
                load_before = load()
                with MemorySampler() as mem:
                    out = pg.evaluate("(o) => window.harness.run(o)", options)
                res = out["results"][0]
                assert res["md5"] and res["sha256"], res
                if name != "before":
                    engine = name.split("_")[0]
                    assert res["sha256_engine"] == res["md5_engine"] == engine, (name, res)
                runs[name].append(
                    {
                        "mb_s": round(size_mb / out["seconds"]),
                        "load_before": load_before,
                        "load_after": load(),
                        "seconds": round(out["seconds"], 2),
                        "chromium_cpu_s": round(sum(mem.cpu_by_kind.values()), 2),
                        "chromium_cpu_s_by_kind": mem.cpu_by_kind,
                        "mb_per_chromium_cpu_s": round(size_mb / max(0.01, sum(mem.cpu_by_kind.values()))),
                        "chromium_rss_mb_before": round(mem.start_total / 1024),
                        "chromium_rss_mb_peak": round(mem.peak_total / 1024),
                        "renderer_mb_each_second": [round(v / 1024) for v in mem.trace],
                    }
                )
    assert all(u.startswith((base, f"blob:{base}")) for u in requests)  # her own file, read locally
    page.close()
    summary: dict[str, Any] = {"megabytes": round(size_mb), "runs": runs}
    for name, rows in runs.items():
        summary[f"{name}_mb_s_median"] = statistics.median(r["mb_s"] for r in rows)
        summary[f"{name}_mb_per_cpu_s_median"] = statistics.median(r["mb_per_chromium_cpu_s"] for r in rows)
    summary["wasm_vs_js_median"] = round(summary["wasm_mb_s_median"] / summary["js_mb_s_median"], 2)
    summary["wasm_vs_js_each_pair"] = [
        round(w["mb_s"] / j["mb_s"], 2) for w, j in zip(runs["wasm"], runs["js"], strict=True)
    ]
    return summary


def photos(report: dict[str, Any], b: Any, base: str, folder: Path, args: argparse.Namespace) -> None:
    """The 12-MP and 1-MP sets against ``takeback hash`` in the same run."""
    large = write_jpegs(folder, 2, 4000, 3000, 100)
    real = sorted((PDQ_DATA / "reg-test-input" / "exif-rotn").glob("*.jpg"))
    small = write_jpegs(folder, args.n_small, 1152, 864, 200)
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
    assert all(u.startswith((base, f"blob:{base}")) for u in requests)
    page.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3, help="12-MP calls per file (median)")
    ap.add_argument("--n-small", type=int, default=50)
    ap.add_argument("--big-mb", type=int, default=2048)
    ap.add_argument("--only", choices=["all", "photos", "stream"], default="all")
    ap.add_argument("--stream-repeat", type=int, default=2, help="runs of each stream arm (alternating)")
    ap.add_argument("--before", type=Path, help="another copy of static/js, streamed as a third arm")
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
        with harness.serve() as base, harness.browser() as b:
            report["chromium"] = b.version
            if args.only in ("all", "photos"):
                photos(report, b, base, folder, args)
            if args.only in ("all", "stream"):
                big = folder / "big.mp4"
                write_big(big, args.big_mb)
                report["python_stream_mb_s"] = round(big.stat().st_size / 1e6 / python_stream(big))
                report["python_stream_load"] = load()
                report["stream"] = stream_ab(b, base, big, args.stream_repeat, args.before)
                page, _ = harness.open_harness(b, base)
                report["hashers_alone_in_page_mb_s"] = {
                    "load_before": load(),
                    **page.evaluate(HASHERS_ALONE, ["/static/js/", None]),
                    "load_after": load(),
                }
                page.close()
    if args.only in ("all", "stream"):
        load_before = load()
        node = node_hashers()
        if node:
            report["hashers_alone_in_node_mb_s"] = {"load_before": load_before, **node, "load_after": load()}
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
