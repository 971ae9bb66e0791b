"""The typed item result and the columns derived from it: one list, checked against the table."""

from __future__ import annotations

from dataclasses import fields

from takeback.triage.models import RECORD_COLUMNS, RESULT_COLUMNS, ItemResult, item
from takeback.triage.tasks import base as task_base
from takeback.triage.tasks import runner


def test_every_result_field_is_an_item_column() -> None:
    columns = set(item.c.keys())
    assert set(RESULT_COLUMNS) <= columns
    assert set(RECORD_COLUMNS) <= columns
    assert set(RESULT_COLUMNS) <= set(RECORD_COLUMNS)  # whatever a worker stores is sealed
    stored = {f.name for f in fields(ItemResult) if f.metadata.get("stored", True)} - {"error"}
    assert stored | {"error_code", "error_message"} == set(RESULT_COLUMNS)


def test_columns_of_a_result() -> None:
    r = ItemResult(7, sha256="ab" * 32, error={"code": "x", "message": "y"})
    row = r.columns()
    assert set(row) == set(RESULT_COLUMNS)
    assert (row["sha256"], row["error_code"], row["error_message"]) == ("ab" * 32, "x", "y")
    assert row["warnings"] is None and row["state"] == "done" and row["processed_at"]
    assert "id" not in row and "archive" not in row and "changed" not in row


def test_the_options_decide_the_task_list() -> None:
    names = [t.name for t in runner.build_tasks(task_base.WorkerOptions(nudity=False))]
    assert names[0] == "fingerprint" and "nudity" not in names and "known_file" not in names
    src = task_base.KnownSource(1, "nsrl", "nsrl", "/nonexistent", "sha1")
    names = [t.name for t in runner.build_tasks(task_base.WorkerOptions(known=(src,)))]
    assert names.index("known_file") < names.index("archive") < names.index("provenance")
    assert "nudity" in names


def test_a_document_gets_its_digests_and_no_error() -> None:
    runner.init_worker(task_base.WorkerOptions(nudity=False))
    r = runner.analyse_bytes(3, b"%PDF-1.4\n" + b"x" * 100, "a.pdf")
    assert r.sha256 and r.md5 and r.sha1 and r.kind == "document" and r.error is None and r.pdq is None
