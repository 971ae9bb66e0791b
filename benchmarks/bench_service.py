"""Load test of ``takeback serve`` with wrk: lookups/s and latency, batch hashes/s, uploads/s, memory.

The store gets N random PDQ hashes in one bank (default 1,000,000; reused between runs from
``--data-dir``). The server runs as ``takeback serve --workers W`` on loopback; wrk (Debian's, an
efficient C load generator, so it takes little of the shared 2 cores) drives it. Single lookups use
``GET /m/raw_lookup`` with a different hash per request, 10 % of them planted near-duplicates of
stored hashes (1-8 bits flipped) so the match path, the policy read and the group-committed audit
row are exercised too; once flat out (closed loop: latency there is concurrency / throughput) and
once paced at about 2,000 requests/s (latency at that load). Measured in the same run:
``/status/live`` (no auth, no work) as the HTTP stack's ceiling on this machine.

    python benchmarks/bench_service.py                       # 1M hashes, 2 workers, 20 s per test
    python benchmarks/bench_service.py --n 100000 --duration 10
    python benchmarks/bench_service.py --soak 600            # plus a 10-minute memory soak
    python benchmarks/bench_service.py --n 100000 --compare-http   # raw_lookup: guarded vs plain

``--compare-http`` runs only ``/status/live`` and ``/m/raw_lookup`` against the same store served
with Uvicorn's plain httptools protocol and with ``takeback serve``'s guarded one (request-head size
and time limits, ``takeback.web.protocol``), alternating A B A B, and prints the ratios.

Prints a JSON summary; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from takeback.auth import Role, create_key
from takeback.banks.service import NewContent, add_contents, create_bank, get_bank
from takeback.config import Settings
from takeback.signals import SignalValue
from takeback.store import database_url, open_database

BANK = "bench"
HIT_FRACTION = 0.10


# --- store -----------------------------------------------------------------------------------------


def random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def setup_store(data_dir: Path, n: int) -> dict[str, Any]:
    """A SQLite store with ``n`` random PDQ hashes in bank ``bench`` (reused when already there)."""
    settings = Settings(data_dir=data_dir)
    db = open_database(database_url(settings))
    started = time.perf_counter()
    try:
        with db.session() as s:
            try:
                get_bank(s, name=BANK)
                existing = s.execute(
                    __import__("sqlalchemy").text("SELECT count(*) FROM bank_content")
                ).scalar_one()
            except Exception:
                create_bank(s, name=BANK, actor="bench")
                existing = 0
        stored = random_hashes(n, seed=1)
        chunk = 20_000
        for start in range(existing, n, chunk):
            part = stored[start : start + chunk]
            entries = [NewContent(signals=(SignalValue("pdq", row.tobytes(), 90),)) for row in part]
            with db.session() as s:
                add_contents(s, bank_name=BANK, entries=entries, actor="bench")
            print(f"  stored {min(n, start + chunk):,} / {n:,}", file=sys.stderr, flush=True)
        with db.session() as s:
            key = create_key(s, role=Role.MATCHER, actor="bench", name="bench", rate_limit=0).token
    finally:
        db.dispose()
    return {"key": key, "stored": stored, "setup_s": time.perf_counter() - started}


def query_hashes(stored: np.ndarray, count: int, seed: int) -> list[str]:
    """Random queries; ``HIT_FRACTION`` of them are stored hashes with 1-8 bits flipped."""
    rng = np.random.default_rng(seed)
    out = random_hashes(count, seed + 1000)
    hits = rng.choice(count, int(count * HIT_FRACTION), replace=False)
    for i in hits:
        q = stored[rng.integers(0, len(stored))].copy()
        for bit in rng.choice(256, rng.integers(1, 9), replace=False):
            q[bit // 8] ^= 1 << (bit % 8)
        out[i] = q
    return [row.tobytes().hex() for row in out]


# --- server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path, workers: int, http: str | None = None
) -> tuple[subprocess.Popen[bytes], str, float]:
    """``takeback serve``; with ``http``, Uvicorn as serve runs it but with that protocol instead."""
    port = free_port()
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data_dir)}
    env.pop("TAKEBACK_DATABASE_URL", None)
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "takeback.cli.main", "serve", "--port", str(port), "--workers", str(workers)]
    if http is not None:
        cmd = [
            sys.executable, "-m", "uvicorn", "takeback.web.app:create_app_from_env", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "info", "--no-access-log", "--timeout-graceful-shutdown", "15",
            "--timeout-keep-alive", "30", "--backlog", "4096", "--no-server-header",
            "--no-proxy-headers", "--http", http,
        ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {(data_dir / 'serve.log').read_text()}")
        try:
            if httpx.get(f"{url}/status", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    ready = time.perf_counter() - started
    # One worker answered; give the others until 20 fresh connections in a row find them ready.
    ok = 0
    while ok < 20 and time.perf_counter() - started < ready + 120:
        ok = ok + 1 if httpx.get(f"{url}/status", timeout=2).status_code == 200 else 0
        time.sleep(0.05)
    time.sleep(2)
    return proc, url, ready


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for p in list(pids):
        for task in Path(f"/proc/{p}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(c) for c in children)
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server and its workers so far (robust to a busy machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def memory(pid: int) -> dict[str, Any]:
    """RSS and PSS (shared pages split between sharers) of the server and each worker, in MiB."""
    out = []
    for p in process_tree(pid):
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except FileNotFoundError:
            continue
        rss = int(re.search(r"^Rss:\s+(\d+)", rollup, re.M).group(1)) / 1024  # type: ignore[union-attr]
        pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1)) / 1024  # type: ignore[union-attr]
        out.append({"pid": p, "rss_mib": round(rss, 1), "pss_mib": round(pss, 1)})
    return {
        "processes": out,
        "total_rss_mib": round(sum(x["rss_mib"] for x in out), 1),
        "total_pss_mib": round(sum(x["pss_mib"] for x in out), 1),
    }


# --- wrk -------------------------------------------------------------------------------------------

LOOKUP_LUA = """
local hashes = {}
for line in io.lines(os.getenv("BENCH_HASHES")) do hashes[#hashes + 1] = line end
local headers = {["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")}
local n = 0
request = function()
  n = n + 1
  local h = hashes[(n * 7919 + math.random(#hashes)) % #hashes + 1]
  return wrk.format("GET", os.getenv("BENCH_PATH") .. h, headers)
end
"""

# Paced: each connection waits BENCH_DELAY_MS between requests, so 32 connections offer about
# 32 / (delay + latency) requests per second: latency at a given load rather than at saturation.
PACED_LUA = (
    LOOKUP_LUA
    + """
local pause = tonumber(os.getenv("BENCH_DELAY_MS"))
delay = function() return pause end
"""
)

BODY_LUA = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE")
"""


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: int,
    script: str | None,
    env: dict[str, str],
    threads: int = 1,
    server_pid: int | None = None,
) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    tmp: Path | None = None
    if script:
        fd, name = tempfile.mkstemp(suffix=".lua")
        os.write(fd, script.encode())
        os.close(fd)
        tmp = Path(name)
        cmd += ["-s", str(tmp)]
    cpu0 = cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run([*cmd, url], capture_output=True, text=True, env={**os.environ, **env}, check=True)
    cpu1 = cpu_seconds(server_pid) if server_pid else 0.0
    if tmp:
        tmp.unlink()
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        assert m, text
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "requests_per_s": rps,
        "requests": total,
        "server_cpu_ms_per_request": round(1000 * (cpu1 - cpu0) / total, 3) if server_pid and total else None,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1).strip() if errors else None,
        "p50_ms": pct("50"),
        "p90_ms": pct("90"),
        "p99_ms": pct("99"),
    }


def multipart(path: Path) -> tuple[bytes, str]:
    boundary = "benchboundary7f3a"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return (
        head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def one_mp_jpeg(path: Path) -> None:
    rng = np.random.default_rng(7)
    h, w = 864, 1152  # ~1.0 MP
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 128 + 60 * np.sin(x / 37) + 40 * np.cos(y / 23) + 20 * np.sin((x + y) / 5)
    img = np.stack([base + rng.normal(0, 15, (h, w)) + 20 * c for c in range(3)], -1)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    path.write_bytes(buf.getvalue())


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="PDQ hashes in the bank")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "takeback-bench-service")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads for the single-lookup runs")
    ap.add_argument(
        "--lookups-only", action="store_true", help="only the ceiling and single lookups (no batch, uploads)"
    )
    ap.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--soak", type=int, default=0, help="seconds of memory soak (0: skip)")
    ap.add_argument("--fresh", action="store_true", help="delete --data-dir first")
    ap.add_argument("--compare-http", action="store_true", help="raw_lookup: guarded vs plain protocol")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    data_dir: Path = args.data_dir / f"n{args.n}"
    if args.fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)

    print(f"setting up {args.n:,} hashes in {data_dir} ...", file=sys.stderr)
    store = setup_store(data_dir, args.n)
    key = store["key"]
    hashes_file = data_dir / "queries.txt"
    queries = query_hashes(store["stored"], 20_000, seed=3)
    hashes_file.write_text("\n".join(queries) + "\n")
    batch_file = data_dir / "batch.json"
    batch_file.write_text(json.dumps({"hashes": query_hashes(store["stored"], 10_000, seed=4)}))
    jpeg = data_dir / "one-mp.jpg"
    one_mp_jpeg(jpeg)
    body, ctype = multipart(jpeg)
    upload_file = data_dir / "upload.bin"
    upload_file.write_bytes(body)

    if args.compare_http:
        compare_http(data_dir, args, key, hashes_file)
        return
    proc, url, startup_s = start_server(data_dir, args.workers)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "n_hashes": args.n,
        "workers": args.workers,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "duration_s": args.duration,
        "store_setup_s": round(store["setup_s"], 1),
        "startup_to_ready_s": round(startup_s, 1),
    }
    try:
        base_env = {"BENCH_KEY": key, "BENCH_HASHES": str(hashes_file)}
        # sanity: a planted hash matches
        probe = httpx.get(
            f"{url}/m/raw_lookup",
            params={"signal_type": "pdq", "signal": store["stored"][0].tobytes().hex()},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert probe.status_code == 200 and probe.json()["matches"], probe.text
        results["memory_after_start"] = memory(proc.pid)
        run = dict(
            connections=args.connections, duration=args.duration, server_pid=proc.pid, threads=args.threads
        )
        print("ceiling: /status/live", file=sys.stderr)
        results["ceiling_status_live"] = run_wrk(f"{url}/status/live", script=None, env=base_env, **run)
        print("single lookups: /m/raw_lookup", file=sys.stderr)
        results["raw_lookup"] = run_wrk(
            url,
            script=LOOKUP_LUA,
            env={**base_env, "BENCH_PATH": "/m/raw_lookup?signal_type=pdq&signal="},
            **run,
        )
        print("single lookups at ~2,000/s: /m/raw_lookup paced", file=sys.stderr)
        results["raw_lookup_paced_2000"] = run_wrk(
            url,
            script=PACED_LUA,
            env={
                **base_env,
                "BENCH_PATH": "/m/raw_lookup?signal_type=pdq&signal=",
                # 32 connections / 2,000 per s = 16 ms per request each, of which ~6 ms is latency
                "BENCH_DELAY_MS": str(max(1, round(1000 * args.connections / 2000) - 6)),
            },
            **run,
        )
        print("single lookups: /m/lookup", file=sys.stderr)
        results["lookup"] = run_wrk(
            url, script=LOOKUP_LUA, env={**base_env, "BENCH_PATH": "/m/lookup?signal_type=pdq&signal="}, **run
        )
        if not args.lookups_only:
            print("batch: /v1/match/batch (10,000 hashes per request)", file=sys.stderr)
            batch = run_wrk(
                f"{url}/v1/match/batch",
                script=BODY_LUA,
                env={**base_env, "BENCH_BODY": str(batch_file), "BENCH_CTYPE": "application/json"},
                connections=2,
                duration=args.duration,
                server_pid=proc.pid,
            )
            batch["hashes_per_s"] = round(batch["requests_per_s"] * 10_000)
            if batch["server_cpu_ms_per_request"]:  # robust to a busy machine: room on two idle cores
                batch["server_cpu_us_per_hash"] = round(batch["server_cpu_ms_per_request"] * 1000 / 10_000, 1)
                batch["hashes_per_s_on_2_idle_cores"] = round(2e6 / batch["server_cpu_us_per_hash"])
            results["batch"] = batch
            print("uploads: POST /m/lookup with a 1-MP JPEG", file=sys.stderr)
            results["upload_lookup"] = run_wrk(
                f"{url}/m/lookup",
                script=BODY_LUA,
                env={**base_env, "BENCH_BODY": str(upload_file), "BENCH_CTYPE": ctype},
                connections=4,
                duration=args.duration,
                server_pid=proc.pid,
            )
        results["memory_after_load"] = memory(proc.pid)
        if args.soak:
            results["soak"] = soak(url, proc.pid, base_env, args.soak, args.connections)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print(json.dumps(results, indent=2))


PROTOCOLS = {
    "plain": "httptools",
    "guarded": "takeback.web.protocol:GuardedHttpToolsProtocol",
}


def compare_http(data_dir: Path, args: argparse.Namespace, key: str, hashes_file: Path) -> None:
    """``/status/live`` and ``/m/raw_lookup`` under each protocol, alternating, two rounds each."""
    env = {"BENCH_KEY": key, "BENCH_HASHES": str(hashes_file)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in PROTOCOLS}
    for round_ in range(2):
        for name, http in PROTOCOLS.items():
            print(f"round {round_ + 1}: {name} ({http})", file=sys.stderr)
            proc, url, _ = start_server(data_dir, args.workers, http=http)
            try:
                run = dict(
                    connections=args.connections,
                    duration=args.duration,
                    server_pid=proc.pid,
                    threads=args.threads,
                )
                ceiling = run_wrk(f"{url}/status/live", script=None, env=env, **run)
                lookup = run_wrk(
                    url,
                    script=LOOKUP_LUA,
                    env={**env, "BENCH_PATH": "/m/raw_lookup?signal_type=pdq&signal="},
                    **run,
                )
                runs[name].append({"status_live": ceiling, "raw_lookup": lookup})
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)

    def mean(name: str, route: str, field: str) -> float:
        return sum(r[route][field] for r in runs[name]) / len(runs[name])

    summary: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "n_hashes": args.n, "runs": runs}
    for route in ("status_live", "raw_lookup"):
        summary[route] = {
            field: {
                "plain": round(mean("plain", route, field), 3),
                "guarded": round(mean("guarded", route, field), 3),
                "guarded_over_plain": round(mean("guarded", route, field) / mean("plain", route, field), 3),
            }
            for field in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_request")
        }
    print(json.dumps(summary, indent=2))


