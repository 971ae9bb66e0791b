"""The matching layer on top of the index: import, open, add-to-visible, lookups (issue 3).

Each figure is measured against a baseline in the same run:

- **import** of N entries (PDQ + MD5 + SHA-256, note, metadata) in one transaction through
  ``banks.import_contents`` (validation, duplicate checks, change log, audit) against a bare
  ``executemany`` of the same rows into the same tables (the floor: no checks, no log).
- **open** a ``Matcher`` from its saved index file (load + catch up on the change log) against
  rebuilding the index from the store (what HMA does on every change).
- **add visible**: commit one new entry, then the next lookup finds it (p50/p99 over many adds)
  against the same rebuild.
- **lookup** p50/p99 through ``Matcher.match`` (change-log check, index search, policy read from the
  store) for a miss and a hit, against ``PdqIndex.search`` alone; batch lookups/s likewise.

    python benchmarks/bench_matching.py --n 200000
    python benchmarks/bench_matching.py --n 200000 --url postgresql+psycopg://postgres@127.0.0.1:5432/bench

Prints a JSON summary; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from takeback.banks import service as banks
from takeback.banks.models import BankContent, ContentSignal
from takeback.clock import utcnow
from takeback.matching import Matcher, MatchQuery
from takeback.signals import SignalValue
from takeback.store import open_database


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def fresh_database(url: str | None, workdir: Path, name: str) -> str:
    if url is None:
        return f"sqlite:///{workdir / (name + '.db')}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def entries(n: int, seed: int) -> list[banks.NewContent]:
    rng = np.random.default_rng(seed)
    pdq = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    md5 = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    sha = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    return [
        banks.NewContent(
            signals=(
                SignalValue("pdq", pdq[i].tobytes(), 90),
                SignalValue("md5", md5[i].tobytes()),
                SignalValue("sha256", sha[i].tobytes()),
            ),
            note=f"entry {i}",
            metadata={"batch": seed},
            source="bench",
        )
        for i in range(n)
    ]


def bare_insert(url: str, rows: list[banks.NewContent]) -> float:
    """The floor: the same rows straight into the tables, no validation, duplicate check or log."""
    db = open_database(url)
    with db.session() as s:
        banks.create_bank(s, name="bare", actor="bench")
    started = time.perf_counter()
    with db.engine.begin() as conn:
        first = 1
        conn.execute(
            insert(BankContent.__table__),
            [
                {
                    "id": first + i,
                    "bank_id": 1,
                    "note": e.note,
                    "metadata": e.metadata,
                    "source": e.source,
                    "enabled": True,
                    "created_at": utcnow(),
                    "created_by": "bench",
                }
                for i, e in enumerate(rows)
            ],
        )
        conn.execute(
            insert(ContentSignal.__table__),
            [
                {
                    "content_id": first + i,
                    "signal_type": s.signal_type,
                    "value": s.value,
                    "quality": s.quality,
                }
                for i, e in enumerate(rows)
                for s in e.signals
            ],
        )
    elapsed = time.perf_counter() - started
    db.dispose()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="entries in the bank")
    ap.add_argument("--url", default=None, help="PostgreSQL admin URL (default: SQLite files in a temp dir)")
    ap.add_argument("--adds", type=int, default=200, help="add-to-visible repetitions")
    ap.add_argument("--lookups", type=int, default=500, help="single lookups per kind")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tb-bench-matching-"))
    out: dict[str, Any] = {
        "n": args.n,
        "database": "postgresql" if args.url else "sqlite",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    try:
        rows = entries(args.n, seed=1)
        # --- import vs bare insert -------------------------------------------------------------
        bare_url = fresh_database(args.url, workdir, "tb_bench_bare")
        bare = bare_insert(bare_url, rows)
        url = fresh_database(args.url, workdir, "tb_bench_matching")
        db = open_database(url)
        with db.session() as s:
            banks.create_bank(s, name="bench", actor="bench")
        started = time.perf_counter()
        db.run(
            lambda s: banks.import_contents(s, bank_name="bench", entries=rows, actor="bench", source="bench")
        )
        imported = time.perf_counter() - started
        out["import"] = {
            "entries_per_s": round(args.n / imported),
            "bare_insert_entries_per_s": round(args.n / bare),
            "ratio_to_bare": round(imported / bare, 2),
        }
        stored = np.frombuffer(b"".join(e.signals[0].value for e in rows), dtype=np.uint8).reshape(-1, 32)
        rows = []  # free the entries before the lookups
        # --- open from file vs rebuild ---------------------------------------------------------
        index_dir = workdir / "index"
        started = time.perf_counter()
        m = Matcher(db, index_dir=index_dir)  # no file yet: builds from the store and saves
        rebuild = time.perf_counter() - started
        m.close()
        extra = entries(500, seed=2)
        with db.session() as s:
            banks.add_contents(s, bank_name="bench", entries=extra, actor="bench")
        started = time.perf_counter()
        m = Matcher(db, index_dir=index_dir)
        opened = time.perf_counter() - started
        assert not m.notices, m.notices
        out["open"] = {
            "from_file_plus_500_changes_s": round(opened, 3),
            "rebuild_from_store_s": round(rebuild, 3),
            "speedup": round(rebuild / opened, 1),
        }
        # --- add -> visible --------------------------------------------------------------------
        rng = np.random.default_rng(3)
        visible: list[float] = []
        for _ in range(args.adds):
            value = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
            started = time.perf_counter()
            with db.session() as s:
                banks.add_contents(
                    s,
                    bank_name="bench",
                    entries=[banks.NewContent(signals=(SignalValue("pdq", value, 90),))],
                    actor="b",
                )
            (r,) = m.match([MatchQuery.of("q", pdq=value)])
            visible.append(time.perf_counter() - started)
            assert len(r.matches) == 1
        out["add_visible_ms"] = {
            "p50": ms(pct(visible, 50)),
            "p99": ms(pct(visible, 99)),
            "rebuild_ms": ms(rebuild),
            "ratio_rebuild_to_p50": round(rebuild / pct(visible, 50)),
        }
        # --- lookups ---------------------------------------------------------------------------
        misses = rng.integers(0, 256, (args.lookups, 32), dtype=np.uint8)
        picks = rng.integers(0, stored.shape[0], args.lookups)
        hits = stored[picks].copy()
        for row in hits:  # 1-16 bits away from a stored hash
            bits = rng.choice(256, int(rng.integers(1, 17)), replace=False)
            for b in bits:
                row[b // 8] ^= 0x80 >> (b % 8)
        index = m._index
        for kind, queries in (("miss", misses), ("hit", hits)):
            t_match, t_index = [], []
            for qv in queries:
                qb = qv.tobytes()
                started = time.perf_counter()
                (r,) = m.match([MatchQuery.of("q", pdq=qb)])
                t_match.append(time.perf_counter() - started)
                started = time.perf_counter()
                index.search(qv, 31)
                t_index.append(time.perf_counter() - started)
                if kind == "hit":
                    assert r.matches
            out[f"lookup_{kind}_ms"] = {
                "matcher_p50": ms(pct(t_match, 50)),
                "matcher_p99": ms(pct(t_match, 99)),
                "index_only_p50": ms(pct(t_index, 50)),
                "index_only_p99": ms(pct(t_index, 99)),
            }
        batch = np.concatenate([misses, hits])
        started = time.perf_counter()
        m.match([MatchQuery.of("q", pdq=qv.tobytes()) for qv in batch])
        t_batch = time.perf_counter() - started
        started = time.perf_counter()
        index.search_batch(batch, 31)
        t_index_batch = time.perf_counter() - started
        out["batch_lookups_per_s"] = {
            "matcher": round(len(batch) / t_batch),
            "index_only": round(len(batch) / t_index_batch),
        }
        m.close()
        db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
