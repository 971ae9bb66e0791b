"""The worker pool's crash isolation, and grouping as a pluggable step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import pytest

from takeback.triage.grouping import base, steps
from takeback.triage.pool import WorkerPool
from tests.conftest import encode, synthetic_photo
from tests.triage.conftest import ScanFn, custody_actions, rows


def square_or_die(chunk: list[int]) -> list[tuple[int, int]]:
    """Worker function: 13 kills its process (as a crashing native decoder would)."""
    out = []
    for x in chunk:
        if x == 13:
            os._exit(3)
        out.append((x, x * x))
    return out


def test_a_crashing_item_costs_only_itself() -> None:
    pool: WorkerPool[int, tuple[int, int]] = WorkerPool(
        square_or_die, jobs=2, on_crash=lambda x: (x, -1), preload=()
    )
    results: list[tuple[int, int]] = []
    try:
        for start in range(0, 40, 4):
            pool.submit(list(range(start, start + 4)))
        while pool.in_flight:
            results.extend(pool.wait(timeout=30))
    finally:
        pool.close()
    assert sorted(results) == sorted([(x, x * x) for x in range(40) if x != 13] + [(13, -1)])
    assert pool.crashes == 1


class Pairs:
    """A third-party step (as an identity step from consent-based face matching will be)."""

    name: ClassVar[str] = "pairs_by_size"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Test pairs"

    def run(self, ctx: base.GroupingContext) -> base.StepResult:
        by_size: dict[int, list[int]] = {}
        for r in ctx.rows(base.item.c.id, base.item.c.width):
            by_size.setdefault(r.width or 0, []).append(r.id)
        # A step may read pixels (checked against the recorded SHA-256) through the context:
        readable = {i for i, data, _ in ctx.contents([x for ids in by_size.values() for x in ids]) if data}
        groups = [
            base.Group(
                "identity", f"{w}px", f"w:{w}", [base.Member(i, details={"read": i in readable}) for i in ids]
            )
            for w, ids in by_size.items()
            if len(ids) > 1
        ]
        return base.StepResult(groups=groups)


def test_a_new_grouping_step_slots_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scan: ScanFn) -> None:
    monkeypatch.setitem(steps.BUILTIN, Pairs.name, Pairs)
    src = tmp_path / "src"
    src.mkdir()
    for i, w in enumerate((100, 100, 120)):
        (src / f"{i}.png").write_bytes(encode(synthetic_photo(w, 80, seed=i), "PNG"))
    case = tmp_path / "case"
    scan(case, [src], grouping=("folders", Pairs.name))
    got = rows(case, "SELECT * FROM grp WHERE step = ?", Pairs.name)
    assert [(g["kind"], g["label"], g["size"]) for g in got] == [("identity", "100px", 2)]
    assert "identity" in (case / "report.html").read_text(encoding="utf-8")
    assert custody_actions(case).count("grouping.completed") == 2
    from takeback.triage.service import verify_case_dir

    assert verify_case_dir(case).ok


def test_an_unknown_step_is_logged_and_skipped(tmp_path: Path, scan: ScanFn) -> None:
    f = tmp_path / "a.png"
    f.write_bytes(encode(synthetic_photo(64, 64, seed=1), "PNG"))
    case = tmp_path / "case"
    scan(case, [f], grouping=("folders", "faces_not_installed"))
    skipped = rows(case, "SELECT details FROM custody_entry WHERE action = 'grouping.skipped'")
    assert len(skipped) == 1 and "faces_not_installed" in skipped[0]["details"]


def test_grouping_reruns_only_when_items_changed(tmp_path: Path, scan: ScanFn) -> None:
    f = tmp_path / "a.png"
    f.write_bytes(encode(synthetic_photo(64, 64, seed=1), "PNG"))
    case = tmp_path / "case"
    scan(case, [f])
    n = custody_actions(case).count("grouping.completed")
    scan(case, None)
    assert custody_actions(case).count("grouping.completed") == n
