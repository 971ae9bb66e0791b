"""PDQ range index: takeback's ``PdqIndex`` against FAISS brute force and HMA's FAISS configuration.

Data: ``--n`` uniformly random PDQ hashes, of which 0.5 % are replaced by near-duplicates (1-31
bits) of other stored hashes, so a query often has several true matches. Queries: half are stored
hashes with 1-31 random bits flipped, half fresh random hashes (no match). Radius 31 (FAISS's
``range_search`` keeps distance < radius, so it is given 32).

Engines, each in its own child process (clean RSS figures; one at a time, so 10M fits in memory):

- ``flat``: ``faiss.IndexBinaryFlat`` (brute force); its answers are the ground truth.
- ``hma``: ``faiss.IndexBinaryMultiHash(256, 16, 16)`` with ``nflip = 1``, HMA's configuration.
- ``takeback``: ``PdqIndex.build``, then single and batch queries, add/remove visibility while
  the index keeps changing, latency after 5,000 incremental adds, save / load.

Measured: build time, RAM per stored hash (RSS growth over the build, and for takeback the size of
its arrays), single-query p50/p99, batch throughput, recall and extra results against brute force,
add-to-visible latency. FAISS and takeback batch searches use 2 threads; for takeback also one
thread, and the CPU time per query of both (what a busy server pays), and the time its compiled
search kernels took to be ready (numba's cache, or a first compile).

    python benchmarks/bench_index.py                  # N = 1,000,000: a few minutes
    python benchmarks/bench_index.py --n 10000000     # the target size (~15 min, ~6 GB peak)
    python benchmarks/bench_index.py --n 200000 --engines takeback

Prints a summary to stderr and JSON to stdout (or ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RADIUS = 31
ENGINES = ("flat", "hma", "takeback")


# --- data -----------------------------------------------------------------------------------------
def flip_random_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copies of ``rows`` (k, 32) with exactly ``counts[i]`` distinct random bits flipped in row i."""
    order = np.argsort(rng.random((rows.shape[0], 256)), axis=1)
    mask_bits = np.zeros((rows.shape[0], 256), dtype=np.uint8)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(256)[None, :].repeat(rows.shape[0], 0), axis=1)
    mask_bits[rank < counts[:, None]] = 1
    return rows ^ np.packbits(mask_bits, axis=1)


