"""Full and incremental sync of a bank between two local instances: the publisher served by
``takeback serve`` on loopback, the mirror pulling its signed feed (``takeback.exchanges.mirror``,
what ``takeback exchange pull`` runs) into a SQLite store of its own.

    python benchmarks/bench_sync.py                  # 100,000 PDQ hashes
    python benchmarks/bench_sync.py --n 1000000      # the issue's target: <= 60 s

Measured: the full sync (every page fetched, verified and applied in its own transaction), then an
incremental one of 1,000 changes (500 adds, 250 disables, 250 removals on the publisher) from the
change to the last one committed on the mirror, and the mirror process's peak RSS before and after
the full sync (memory must stay flat in the feed size: pages are bounded). The mirror is checked
equal to the publisher afterwards. Baseline (the issue): HMA's fetch on this machine kind
~3,230 signals/s. Prints a JSON summary; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from takeback.auth import Role, create_key, resolve_banks
from takeback.banks import service as banks
from takeback.config import Settings
from takeback.exchanges import mirror
from takeback.signals import SignalValue
from takeback.store import Database, database_url, open_database

BANK = "bench"
#: the publisher's compiled search kernels, kept between runs of one source tree (numba's cache
#: is keyed by the source file's path; see ``serve``)
JIT_CACHE = (
    Path(tempfile.gettempdir())
    / f"takeback-bench-jit-{hashlib.sha256(str(Path(banks.__file__).resolve()).encode()).hexdigest()[:12]}"
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(db: Database, n: int) -> float:
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    with db.session() as s:
        banks.create_bank(s, name=BANK, actor="bench")
    chunk = 20_000
    for start in range(0, n, chunk):
        rows = rng.integers(0, 256, size=(min(chunk, n - start), 32), dtype=np.uint8)
        entries = [banks.NewContent(signals=(SignalValue("pdq", r.tobytes(), 90),)) for r in rows]
        with db.session() as s:
            banks.add_contents(s, bank_name=BANK, entries=entries, actor="bench")
        print(f"  stored {start + len(entries):,} / {n:,}", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) of process ``root`` and its descendants (the server's workers),
    from /proc: on a shared machine the CPU a side spends is steadier than the wall clock."""
    table: dict[int, tuple[int, int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            table[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    keep = {root}
    for _ in range(8):  # a few levels: supervisor -> workers
        keep |= {pid for pid, (ppid, _) in table.items() if ppid in keep}
    ticks = sum(cpu for pid, (_, cpu) in table.items() if pid in keep)
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data_dir), "NUMBA_CACHE_DIR": str(JIT_CACHE)}
    env.pop("TAKEBACK_DATABASE_URL", None)
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - lives as long as the server
    cmd = [sys.executable, "-m", "takeback.cli.main", "serve", "--port", str(port), "--workers", "1"]
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
    # A first start compiles the search kernels in a background process: wait for it (once per
    # machine: the cache is kept), so that it does not share the two cores with the measured sync.
    deadline = time.monotonic() + 900
    while not any(JIT_CACHE.glob("ready-*")) and time.monotonic() < deadline:
        time.sleep(1)
    return proc, url


def export(db: Database, bank: str) -> list[str]:
    with db.session() as s:
        out = []
        for v in banks.iter_contents(s, bank_name=bank):
            rec = v.to_record()
            rec.pop("content_id")
            out.append(json.dumps(rec, sort_keys=True))
    return sorted(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=20_000)
    ap.add_argument("--keep", type=Path, help="Work in this folder and keep it (default: a temporary one).")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-sync-"))
    pub_dir, mir_dir = work / "publisher", work / "mirror"
    for d in (pub_dir, mir_dir):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    pub = open_database(database_url(Settings(data_dir=pub_dir)))
    mir = open_database(database_url(Settings(data_dir=mir_dir)))
    fill_s = fill(pub, args.n)
    with pub.session() as s:
        ids = resolve_banks(s, names=[BANK], role=Role.EXCHANGE)
        token = create_key(s, role=Role.EXCHANGE, actor="bench", bank_ids=ids, rate_limit=0).token
    proc, url = serve(pub_dir)
    try:
        key = httpx.get(f"{url}/v1/feed/key", headers={"Authorization": f"Bearer {token}"}).json()
        with mir.session() as s:
            mirror.add_mirror(
                s, name="mirror", url=url, remote_bank=BANK, token=token, publisher_key=key["public_key"],
                actor="bench", local=True,
            )  # fmt: skip
        rss_before = rss_mb()
        load_before = os.getloadavg()[0]
        pub_cpu, mir_cpu = tree_cpu_s(proc.pid), time.process_time()
        started = time.perf_counter()
        full = mirror.pull(mir, name="mirror", actor="bench", page_size=args.page_size)
        full_s = time.perf_counter() - started
        pub_cpu, mir_cpu = tree_cpu_s(proc.pid) - pub_cpu, time.process_time() - mir_cpu
        load_after = os.getloadavg()[0]
        rss_after = rss_mb()
        assert full.ok, full.error
        # incremental: 1,000 changes on the publisher, then pulled
        rng = np.random.default_rng(2)
        with pub.session() as s:
            some = [v.id for v in banks.iter_contents(s, bank_name=BANK, limit=500)]
            changed = time.perf_counter()
            new = [banks.NewContent(signals=(SignalValue("pdq", rng.bytes(32), 90),)) for _ in range(500)]
            banks.add_contents(s, bank_name=BANK, actor="bench", entries=new)
            banks.set_contents_enabled(
                s, bank_name=BANK, content_ids=some[:250], enabled=False, actor="bench"
            )
            banks.remove_contents(s, bank_name=BANK, content_ids=some[250:], actor="bench")
        committed = time.perf_counter()
        inc = mirror.pull(mir, name="mirror", actor="bench", page_size=args.page_size)
        inc_s = time.perf_counter() - committed
        end_to_end = time.perf_counter() - changed
        assert inc.ok and inc.changes == 1_000, inc
        equal = export(pub, BANK) == export(mir, "mirror")
    finally:
        proc.terminate()
        proc.wait(30)
    summary: dict[str, Any] = {
        "n": args.n,
        "page_size": args.page_size,
        "fill_s": round(fill_s, 1),
        "full_sync_s": round(full_s, 2),
        "full_sync_signals_per_s": round(args.n / full_s),
        "pages": full.pages,
        "full_sync_cpu_s_mirror": round(mir_cpu, 1),
        "full_sync_cpu_s_publisher": round(pub_cpu, 1),
        "load_average_1min_before_after": [round(load_before, 1), round(load_after, 1)],
        "incremental_1000_pull_s": round(inc_s, 3),
        "incremental_1000_end_to_end_s": round(end_to_end, 3),
        "mirror_peak_rss_mb_before": round(rss_before),
        "mirror_peak_rss_mb_after": round(rss_after),
        "mirror_equals_publisher": equal,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    print(json.dumps(summary, indent=2))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
