"""Triage fixtures: a signing key, and a helper that scans into a case folder through the service."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from takeback.evidence.signing import Signer
from takeback.triage import service
from takeback.triage.models import ScanSettings
from takeback.triage.pipeline import RunOptions, ScanSummary


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.generate()


ScanFn = Callable[..., ScanSummary]


@pytest.fixture
def scan(signer: Signer) -> ScanFn:
    """``scan(case_dir, [sources], jobs=0, outputs=True, **settings)``: jobs=0 runs in this process."""

    def run(
        case: Path,
        sources: list[Path] | None,
        *,
        jobs: int = 0,
        outputs: bool = True,
        lang: str = "en",
        reveal: bool = False,
        examiner: str = "examiner-1",
        progress: Callable[[Any], None] | None = None,
        **settings: Any,
    ) -> ScanSummary:
        defaults: dict[str, Any] = {"nudity": False, "match_banks": False}
        opts = ScanSettings(**(defaults | settings))
        run_opts = RunOptions(signer=signer, examiner=examiner, jobs=jobs, progress=progress)
        case_db, summary = service.scan(
            case, [str(s) for s in sources] if sources else None, settings=opts, run=run_opts
        )
        try:
            if outputs:
                service.write_outputs(case_db, lang=lang, reveal=reveal, signer=signer, actor=examiner)
        finally:
            case_db.close()
        return summary

    return run


def rows(case: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    """Read the case database directly (as an examiner with sqlite3 would)."""
    conn = sqlite3.connect(case / "case.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def items(case: Path) -> dict[str, sqlite3.Row]:
    return {r["path"]: r for r in rows(case, "SELECT * FROM item ORDER BY id")}


def custody_actions(case: Path) -> list[str]:
    return [r["action"] for r in rows(case, "SELECT action FROM custody_entry ORDER BY seq")]