def make_data(n: int, n_queries: int, n_adds: int, seed: int, out: Path) -> None:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    planted = min(n // 200, 200_000)
    if planted:
        dst = rng.choice(n, planted, replace=False)
        src = rng.integers(0, n, planted)
        hashes[dst] = flip_random_bits(hashes[src], rng.integers(1, 32, planted), rng)
    near = n_queries // 2 if n else 0
    queries = np.concatenate(
        [
            flip_random_bits(hashes[rng.integers(0, n, near)], rng.integers(1, 32, near), rng)
            if near
            else np.empty((0, 32), np.uint8),
            rng.integers(0, 256, (n_queries - near, 32), dtype=np.uint8),
        ]
    )
    adds = rng.integers(0, 256, (n_adds, 32), dtype=np.uint8)
    np.save(out / "hashes.npy", hashes)
    np.save(out / "queries.npy", queries)
    np.save(out / "adds.npy", adds)


# --- measuring helpers ----------------------------------------------------------------------------
def rss_bytes() -> int:
    """Resident set size now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def release_memory() -> None:
    gc.collect()
    with contextlib.suppress(OSError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown cpu"


def percentiles(seconds: list[float], cpu_seconds: list[float] | None = None) -> dict[str, float]:
    """Wall-clock p50/p99/max; with ``cpu_seconds`` also the CPU-time p50/p99, which leaves out the
    time the process waited for a core (this machine is shared: wall p99 includes other people's work)."""
    ms = np.array(seconds) * 1e3
    out = {
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
        "count": len(seconds),
    }
    if cpu_seconds:
        cpu = np.array(cpu_seconds) * 1e3
        out["cpu_p50_ms"] = round(float(np.percentile(cpu, 50)), 4)
        out["cpu_p99_ms"] = round(float(np.percentile(cpu, 99)), 4)
    return out


def flatten(results: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    lims = np.cumsum([0] + [len(ids) for ids, _ in results])
    ids = np.concatenate([r[0] for r in results]) if results else np.empty(0, np.int64)
    dist = np.concatenate([r[1] for r in results]) if results else np.empty(0, np.int32)
    return {"lims": lims.astype(np.int64), "ids": ids.astype(np.int64), "dist": dist.astype(np.int32)}


# --- engines (child processes) --------------------------------------------------------------------
def run_faiss(kind: str, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(args.threads)
    hashes = np.load(data / "hashes.npy")
    queries = np.load(data / "queries.npy")
    n = hashes.shape[0]
    release_memory()
    before = rss_bytes()
    t = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexBinaryFlat(256)
    else:
        index = faiss.IndexBinaryMultiHash(256, 16, 16)
        index.nflip = 1
    index.add(hashes)
    build_s = time.perf_counter() - t
    release_memory()
    grown = rss_bytes() - before
    out: dict[str, Any] = {"build_s": round(build_s, 3), "rss_bytes_per_hash": round(grown / max(n, 1), 1)}
    if kind == "flat":
        out["structure_bytes_per_hash"] = 32.0

    t = time.perf_counter()
    lims, dist, labels = index.range_search(queries, RADIUS + 1)
    batch_s = time.perf_counter() - t
    out["batch_ms_per_query"] = round(batch_s / len(queries) * 1e3, 4)
    out["batch_queries_per_s"] = round(len(queries) / batch_s, 1)
    results = []
    for i in range(len(queries)):
        ids, d = labels[lims[i] : lims[i + 1]], dist[lims[i] : lims[i + 1]]
        order = np.lexsort((ids, d))
        results.append((ids[order], d[order]))
    np.savez(data / f"result_{kind}.npz", **flatten(results))

    times, cpu = [], []
    for q in queries[: args.baseline_single]:
        c, t = time.process_time(), time.perf_counter()
        index.range_search(q[None], RADIUS + 1)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    out["single"] = percentiles(times, cpu)

    # the one-hash index: a neighbour at every distance 0..31 must be found
    rng = np.random.default_rng(7)
    one = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    small = faiss.IndexBinaryFlat(256) if kind == "flat" else faiss.IndexBinaryMultiHash(256, 16, 16)
    if kind != "flat":
        small.nflip = 1
    small.add(one)
    probes = flip_random_bits(one.repeat(32, 0), np.arange(32), rng)
    found = sum(int(small.range_search(p[None], RADIUS + 1)[0][1]) for p in probes)
    out["one_hash_index_found_of_32"] = found
    return out


def run_takeback(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    from takeback.index import PdqIndex, warm_up

    kernels_s = warm_up()  # compiled search kernels: loaded from numba's cache, or compiled once
    hashes = np.load(data / "hashes.npy")
    queries = np.load(data / "queries.npy")
    adds = np.load(data / "adds.npy")
    n = hashes.shape[0]
    ids = np.arange(n, dtype=np.int64)
    release_memory()
    before = rss_bytes()
    peak_before = peak_rss_bytes()
    t = time.perf_counter()
    idx = PdqIndex.build(ids, hashes)
    build_s = time.perf_counter() - t
    release_memory()
    grown = rss_bytes() - before
    stats = idx.stats()
    out: dict[str, Any] = {
        "build_s": round(build_s, 3),
        "rss_bytes_per_hash": round(grown / max(n, 1), 1),
        "structure_bytes_per_hash": round(idx.nbytes / max(n, 1), 1),
        "peak_rss_growth_bytes_per_hash": round((peak_rss_bytes() - peak_before) / max(n, 1), 1),
        "widths": stats["segments"][0]["widths"] if stats["segments"] else [],
        "kernels_ready_s": round(kernels_s, 2),
    }

    def single_latencies(index: PdqIndex, count: int) -> dict[str, float]:
        for q in queries[:50]:  # warm-up (probe plans, caches)
            index.search(q, RADIUS)
        times, cpu = [], []
        for q in queries[:count]:
            c, t = time.process_time(), time.perf_counter()
            index.search(q, RADIUS)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        return percentiles(times, cpu)

    out["single"] = single_latencies(idx, len(queries))
    for threads in (1, args.threads):
        idx.search_batch(queries[:64], RADIUS, threads=threads)
        c, t = time.process_time(), time.perf_counter()
        batch = idx.search_batch(queries, RADIUS, threads=threads)
        batch_s = time.perf_counter() - t
        # CPU time of every thread: the cost a busy server pays, whatever else runs on the machine
        out[f"batch_{threads}t_cpu_us_per_query"] = round((time.process_time() - c) / len(queries) * 1e6, 1)
        out[f"batch_{threads}t_ms_per_query"] = round(batch_s / len(queries) * 1e3, 4)
        out[f"batch_{threads}t_queries_per_s"] = round(len(queries) / batch_s, 1)
    out["batch_ms_per_query"] = out[f"batch_{args.threads}t_ms_per_query"]
    out["batch_queries_per_s"] = out[f"batch_{args.threads}t_queries_per_s"]
    singles = [idx.search(q, RADIUS) for q in queries]
    out["batch_equals_single"] = all(
        np.array_equal(a.ids, b.ids) and np.array_equal(a.distances, b.distances)
        for a, b in zip(singles, batch, strict=True)
    )
    np.savez(data / "result_takeback.npz", **flatten([(r.ids, r.distances) for r in batch]))

    # changes while serving: each add must be visible to the very next search
    add_s, visible_s = [], []
    for i, h in enumerate(adds):
        t = time.perf_counter()
        idx.add([n + i], h[None])
        t_added = time.perf_counter()
        found = n + i in idx.search(h, 0).ids
        t_seen = time.perf_counter()
        assert found, "an added hash was not visible to the next search"
        add_s.append(t_added - t)
        visible_s.append(t_seen - t)
    out["add"] = percentiles(add_s)
    out["add_to_visible"] = percentiles(visible_s)
    out["segments_after_adds"] = [s["rows"] for s in idx.stats()["segments"]]
    out["single_after_adds"] = single_latencies(idx, len(queries))
    remove_s = []
    rng = np.random.default_rng(3)
    for victim in rng.choice(n, min(n, 1000), replace=False):
        t = time.perf_counter()
        idx.remove([int(victim)])
        gone = int(victim) not in idx.search(hashes[victim], 0).ids
        remove_s.append(time.perf_counter() - t)
        assert gone, "a removed hash was still returned"
    out["remove_to_invisible"] = percentiles(remove_s)

    # persistence: atomic save, checksummed memory-mapped load, first query of a fresh process
    path = data / "pdq.idx"
    t = time.perf_counter()
    idx.save(path)
    out["save_s"] = round(time.perf_counter() - t, 3)
    out["file_bytes_per_hash"] = round(path.stat().st_size / max(n, 1), 1)
    del idx, batch, singles
    release_memory()
    t = time.perf_counter()
    loaded = PdqIndex.load(path)
    out["load_verified_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    loaded.search(queries[0], RADIUS)
    out["first_query_after_load_ms"] = round((time.perf_counter() - t) * 1e3, 3)
    del loaded
    t = time.perf_counter()
    PdqIndex.load(path, verify=False)
    out["load_unverified_s"] = round(time.perf_counter() - t, 3)
    path.unlink()

    one = PdqIndex.build([0], hashes[:1])
    probes = np.array([flip_random_bits(hashes[:1], np.array([k]), rng)[0] for k in range(32)])
    out["one_hash_index_found_of_32"] = sum(len(one.search(p, RADIUS)) for p in probes)
    return out


# --- comparison -------------------------------------------------------------------------------------
def compare(truth: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, Any]:
    """Recall (true pairs found / true pairs) and extra pairs, per (query, id, distance)."""
    q = len(truth["lims"]) - 1
    true_pairs = found = extra = wrong_distance = 0
    exact_queries = 0
    for i in range(q):
        t_ids = truth["ids"][truth["lims"][i] : truth["lims"][i + 1]]
        t_d = truth["dist"][truth["lims"][i] : truth["lims"][i + 1]]
        g_ids = got["ids"][got["lims"][i] : got["lims"][i + 1]]
        g_d = got["dist"][got["lims"][i] : got["lims"][i + 1]]
        want = dict(zip(t_ids.tolist(), t_d.tolist(), strict=True))
        have = dict(zip(g_ids.tolist(), g_d.tolist(), strict=True))
        true_pairs += len(want)
        found += sum(1 for k in want if k in have)
        extra += sum(1 for k in have if k not in want)
        wrong_distance += sum(1 for k, v in have.items() if k in want and want[k] != v)
        exact_queries += want == have
    return {
        "true_pairs": true_pairs,
        "recall": round(found / true_pairs, 6) if true_pairs else 1.0,
        "missed_pairs": true_pairs - found,
        "extra_pairs": extra,
        "wrong_distances": wrong_distance,
        "queries_exactly_equal": f"{exact_queries}/{q}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="stored hashes (default 1,000,000)")
    ap.add_argument("--queries", type=int, default=1000, help="queries (half with a planted match)")
    ap.add_argument("--adds", type=int, default=5000, help="incremental adds timed for visibility")
    ap.add_argument("--baseline-single", type=int, default=100, help="single queries timed per baseline")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of flat,hma,takeback")
    ap.add_argument("--out", type=Path, help="write the JSON here too")
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:  # child process: one engine, results as JSON on stdout
        if args.worker == "takeback":
            result = run_takeback(args.data, args)
        else:
            result = run_faiss(args.worker, args.data, args)
        print(json.dumps(result))
        return

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    report: dict[str, Any] = {
        "n": args.n,
        "queries": args.queries,
        "radius": RADIUS,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "load_average_start": os.getloadavg()[0],
        "engines": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_index_") as tmp:
        data = Path(tmp)
        t = time.perf_counter()
        make_data(args.n, args.queries, args.adds, args.seed, data)
        took = time.perf_counter() - t
        print(f"data: {args.n:,} hashes, {args.queries} queries in {took:.1f}s", file=sys.stderr)
        for engine in engines:
            cmd = [sys.executable, __file__, "--worker", engine, "--data", str(data)]
            cmd += ["--threads", str(args.threads), "--baseline-single", str(args.baseline_single)]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"{engine} failed")
            report["engines"][engine] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{engine}: done in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        truth_file = data / "result_flat.npz"
        if truth_file.exists():
            truth = dict(np.load(truth_file))
            for engine in engines:
                if engine != "flat":
                    got = dict(np.load(data / f"result_{engine}.npz"))
                    report["engines"][engine]["vs_brute_force"] = compare(truth, got)
            flat = report["engines"]["flat"]
            for engine in engines:
                e = report["engines"][engine]
                e["batch_speedup_vs_flat"] = round(flat["batch_ms_per_query"] / e["batch_ms_per_query"], 2)
                e["single_p50_speedup_vs_flat"] = round(flat["single"]["p50_ms"] / e["single"]["p50_ms"], 2)

    report["load_average_end"] = os.getloadavg()[0]
    summary = [
        "engine      build_s  B/hash(rss)  single p50/p99 ms (cpu p99)  batch ms/q  recall   x flat(batch)"
        "  batch cpu us/q (1 thread)"
    ]
    for engine, e in report["engines"].items():
        rec = e.get("vs_brute_force", {}).get("recall", "truth" if engine == "flat" else "-")
        summary.append(
            f"{engine:<10} {e['build_s']:>8} {e['rss_bytes_per_hash']:>12} "
            f"{e['single']['p50_ms']:>8} / {e['single']['p99_ms']:<8} ({e['single'].get('cpu_p99_ms')}) "
            f"{e['batch_ms_per_query']:>10} "
            f"{rec!s:>8} {e.get('batch_speedup_vs_flat', '-')!s:>8}"
            f"  {e.get('batch_1t_cpu_us_per_query', '-')}"
        )
    print("\n".join(summary), file=sys.stderr)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
