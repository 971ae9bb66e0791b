"""Measure the review grid over a 20,000-item scan case: open, and paging through groups and items.

A real scan of 20,000 images takes many minutes on two cores, so the case folder is written directly
by :func:`build` (benchmark-only): the same tables, sealed records, grouping digests and custody
entries a scan writes, so ``case verify`` passes on it and the review opens it as it would a
scanned one. Items: 400 folders of 50 (a seized phone's albums), 2,000 near-duplicate pairs, 500
derivation sets of three with their links; ~4 % with AI provenance (tier 1-2), a nudity score on
every image, 100 with a live bank hit. With ``--files`` each item is a real small JPEG (so tiles can
be made); without, the rows point at files that do not exist (tiles are placeholders).

Timed, server-side, in this process:

- open: the first open of the folder (creates the review tables, ranks every item), then a fresh
  process's open (tables there);
- paging: every page of groups (12 a page with their first 6 members: the grid's first view),
  every page of items (48 a page), and every page of the largest group's members;
- the same pages over the *baseline*: the order computed by the query for each page (no order
  table, no index: what a folder on read-only media gets);
- the background verification (the same check as ``case verify``).

Example: ``.venv/bin/python benchmarks/bench_review.py --items 20000``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
from sqlalchemy import insert, update  # noqa: E402

from takeback.evidence.signing import Signer  # noqa: E402
from takeback.triage.casedb import CaseDB  # noqa: E402
from takeback.triage.grouping import group_digest  # noqa: E402
from takeback.triage.models import (  # noqa: E402
    DONE,
    ScanSettings,
    bank_match,
    grp,
    grp_member,
    item,
    link,
    now_iso,
    source,
)
from takeback.triage.pipeline import batch_digest, items_digest, record_hash  # noqa: E402
from takeback.triage.review import CaseReview, ReviewService  # noqa: E402

FOLDER_SIZE = 50
#: a page as the grid shows it (web.review.routes): groups with their first members, or items
GROUPS, MEMBERS, ITEMS = 12, 6, 48


def _jpeg(rng: np.random.Generator, w: int = 64, h: int = 48) -> bytes:
    from PIL import Image

    y, x = np.mgrid[0:h, 0:w]
    c = rng.uniform(40, 220, 3)
    img = np.stack(
        [(c[k] + 30 * np.sin(x / rng.uniform(4, 12) + k) + 20 * np.cos(y / 7)) for k in range(3)], -1
    )
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def build(folder: Path, n: int, *, signer: Signer, files: Path | None) -> dict[str, Any]:
    """A sealed, grouped, completed scan case of ``n`` images, written directly (see the module doc)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(20)
    case = CaseDB.open(folder, create=True)
    actor = "bench"
    try:
        with case.session() as s:
            case.set_meta(s, "settings", ScanSettings(match_banks=True).to_json())
            case.set_meta(s, "created_at", now_iso())
            case.set_meta(s, "examiner", actor)
            log = case.custody(s, signer)
            log.append(actor=actor, action="case.created", details={"settings": "benchmark"})
            base = str(files or folder / "absent")
            s.execute(
                insert(source).values(
                    id=1, arg=base, raw=base.encode(), kind="folder", enumerated=True, files=n, bytes=n * 3000
                )
            )
            log.append(actor=actor, action="source.registered", subject="source:1", details={"source": 1})
        rows = []
        tiers = rng.random(n)
        nudity = rng.random(n)
        for i in range(1, n + 1):
            fold = f"{base}/album_{(i - 1) // FOLDER_SIZE:04d}"
            name = f"IMG_{i:05d}.jpg"
            path = f"{fold}/{name}"
            if files is not None:
                data = _jpeg(rng)
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).write_bytes(data)
            else:
                data = rng.bytes(3000)
            tier = 1 if tiers[i - 1] < 0.01 else 2 if tiers[i - 1] < 0.04 else None
            rows.append(
                {
                    "id": i,
                    "source_id": 1,
                    "key": path.encode(),
                    "raw_path": path.encode(),
                    "path": path,
                    "folder": fold,
                    "name": name,
                    "size": len(data),
                    "mtime": "2024-05-01T10:00:00Z",
                    "state": DONE,
                    "attempts": 1,
                    "media_type": "image/jpeg",
                    "kind": "image",
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "md5": hashlib.md5(data).hexdigest(),
                    "sha1": hashlib.sha1(data).hexdigest(),
                    "pdq": rng.bytes(32).hex(),
                    "pdq_quality": 80,
                    "width": 64,
                    "height": 48,
                    "tier": tier,
                    "headline": "AI generation parameters" if tier else None,
                    "ai": bool(tier),
                    "nudity": round(float(nudity[i - 1]), 3),
                    "explicit": bool(nudity[i - 1] > 0.9),
                    "processed_at": now_iso(),
                }
            )
        with case.session() as s:
            for k in range(0, n, 5000):
                s.execute(insert(item), rows[k : k + 5000])
            hits = rng.choice(np.arange(1, n + 1), size=min(100, n), replace=False)
            s.execute(
                insert(bank_match),
                [
                    {
                        "item_id": int(h),
                        "bank": "known",
                        "content_id": int(h),
                        "signal_type": "pdq",
                        "distance": 10,
                        "threshold": 31,
                        "orientation": None,
                        "allow_list": False,
                        "suppressed": False,
                        "explanation": "PDQ distance 10 (threshold 31)",
                    }
                    for h in hits
                ],
            )
        with case.session() as s:  # seal as the scan does: batches of 2,000 record hashes
            stored = s.execute(item.select().order_by(item.c.id)).all()
            log = case.custody(s, signer)
            for k in range(0, len(stored), 2000):
                batch = stored[k : k + 2000]
                hashes = [(r.id, record_hash(r)) for r in batch]
                entry = log.append(
                    actor=actor,
                    action="items.sealed",
                    details={
                        "first": hashes[0][0],
                        "last": hashes[-1][0],
                        "count": len(hashes),
                        "digest": batch_digest(hashes),
                    },
                )
                for i, h in hashes:
                    s.execute(
                        update(item).where(item.c.id == i).values(record_sha256=h, sealed_seq=entry.seq)
                    )
        with case.session() as s:
            _groups(s, case, signer, actor, n, rng)
        with case.session() as s:
            case.custody(s, signer).append(
                actor=actor, action="scan.completed", details={"items": n, "items_digest": items_digest(s)}
            )
            case.set_meta(s, "run_state", "completed")
    finally:
        case.close()
    return {"seconds": round(time.perf_counter() - t0, 1)}


