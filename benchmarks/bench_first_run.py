"""First run after install (issue 11 §3): the first ``takeback match --pdq HEX`` on a 1M-hash bank,
a later cold match, and how long a fresh ``takeback serve`` (2 workers) takes to be ready.

Every run gets a fresh HOME and a fresh data dir: a copy of a template store made by ``takeback
bank import`` of N random PDQ hashes (with the index file the import leaves; no compiled kernels).
With ``--baseline-rev REV`` the same steps run the ``src`` of that git revision (PYTHONPATH) on a
copy of the store alone (before issue 11 an import left no index file), in the same session.

Timed: wall clock of the whole command (process start to exit) and its CPU (user + system, children
included). "serve ready": from starting ``takeback serve`` to the first ``/status`` 200 (after
issue 11 that means every worker is ready). "later cold match": a new process after the background
compile has filled the cache. The machine is shared: compare ratios, repeat runs.

    .venv/bin/python benchmarks/bench_first_run.py --runs 3 --baseline-rev cab13a0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def env_for(home: Path, data: Path, src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "TAKEBACK_DATABASE_URL")}
    env.update(HOME=str(home), TAKEBACK_DATA_DIR=str(data))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr}")
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def make_template(where: Path, n: int) -> Path:
    """A data dir holding bank ``bench`` of ``n`` random PDQ hashes, imported with ``bank import``."""
    data = where / "template"
    home = where / "template-home"
    home.mkdir(parents=True, exist_ok=True)
    hashes = np.random.default_rng(1).integers(0, 256, (n, 32), dtype=np.uint8)
    csv = where / "bank.csv"
    with csv.open("w") as fh:
        fh.write("pdq,pdq_quality\n")
        fh.writelines(f"{row.tobytes().hex()},90\n" for row in hashes)
    env = env_for(home, data, None)
    subprocess.run([*TAKEBACK, "bank", "create", "bench"], env=env, check=True, capture_output=True)
    took = timed([*TAKEBACK, "bank", "import", "bench", str(csv)], env)
    print(f"template: imported {n:,} hashes in {took['wall_s']:.1f} s", file=sys.stderr)
    shutil.rmtree(data / "index" / "jit", ignore_errors=True)
    return data


def query_hex(template: Path) -> str:
    import sqlite3

    con = sqlite3.connect(template / "takeback.db")
    try:
        (value,) = con.execute(
            "SELECT value FROM content_signal WHERE signal_type = 'pdq' LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    return bytes(value).hex()


def fresh(template: Path, where: Path, *, with_index: bool) -> tuple[Path, Path]:
    home, data = where / "home", where / "data"
    shutil.rmtree(where, ignore_errors=True)
    home.mkdir(parents=True)
    data.mkdir(parents=True)
    for f in template.glob("takeback.db*"):  # with its WAL, if any
        shutil.copy(f, data / f.name)
    if with_index and (template / "index").is_dir():
        shutil.copytree(template / "index", data / "index", ignore=shutil.ignore_patterns("jit", "*.lock"))
    return home, data


def wait_compiled(data: Path, limit: float = 600) -> float | None:
    """Seconds until the background compile left its marker (None: none started in time)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if list((data / "index" / "jit").glob("ready-*")):
            return time.perf_counter() - t0
        time.sleep(0.2)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_ready(env: dict[str, str], log: Path) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}/status"
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*TAKEBACK, "serve", "--port", str(port), "--workers", "2"], env=env, stdout=fh, stderr=fh
        )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited:\n{log.read_text()}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def one_run(template: Path, work: Path, src: Path | None, pdq: str) -> dict[str, Any]:
    new = src is None
    out: dict[str, Any] = {}
    home, data = fresh(template, work / "match", with_index=new)
    env = env_for(home, data, src)
    cmd = [*TAKEBACK, "match", "--pdq", pdq, "-f", "jsonl"]
    out["first_match"] = timed(cmd, env)
    if new:
        out["background_compile_s"] = wait_compiled(data)
    out["later_cold_match"] = timed(cmd, env)
    home, data = fresh(template, work / "serve", with_index=new)
    out["serve_ready_s"] = round(serve_ready(env_for(home, data, src), work / "serve.log"), 3)
    if new:
        wait_compiled(data)  # let the background compile finish before the next measurement
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--template", type=Path, help="reuse a template data dir (made by an earlier run)")
    ap.add_argument("--baseline-rev", help="git revision whose src is the baseline (e.g. cab13a0)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "takeback-bench-first-run")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    template = args.template or make_template(args.work, args.n)
    pdq = query_hex(template)
    old_src: Path | None = None
    if args.baseline_rev:
        old = args.work / "baseline"
        shutil.rmtree(old, ignore_errors=True)
        old.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline_rev, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        old_src = old / "src"
    results: dict[str, list[dict[str, Any]]] = {"takeback": [], "baseline": []}
    for i in range(args.runs):  # alternate, so both see the same load
        for name, src in (("baseline", old_src), ("takeback", None)):
            if name == "baseline" and src is None:
                continue
            r = one_run(template, args.work / name, src, pdq)
            results[name].append(r)
            print(f"run {i + 1} {name}: {json.dumps(r)}", file=sys.stderr, flush=True)

    def med(name: str, key: str, field: str | None = None) -> float | None:
        vals = [r[key][field] if field else r[key] for r in results[name] if r.get(key) is not None]
        return round(statistics.median(vals), 3) if vals else None

    summary: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "n": args.n,
        "runs": args.runs,
        "results": results,
    }
    for name in ("takeback", "baseline"):
        if results[name]:
            summary[f"{name}_median"] = {
                "first_match_wall_s": med(name, "first_match", "wall_s"),
                "first_match_cpu_s": med(name, "first_match", "cpu_s"),
                "later_cold_match_wall_s": med(name, "later_cold_match", "wall_s"),
                "later_cold_match_cpu_s": med(name, "later_cold_match", "cpu_s"),
                "serve_ready_s": med(name, "serve_ready_s"),
                "background_compile_s": med(name, "background_compile_s"),
            }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
