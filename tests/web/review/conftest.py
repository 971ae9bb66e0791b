"""Review-grid fixtures: the staff service (``tests.web.staff``), a scanned case folder registered
for review, and accounts assigned to it."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from takeback.evidence.signing import Signer
from takeback.staff import service as staffs
from takeback.staff.models import StaffRole
from tests.triage.review_case import make_sources, scan_case
from tests.web.conftest import Service
from tests.web.staff.conftest import Account, make_account, staff_web

__all__ = ["staff_web"]


@dataclass
class Scan:
    id: int
    folder: Path
    label: str


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed scan of the small synthetic case (11 images and videos, grouped)."""
    root = tmp_path_factory.mktemp("review-web")
    scan_case(Signer.generate(), root / "case", [make_sources(root / "seized")], jobs=0)
    return root / "case"


def register(svc: Service, folder: Path, label: str) -> Scan:
    with svc.db.session() as s:
        row = staffs.register_scan(s, folder=folder, label=label, actor="test-admin")
        return Scan(row.id, folder, label)


def copy_of(scanned: Path, dst: Path) -> Path:
    shutil.copytree(scanned, dst)
    return dst


def assign(svc: Service, account: Account, scan: Scan) -> None:
    with svc.db.session() as s:
        staffs.assign(s, handle=account.handle, scan_id=scan.id, actor="test-sup")


def investigator(svc: Service, handle: str, scan: Scan | None = None) -> Account:
    who = make_account(svc, handle, StaffRole.INVESTIGATOR)
    if scan is not None:
        assign(svc, who, scan)
    return who


def db_rows(folder: Path, sql: str, *params: object) -> list[sqlite3.Row]:
    conn = sqlite3.connect(folder / "case.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