def _groups(s: Any, case: CaseDB, signer: Signer, actor: str, n: int, rng: np.random.Generator) -> None:
    steps: dict[str, list[tuple[str, str, list[tuple[int, str]]]]] = {"folders": [], "near_duplicates": []}
    for f in range(0, n, FOLDER_SIZE):
        ids = list(range(f + 1, min(n, f + FOLDER_SIZE) + 1))
        steps["folders"].append(("folder", f"album_{f // FOLDER_SIZE:04d}", [(i, "member") for i in ids]))
    pairs = rng.choice(np.arange(1, n + 1), size=(min(2000, n // 10), 2), replace=False)
    for k, (a, b) in enumerate(pairs, start=1):
        steps["near_duplicates"].append(
            ("near_duplicates", f"Stack {k}", [(int(a), "representative"), (int(b), "member")])
        )
    triples = rng.choice(np.arange(1, n + 1), size=(min(500, n // 40), 3), replace=False)
    derivation = [
        (
            "derivation",
            f"Derivation set {k}",
            [(int(t[0]), "source"), (int(t[1]), "derivative"), (int(t[2]), "derivative")],
        )
        for k, t in enumerate(triples, start=1)
    ]
    steps["derivatives"] = derivation
    for step, groups in steps.items():
        for kind, label, members in groups:
            gid = s.execute(
                insert(grp)
                .values(
                    step=step,
                    kind=kind,
                    label=label,
                    key=f"{kind}:{members[0][0]}",
                    size=len(members),
                    details={},
                )
                .returning(grp.c.id)
            ).scalar_one()
            s.execute(
                insert(grp_member),
                [{"group_id": gid, "item_id": i, "role": role, "details": {}} for i, role in members],
            )
        if step == "derivatives":
            s.execute(
                insert(link),
                [
                    {
                        "step": step,
                        "source_item": m[0][0],
                        "derived_item": d,
                        "kind": "local_edit",
                        "directed": True,
                        "score": 60,
                        "details": {},
                    }
                    for _, _, m in groups
                    for d, _ in m[1:]
                ],
            )
        digest = group_digest(s, step)
        case.set_meta(
            s, f"grouping:{step}", {"items": "benchmark", "version": 1, "notes": [], "digest": digest}
        )
        case.custody(s, signer).append(
            actor=actor,
            action="grouping.completed",
            details={"step": step, "version": 1, "groups": len(groups), "digest": digest},
        )


def _stats(times: list[float]) -> dict[str, float]:
    ms = sorted(t * 1000 for t in times)
    return {
        "pages": len(ms),
        "mean_ms": round(statistics.fmean(ms), 2),
        "p95_ms": round(ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)], 2),
        "max_ms": round(ms[-1], 2),
    }


def page_through(r: CaseReview, what: str, **kw: Any) -> dict[str, float]:
    times: list[float] = []
    after = None
    while True:
        t = time.perf_counter()
        page = (
            r.groups_page(after=after, limit=GROUPS, members=MEMBERS, **kw)
            if what == "groups"
            else r.items_page(after=after, limit=ITEMS, **kw)
        )
        times.append(time.perf_counter() - t)
        after = page.next
        if after is None:
            return _stats(times)


def measure(folder: Path, signer: Signer) -> dict[str, Any]:
    out: dict[str, Any] = {}
    svc = ReviewService(signer=signer, disk_cache=False)
    t = time.perf_counter()
    r = svc.open(folder)
    out["open_first_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    state = r.wait_verified(600)
    out["verify_s"] = round(time.perf_counter() - t, 2)
    out["verified"] = state.status
    svc.close()
    svc = ReviewService(signer=signer, disk_cache=False)
    t = time.perf_counter()
    r = svc.open(folder)
    out["open_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    r.groups_page(limit=GROUPS, members=MEMBERS)
    out["first_page_while_verifying_ms"] = round((time.perf_counter() - t) * 1000, 1)
    r.wait_verified(600)
    largest = max(r.groups_page(kind="folder", limit=1).entries, key=lambda g: g.size)
    for label, ranked in (("indexed", True), ("baseline", False)):
        r.ranked = ranked
        res = {
            "groups": page_through(r, "groups"),
            "items": page_through(r, "items"),
            "group_members": page_through(r, "items", group=largest.id),
            "uncategorised": page_through(r, "items", uncategorised=True),
        }
        out[label] = res
    r.ranked = True
    svc.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--files", action="store_true", help="write a real small JPEG per item")
    ap.add_argument("--keep", type=Path, help="build the case here and keep it (for the browser benchmark)")
    args = ap.parse_args()
    signer = Signer.generate()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        root = args.keep or Path(tmp)
        folder = root / "case"
        built = build(folder, args.items, signer=signer, files=(root / "seized") if args.files else None)
        result = {
            "items": args.items,
            "build_s": built["seconds"],
            **measure(folder, signer),
            "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
