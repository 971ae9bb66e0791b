"""Staff sessions at once against ``takeback serve``: page times of the console with 20 caseworkers
signed in (password + TOTP, each her own session cookie) on this machine's cores.

The store gets ``--cases`` pseudonymous HK cases, each with a takedown and a referral, spread over
``--sessions`` caseworkers (a caseworker sees only hers). ``takeback serve --workers 2`` runs on
loopback. Each session is a thread with its own HTTP client walking what a caseworker does: the
case list, a case's page, its tabs (evidence, referrals, takedowns, audit), now and then a change
(a consent recorded or withdrawn, which is a form post with the CSRF token, a write and an audit
row). Two loads: flat out (closed loop, no pause: the worst case, latency is concurrency over
throughput) and with a 1-second pause between pages (people reading). Same run, same server:
the same number of threads on ``/status/live`` (no session, no work) as the HTTP stack's floor,
and one session alone as the page's own cost.

    python benchmarks/bench_console.py                      # 20 sessions, 300 cases, 20 s per load
    python benchmarks/bench_console.py --sessions 5 --seconds 5

Prints a JSON summary; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from takeback.cases import service as cases
from takeback.config import Settings, installation_secret
from takeback.staff import service as staff
from takeback.staff import totp
from takeback.store import database_url, open_database

PASSWORD = "bench staff pass phrase"
TABS = ["overview", "evidence", "referrals", "takedowns", "audit"]


@dataclass
class Worker:
    handle: str
    seed: bytes
    cases: list[str]
    last_step: int = -1  # the TOTP step this account last used (a code is good once)
    times: list[tuple[str, float]] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # "kind status" -> count, of the errors


def build(data: Path, n_sessions: int, n_cases: int) -> list[Worker]:
    db = open_database(database_url(Settings(data_dir=data)))
    key = installation_secret(data, staff.SECRET_NAME)
    workers: list[Worker] = []
    with db.session() as s:
        refs = []
        for i in range(n_cases):
            case = cases.create_case(s, jurisdiction="HK", actor="bench")
            cases.add_takedown(
                s, case=case, url=f"https://posts.example/{i}", platform="example", actor="bench"
            )
            refs.append(case.reference)
    for i in range(n_sessions):
        handle = f"cw{i:02d}"
        with db.session() as s:
            _, token = staff.create_user(s, handle=handle, role="caseworker", key=key, actor="bench")
            seed = totp.from_base32(staff.enrolment(s, token=token, key=key).secret_text)
            enrolled_at = time.time()
            code = totp.code_at(seed, totp.step_at(enrolled_at))
            staff.complete_enrolment(s, token=token, password=PASSWORD, code=code, key=key)
            mine = refs[i::n_sessions]
            for ref in mine:
                staff.assign(s, handle=handle, case_reference=ref, actor="bench")
        workers.append(Worker(handle=handle, seed=seed, cases=mine, last_step=totp.step_at(enrolled_at)))
    db.dispose()
    return workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(data: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data)}
    env.pop("TAKEBACK_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "takeback.cli.main", "serve", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/status", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("takeback serve did not become ready")


def sign_in(url: str, w: Worker) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    page = client.get("/console/login").text
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token
    # each account its own step: wait for a step this account has not used yet
    while True:
        step = totp.step_at(time.time())
        if step > w.last_step:
            break
        time.sleep(1)
    r = client.post(
        "/console/login",
        data={
            "token": token.group(1),
            "handle": w.handle,
            "password": PASSWORD,
            "code": totp.code_at(w.seed, step),
        },
    )
    if r.status_code != 303:
        raise SystemExit(f"sign-in of {w.handle} failed: {r.status_code}")
    w.last_step = step
    return client


def walk(client: httpx.Client, w: Worker, until: float, pause: float, stop: threading.Event) -> None:
    i = 0
    csrf = ""
    while time.monotonic() < until and not stop.is_set():
        ref = w.cases[i % len(w.cases)]
        tab = TABS[i % len(TABS)]
        steps: list[tuple[str, str, dict[str, str] | None]] = [
            ("list", "/console/cases", None),
            ("case", f"/console/cases/{ref}?tab={tab}", None),
        ]
        if i % 5 == 4 and csrf:
            grant = "grant" if (i // 5) % 2 == 0 else "withdraw"
            steps.append(
                (
                    "change",
                    f"/console/cases/{ref}/consent",
                    {"csrf": csrf, "purpose": "referral", "action": grant},
                )
            )
        for kind, path, form in steps:
            t0 = time.perf_counter()
            r = client.post(path, data=form) if form is not None else client.get(path)
            dt = time.perf_counter() - t0
            if r.status_code >= 400 and not (kind == "change" and r.status_code == 400):
                w.errors += 1
                key = f"{kind} {r.status_code}"
                w.statuses[key] = w.statuses.get(key, 0) + 1
            found = re.search(r'name="csrf" value="([^"]+)"', r.text) if form is None else None
            if found:
                csrf = found.group(1)
            w.times.append((kind, dt))
            if pause:
                time.sleep(pause)
        i += 1


def floor(url: str, n: int, seconds: float) -> list[float]:
    times: list[float] = []
    lock = threading.Lock()
    until = time.monotonic() + seconds

    def run() -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            while time.monotonic() < until:
                t0 = time.perf_counter()
                c.get("/status/live")
                dt = time.perf_counter() - t0
                with lock:
                    times.append(dt)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return round(1000 * v[min(len(v) - 1, int(p / 100 * len(v)))], 1) if v else float("nan")


def load(
    url: str, workers: list[Worker], clients: list[httpx.Client], seconds: float, pause: float
) -> dict[str, Any]:
    for w in workers:
        w.times.clear()
        w.errors = 0
        w.statuses.clear()
    stop = threading.Event()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=walk, args=(c, w, until, pause, stop))
        for c, w in zip(clients, workers, strict=True)
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    every = [dt for w in workers for _, dt in w.times]
    by_kind: dict[str, list[float]] = {}
    for w in workers:
        for kind, dt in w.times:
            by_kind.setdefault(kind, []).append(dt)
    return {
        "pages": len(every),
        "pages_per_s": round(len(every) / wall, 1),
        "p50_ms": pct(every, 50),
        "p95_ms": pct(every, 95),
        "p99_ms": pct(every, 99),
        "errors": sum(w.errors for w in workers),
        "error_statuses": {
            k: sum(w.statuses.get(k, 0) for w in workers)
            for k in sorted({k for w in workers for k in w.statuses})
        },
        "p95_ms_by_kind": {k: pct(v, 95) for k, v in sorted(by_kind.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        data = Path(tmp) / "data"
        t0 = time.monotonic()
        ws = build(data, args.sessions, args.cases)
        built = time.monotonic() - t0
        proc, url = serve(data, args.workers)
        try:
            clients = [sign_in(url, w) for w in ws]
            for c, w in zip(clients, ws, strict=True):  # warm each worker's caches
                c.get("/console/cases")
                c.get(f"/console/cases/{w.cases[0]}")
            alone = load(url, ws[:1], clients[:1], args.seconds / 2, 0)
            flat = load(url, ws, clients, args.seconds, 0)
            paced = load(url, ws, clients, args.seconds, 1.0)
            base = floor(url, args.sessions, args.seconds / 2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
                "sessions": args.sessions,
                "cases": args.cases,
                "workers": args.workers,
                "build_s": round(built, 1),
                "one_session_flat_out": alone,
                "all_sessions_flat_out": flat,
                "all_sessions_1s_pause": paced,
                "status_live_same_threads": {
                    "requests": len(base),
                    "p50_ms": pct(base, 50),
                    "p95_ms": pct(base, 95),
                },
                "p95_ratio_paced_vs_one_session": round(paced["p95_ms"] / alone["p95_ms"], 2)
                if alone["p95_ms"]
                else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