def soak(url: str, pid: int, env: dict[str, str], seconds: int, connections: int) -> dict[str, Any]:
    """Single lookups for ``seconds`` while sampling memory; flat means max/min within ±5 %."""
    print(f"soak: {seconds} s of lookups, sampling memory", file=sys.stderr)
    samples: list[tuple[float, float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(10):
            m = memory(pid)
            samples.append((round(time.monotonic() - t0), m["total_rss_mib"], m["total_pss_mib"]))

    sampler = threading.Thread(target=sample)
    sampler.start()
    load = run_wrk(
        url,
        script=LOOKUP_LUA,
        env={**env, "BENCH_PATH": "/m/raw_lookup?signal_type=pdq&signal="},
        connections=connections,
        duration=seconds,
    )
    done.set()
    sampler.join()
    warm = [s for s in samples if s[0] >= 60] or samples  # first minute: allocator warm-up
    rss = [s[1] for s in warm]
    return {
        "load": load,
        "samples": samples,
        "rss_first_mib": rss[0],
        "rss_last_mib": rss[-1],
        "rss_min_mib": min(rss),
        "rss_max_mib": max(rss),
        "rss_spread_pct": round(100 * (max(rss) - min(rss)) / min(rss), 2),
        "rss_drift_pct": round(100 * (rss[-1] - rss[0]) / rss[0], 2),
    }


if __name__ == "__main__":
    random.seed(0)
    main()
