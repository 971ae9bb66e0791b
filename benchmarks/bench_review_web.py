"""The review grid over HTTP and in Chromium, on a 20,000-item scan case: page times for one
investigator, for 20 at once (each her own signed-in session), and Chromium's navigation timing.

The case folder is written by ``bench_review.build`` (benchmark-only, as a scan would have written
it; ``--files`` gives every item a real small JPEG so tiles are made from real bytes). ``takeback
serve --workers 2`` runs on loopback with ``--sessions`` investigators assigned to the folder. Each
session is a thread with its own HTTP client walking what a reviewer does: the grid's groups, page
after page, the items view, an item's page, and now and then a categorisation (the number keys'
``fetch()`` with the CSRF token, a write to the case's review log and an audit row); with
``--tiles`` it also fetches every tile of each grid page, one after another, as a browser would.
Two loads, as bench_console: flat out and with a 1-second pause between pages. Then Chromium
(Debian's, through Playwright) signs in and pages through the grid: navigation timing per page.

    python benchmarks/bench_review_web.py                     # 20 sessions, 20,000 items, 20 s a load
    python benchmarks/bench_review_web.py --items 2000 --sessions 5 --seconds 5

Prints a JSON summary; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402

from bench_console import PASSWORD, free_port, pct  # noqa: E402
from bench_review import build as build_case  # noqa: E402
from takeback.config import Settings, installation_secret  # noqa: E402
from takeback.evidence.signing import Signer  # noqa: E402
from takeback.staff import service as staff  # noqa: E402
from takeback.staff import totp  # noqa: E402
from takeback.store import database_url, open_database  # noqa: E402

CHROMIUM = Path(os.environ.get("TAKEBACK_TEST_CHROMIUM", "/usr/bin/chromium"))


@dataclass
class Reviewer:
    handle: str
    seed: bytes
    times: list[tuple[str, float]] = field(default_factory=list)
    errors: int = 0
    last_step: int = -1


def build(data: Path, folder: Path, n_sessions: int) -> tuple[int, list[Reviewer]]:
    db = open_database(database_url(Settings(data_dir=data)))
    key = installation_secret(data, staff.SECRET_NAME)
    with db.session() as s:
        scan_id = staff.register_scan(s, folder=folder, label="bench 20k", actor="bench").id
    out = []
    for i in range(n_sessions):
        handle = f"inv{i:02d}"
        with db.session() as s:
            _, token = staff.create_user(s, handle=handle, role="investigator", key=key, actor="bench")
            seed = totp.from_base32(staff.enrolment(s, token=token, key=key).secret_text)
            step = totp.step_at(time.time())
            code = totp.code_at(seed, step)
            staff.complete_enrolment(s, token=token, password=PASSWORD, code=code, key=key)
            staff.assign(s, handle=handle, scan_id=scan_id, actor="bench")
        out.append(Reviewer(handle, seed, last_step=step))  # enrolment spent this step's code
    db.dispose()
    return scan_id, out


def serve(data: Path, workers: int) -> tuple[Any, str]:
    import subprocess

    port = free_port()
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(data), "PYTHONPATH": str(ROOT / "src")}
    env.pop("TAKEBACK_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "takeback.cli.main", "serve", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/status", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("takeback serve did not become ready")


def code_for(r: Reviewer) -> str:
    while totp.step_at(time.time()) == r.last_step:  # a code is good once: wait for the next step
        time.sleep(0.5)
    r.last_step = totp.step_at(time.time())
    return totp.code_at(r.seed, r.last_step)


def sign_in(url: str, r: Reviewer) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    page = client.get("/console/login").text
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/console/login",
        data={"token": token.group(1), "handle": r.handle, "password": PASSWORD, "code": code_for(r)},
    )
    if answer.status_code != 303:
        raise SystemExit(f"sign-in of {r.handle} failed: {answer.status_code}")
    return client


def _timed(r: Reviewer, kind: str, call: Any) -> httpx.Response:
    t0 = time.perf_counter()
    resp: httpx.Response = call()
    r.times.append((kind, time.perf_counter() - t0))
    if resp.status_code >= 400:
        r.errors += 1
    return resp


def walk(
    client: httpx.Client,
    r: Reviewer,
    scan_id: int,
    until: float,
    pause: float,
    tiles: bool,
    offset: int,
) -> None:
    nxt: str | None = f"/review/{scan_id}?view=groups"
    i = offset
    csrf = ""
    while time.monotonic() < until:
        here = nxt or f"/review/{scan_id}?view=groups"
        page = _timed(r, "grid_groups", lambda here=here: client.get(here))
        found = re.search(r'href="([^"]+)" rel="next"', page.text)
        nxt = found.group(1).replace("&amp;", "&") if found else None
        csrf_m = re.search(r'data-csrf="([^"]+)"', page.text)
        csrf = csrf_m.group(1) if csrf_m else csrf
        ids = list(dict.fromkeys(re.findall(r'data-item="(\d+)"', page.text)))
        if tiles:
            for item_id in ids:
                _timed(r, "tile", lambda item_id=item_id: client.get(f"/review/{scan_id}/thumb/{item_id}"))
        if pause:
            time.sleep(pause)
        if i % 3 == 1 and ids:
            one = f"/review/{scan_id}/items/{ids[i % len(ids)]}"
            _timed(r, "item", lambda one=one: client.get(one))
            if pause:
                time.sleep(pause)
        if i % 4 == 2:
            _timed(r, "grid_items", lambda: client.get(f"/review/{scan_id}?view=items&only=uncategorised"))
            if pause:
                time.sleep(pause)
        if i % 5 == 3 and ids and csrf:
            body = json.dumps({"items": [int(ids[0])], "category": "not_relevant"})
            _timed(
                r,
                "categorise",
                lambda body=body, token=csrf: client.post(
                    f"/review/{scan_id}/categorise",
                    content=body,
                    headers={"content-type": "application/json", "x-csrf-token": token},
                ),
            )
            if pause:
                time.sleep(pause)
        i += 1


def load(
    clients: list[httpx.Client],
    reviewers: list[Reviewer],
    scan_id: int,
    seconds: float,
    pause: float,
    tiles: bool,
) -> dict[str, Any]:
    for r in reviewers:
        r.times.clear()
        r.errors = 0
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=walk, args=(c, r, scan_id, until, pause, tiles, n))
        for n, (c, r) in enumerate(zip(clients, reviewers, strict=True))
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    by_kind: dict[str, list[float]] = {}
    for r in reviewers:
        for kind, dt in r.times:
            by_kind.setdefault(kind, []).append(dt)
    pages = [dt for k, v in by_kind.items() if k != "tile" for dt in v]
    return {
        "pages": len(pages),
        "pages_per_s": round(len(pages) / wall, 1),
        "p50_ms": pct(pages, 50),
        "p95_ms": pct(pages, 95),
        "p99_ms": pct(pages, 99),
        "errors": sum(r.errors for r in reviewers),
        "p95_ms_by_kind": {k: pct(v, 95) for k, v in sorted(by_kind.items())},
        "requests_by_kind": {k: len(v) for k, v in sorted(by_kind.items())},
    }


def chromium(url: str, r: Reviewer, scan_id: int, pages: int) -> dict[str, Any]:
    """Navigation timing of the grid's first pages and an item page, in Chromium."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"response_end_ms": [], "dom_content_loaded_ms": [], "load_ms": []}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        ctx = b.new_context(base_url=url, viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.goto("/console/login?lang=en")
        page.fill("#handle", r.handle)
        page.fill("#password", PASSWORD)
        page.fill("#code", code_for(r))
        page.click("button[type=submit]")
        page.wait_for_load_state()
        target = f"/review/{scan_id}?view=groups&lang=en"
        for _ in range(pages):
            page.goto(target)
            page.wait_for_load_state("load")
            nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
            n = json.loads(nav)
            out["response_end_ms"].append(n["responseEnd"] - n["startTime"])
            out["dom_content_loaded_ms"].append(n["domContentLoadedEventEnd"] - n["startTime"])
            out["load_ms"].append(n["loadEventEnd"] - n["startTime"])
            link = page.locator("a[rel=next]")
            if not link.count():
                break
            target = link.get_attribute("href") or target
        b.close()
    return {
        k: {"pages": len(v), "p50": round(sorted(v)[len(v) // 2], 1), "p95": pct([x / 1000 for x in v], 95)}
        for k, v in out.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--files", action="store_true", help="a real small JPEG per item (tiles from bytes)")
    ap.add_argument("--tiles", action="store_true", help="sessions fetch every tile of each grid page")
    ap.add_argument("--browser-pages", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-review-web-") as tmp:
        root = Path(tmp)
        data = root / "data"
        t0 = time.monotonic()
        signer = Signer.generate()
        build_case(root / "case", args.items, signer=signer, files=(root / "seized") if args.files else None)
        scan_id, reviewers = build(data, root / "case", args.sessions + 1)
        built = time.monotonic() - t0
        proc, url = serve(data, args.workers)
        try:
            clients = [sign_in(url, r) for r in reviewers[: args.sessions]]
            t_open = time.perf_counter()
            first = clients[0].get(f"/review/{scan_id}")
            first_ms = round((time.perf_counter() - t_open) * 1000, 1)
            for c in clients:  # each worker opens the folder and verifies it once
                c.get(f"/review/{scan_id}")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if clients[0].get(f"/review/{scan_id}/status").json().get("verification") == "verified":
                    break
                time.sleep(1)
            alone = load(clients[:1], reviewers[:1], scan_id, args.seconds / 2, 0, args.tiles)
            flat = load(clients, reviewers[: args.sessions], scan_id, args.seconds, 0, args.tiles)
            paced = load(clients, reviewers[: args.sessions], scan_id, args.seconds, 1.0, args.tiles)
            browser = chromium(url, reviewers[-1], scan_id, args.browser_pages) if CHROMIUM.exists() else None
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
                "items": args.items,
                "sessions": args.sessions,
                "workers": args.workers,
                "tiles": args.tiles,
                "build_s": round(built, 1),
                "first_grid_page_cold_ms": first_ms if first.status_code == 200 else None,
                "one_session_flat_out": alone,
                "all_sessions_flat_out": flat,
                "all_sessions_1s_pause": paced,
                "chromium_navigation": browser,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
