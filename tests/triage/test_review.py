"""The review grid's service over a scan case folder: order, blurred tiles, reveals, categories, notes,
bank imports, two reviewers, a scan still running, and verification of both custody logs."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from takeback.errors import TakebackError
from takeback.evidence.signing import Signer
from takeback.store import Database
from takeback.triage import service
from takeback.triage.casedb import CaseDB
from takeback.triage.errors import TriageError
from takeback.triage.models import SCHEMA_VERSION
from takeback.triage.pipeline import items_digest
from takeback.triage.review import (
    DEFAULT_CATEGORIES,
    MAX_NOTE_CHARS,
    CaseReview,
    ReviewError,
    ReviewService,
)
from takeback.triage.service import verify_case_dir
from tests.banks.helpers import cli
from tests.triage import scenes
from tests.triage.conftest import rows
from tests.triage.review_case import make_sources, scan_case

ACTOR = "staff:mei"
__all__ = ["cli"]  # the CLI runner fixture


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, signer: Signer) -> Path:
    root = tmp_path_factory.mktemp("review")
    src = make_sources(root / "seized")
    scan_case(signer, root / "case", [src], jobs=0)
    return root / "case"


@pytest.fixture
def case(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the scanned case per test (its items still point at the module's sources)."""
    dst = tmp_path / "case"
    shutil.copytree(pristine, dst)
    return dst


@pytest.fixture
def reviews(signer: Signer) -> Iterator[ReviewService]:
    with ReviewService(signer=signer, disk_cache=True) as svc:
        yield svc


def _sql(case: Path, *statements: str) -> None:
    conn = sqlite3.connect(case / "case.db")
    try:
        for s in statements:
            conn.execute(s)
        conn.commit()
    finally:
        conn.close()


def _item_id(case: Path, name: str) -> int:
    return int(rows(case, "SELECT id FROM item WHERE name = ?", name)[0]["id"])


def _all_items(r: CaseReview, **kw: Any) -> list[Any]:
    out, after = [], None
    while True:
        page = r.items_page(after=after, limit=3, **kw)
        out.extend(page.entries)
        if page.next is None:
            return out
        after = page.next


# --- opening, order, paging --------------------------------------------------------------------------


def test_open_verifies_in_the_background_and_pages_in_review_order(
    case: Path, reviews: ReviewService
) -> None:
    r = reviews.open(case)
    state = r.wait_verified(60)
    assert state.status == "verified", state
    assert r.categories == DEFAULT_CATEGORIES
    cards = _all_items(r)
    names = [c.name for c in cards]
    # every image and video once (the damaged JPEG too: it gets a placeholder), nothing else
    assert len(names) == len(set(names)) == 11
    assert "cut.jpg" in names and "kept.jpg" in names and "clip.mp4" in names and "backup.zip" not in names
    ranks = [c.rank for c in cards]
    assert ranks == sorted(ranks, reverse=True)
    # AI-made derivatives (tier 2 generation parameters) come before the camera originals
    assert all(c.tier == 2 for c in cards[:6]) and {c.name for c in cards[:6]} == {
        n for n in names if n.endswith(".png")
    }
    assert "ai" in cards[0].flags
    groups = r.groups_page(limit=50, members=4)
    assert groups.next is None
    kinds = {g.kind for g in groups.entries}
    assert {"folder", "derivation"} <= kinds
    g_ranks = [g.rank for g in groups.entries]
    assert g_ranks == sorted(g_ranks, reverse=True)
    folder = next(g for g in groups.entries if g.label == "person_00")
    assert folder.size == 4 and len(folder.members) == 4 and folder.members[0].tier == 2
    derivation = r.groups_page(kind="derivation", limit=50)
    assert all(g.kind == "derivation" for g in derivation.entries) and derivation.entries
    roles = {m.role for m in derivation.entries[0].members}
    assert "source" in roles and "derivative" in roles
    # one group's members page too, and a filter on what is left to categorise
    members = _all_items(r, group=folder.id)
    assert len(members) == 4 and {m.role for m in members} == {"member"}
    assert len(_all_items(r, uncategorised=True)) == 11


def test_paging_a_page_at_a_time_is_stable_under_a_bad_cursor(case: Path, reviews: ReviewService) -> None:
    r = reviews.open(case)
    first = r.items_page(limit=4)
    assert len(first.entries) == 4 and first.next
    second = r.items_page(after=first.next, limit=4)
    assert not {c.id for c in first.entries} & {c.id for c in second.entries}
    with pytest.raises(ReviewError) as exc:
        r.items_page(after="1;DROP TABLE item")
    assert exc.value.code == "bad_cursor"
    with pytest.raises(ReviewError):
        r.groups_page(kind="<script>")


def test_a_schema_1_folder_opens_and_gains_review_tables_without_touching_a_record(
    case: Path, reviews: ReviewService
) -> None:
    _sql(case, "UPDATE case_meta SET value = 1 WHERE key = 'schema'")
    before = _digest(case)
    r = reviews.open(case)
    assert r.wait_verified(60).status == "verified"
    assert int(rows(case, "SELECT value FROM case_meta WHERE key = 'schema'")[0]["value"]) == SCHEMA_VERSION
    tables = {
        x["name"] for x in rows(case, "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    }
    assert {"review", "review_note", "review_reveal", "review_rank", "ix_item_sealed_seq"} <= tables
    assert _digest(case) == before
    assert verify_case_dir(case).ok


def test_a_newer_schema_is_refused(case: Path, reviews: ReviewService) -> None:
    _sql(case, f"UPDATE case_meta SET value = {SCHEMA_VERSION + 1} WHERE key = 'schema'")
    with pytest.raises(ReviewError) as exc:
        reviews.open(case)
    assert exc.value.code == "case_newer"
    with pytest.raises(TriageError) as exc2:
        CaseDB.open(case, create=False)
    assert exc2.value.code == "case_newer"


def _digest(case: Path) -> str:
    db = CaseDB.open_read_only(case)
    try:
        with db.session() as s:
            return items_digest(s)
    finally:
        db.close()


# --- tiles and reveals -------------------------------------------------------------------------------


def _sharpness(im: Image.Image) -> float:
    a = np.asarray(im.convert("L"), dtype=np.float32)
    return float(np.abs(np.diff(a, axis=0)).mean() + np.abs(np.diff(a, axis=1)).mean())


def test_tiles_are_blurred_greyscale_and_small_and_the_cache_holds_nothing_clear(
    case: Path, reviews: ReviewService, pristine: Path
) -> None:
    r = reviews.open(case)
    ids = {c.name: c.id for c in _all_items(r)}
    r.prefetch(ids.values())
    tile = r.thumbnail(ids["IMG_0000.jpg"])
    im = Image.open(io.BytesIO(tile.data))
    assert tile.problem is None and im.format == "JPEG" and im.mode == "L" and max(im.size) <= 160
    original = Image.open(pristine.parent / "seized" / "person_00" / "IMG_0000.jpg")
    clear = original.convert("L").resize(im.size)
    assert _sharpness(im) < 0.35 * _sharpness(clear)
    member = Image.open(io.BytesIO(r.thumbnail(ids["kept.jpg"]).data))
    assert member.mode == "L"  # read again from inside the ZIP, checked against its SHA-256
    video = r.thumbnail(ids["clip.mp4"])
    assert video.problem is None and Image.open(io.BytesIO(video.data)).mode == "L"
    broken = r.thumbnail(ids["cut.jpg"])
    assert broken.problem and broken.message  # the placeholder says why
    cached = list((case / ".review-cache").rglob("*.jpg"))
    assert cached and all(Image.open(p).mode == "L" for p in cached)
    assert all(p.stat().st_mode & 0o077 == 0 for p in cached)
    # the same tile again comes from memory; a second service finds it on disk
    assert r.thumbnail(ids["IMG_0000.jpg"]).data == tile.data


def test_a_reveal_is_one_item_logged_with_who_and_when(case: Path, reviews: ReviewService) -> None:
    r = reviews.open(case)
    item_id = _item_id(case, "IMG_0100_swap.png")
    shown = r.reveal(item_id, actor=ACTOR)
    im = Image.open(io.BytesIO(shown.picture.data))
    assert im.mode == "RGB" and max(im.size) == 320
    assert shown.reveal.actor == ACTOR and shown.reveal.item_id == item_id and shown.reveal.at
    detail = r.item(item_id)
    assert [(x.actor, x.item_id) for x in detail.reveals] == [(ACTOR, item_id)]
    logged = rows(case, "SELECT * FROM custody_entry WHERE action = 'item.revealed'")
    assert len(logged) == 1 and logged[0]["actor"] == ACTOR and logged[0]["log"].startswith("review:")
    assert logged[0]["subject"] == f"item:{item_id}"
    # nothing clear was written anywhere in the folder
    for p in (case / ".review-cache").rglob("*"):
        if p.is_file():
            assert Image.open(p).mode == "L"
    assert verify_case_dir(case).ok
    with pytest.raises(ReviewError) as exc:
        r.reveal(item_id, actor="Mei Chan")  # a name, not a handle
    assert exc.value.code == "bad_actor"


# --- categories, notes, progress, verification --------------------------------------------------------


def test_categorise_progress_and_case_verify_passes_with_both_logs(
    case: Path, reviews: ReviewService
) -> None:
    r = reviews.open(case)
    cards = _all_items(r)
    ids = [c.id for c in cards]
    assert r.categorise(ids[:3], "ai_generated", actor=ACTOR) == 3
    assert r.categorise(ids[:3], "ai_generated", actor=ACTOR) == 0  # already so: nothing logged
    assert r.categorise([ids[3]], "source_photo", actor="staff:ana") == 1
    assert r.categorise([ids[0]], "victim_identified", actor="staff:ana") == 1
    p = r.progress()
    assert p.total == 11 and p.categorised == 4
    assert dict(p.by_reviewer) == {ACTOR: 2, "staff:ana": 2}
    assert p.by_category == {"ai_generated": 2, "source_photo": 1, "victim_identified": 1}
    assert [c.id for c in _all_items(r, category="ai_generated")] == ids[1:3]
    assert len(_all_items(r, uncategorised=True)) == 7
    assert r.categorise([ids[1]], None, actor=ACTOR) == 1  # cleared
    v = verify_case_dir(case)
    assert v.ok, v.problems
    assert v.review_entries == 5  # started + four changes
    entries = rows(case, "SELECT details FROM custody_entry WHERE action = 'items.categorised' ORDER BY seq")
    assert json.loads(entries[0]["details"]) == {"category": "ai_generated", "items": ids[:3], "count": 3}
    assert r.wait_verified(60).status == "verified"
    with pytest.raises(ReviewError) as exc:
        r.categorise(ids[:1], "nonsense", actor=ACTOR)
    assert exc.value.code == "bad_category"
    with pytest.raises(ReviewError) as exc:
        r.categorise([999_999], "ai_generated", actor=ACTOR)
    assert exc.value.code == "no_such_item"


def test_a_tampered_scan_record_opens_read_only_naming_the_entry(case: Path, reviews: ReviewService) -> None:
    target = _item_id(case, "IMG_0000.jpg")
    sealed = rows(case, "SELECT sealed_seq FROM item WHERE id = ?", target)[0]["sealed_seq"]
    _sql(case, f"UPDATE item SET generator = 'edited' WHERE id = {target}")
    r = reviews.open(case)
    state = r.wait_verified(60)
    assert state.failed and state.code == "item_altered" and state.where == f"entry {sealed}"
    assert f"Item {target}" in (state.message or "")
    with pytest.raises(ReviewError) as exc:
        r.categorise([target], "not_relevant", actor=ACTOR)
    assert exc.value.code == "review_verification_failed" and f"entry {sealed}" in exc.value.message
    with pytest.raises(ReviewError):
        r.reveal(target, actor=ACTOR)
    # still readable: the grid shows what is there, blurred
    assert r.items_page(limit=50).entries and r.thumbnail(target).data


def test_a_tampered_review_row_or_note_is_named_with_its_review_entry(
    case: Path, reviews: ReviewService
) -> None:
    r = reviews.open(case)
    ids = [c.id for c in _all_items(r)]
    r.categorise(ids[:2], "victim_unknown", actor=ACTOR)
    note = r.add_note("item", ids[0], "seen in the chat export", actor=ACTOR)
    assert verify_case_dir(case).ok
    seq = rows(case, "SELECT seq FROM review WHERE item_id = ?", ids[1])[0]["seq"]
    _sql(case, f"UPDATE review SET category = 'not_relevant' WHERE item_id = {ids[1]}")
    v = verify_case_dir(case)
    first = v.first
    assert first is not None and first.log == "review" and first.code == "review_row_altered"
    assert first.where == f"review entry {seq}"
    _sql(case, f"UPDATE review SET category = 'victim_unknown' WHERE item_id = {ids[1]}")
    assert verify_case_dir(case).ok
    # notes are append-only in the database; one changed around the trigger is still named
    with pytest.raises(sqlite3.IntegrityError):
        _sql(case, "UPDATE review_note SET text = 'nothing here'")
    _sql(
        case,
        "DROP TRIGGER review_note_no_update",
        f"UPDATE review_note SET text = 'nothing here' WHERE id = {note.id}",
    )
    v = verify_case_dir(case)
    assert v.first is not None and v.first.code == "note_altered" and v.first.seq == note.seq
    fresh = ReviewService(signer=reviews.signer)
    try:
        state = fresh.open(case).wait_verified(60)
        assert state.failed and state.where == f"review entry {note.seq}"
    finally:
        fresh.close()


def test_notes_are_text_size_limited_and_logged_by_hash_only(case: Path, reviews: ReviewService) -> None:
    r = reviews.open(case)
    item_id = _item_id(case, "IMG_0000_undress.png")
    html = '<script>alert("x")</script><img src=x onerror=alert(1)> & 你好'
    note = r.add_note("item", item_id, html, actor=ACTOR)
    assert note.text == html and r.notes("item", item_id)[0].text == html
    group = r.groups_page(kind="folder", limit=1).entries[0]
    r.add_note("group", group.id, "folder of the second complainant\r\nconfirmed", actor=ACTOR)
    assert r.group(group.id).notes[0].text == "folder of the second complainant\nconfirmed"
    logged = rows(case, "SELECT details FROM custody_entry WHERE action = 'note.added' ORDER BY seq")
    assert len(logged) == 2
    assert "script" not in logged[0]["details"] and "complainant" not in logged[1]["details"]
    assert set(json.loads(logged[0]["details"])) == {"note", "sha256", "chars"}
    with pytest.raises(ReviewError) as exc:
        r.add_note("item", item_id, "x" * (MAX_NOTE_CHARS + 1), actor=ACTOR)
    assert exc.value.code == "note_too_long" and f"{MAX_NOTE_CHARS:,}" in exc.value.message
    for bad, code in (("   ", "note_empty"), ("bell\x07", "bad_note")):
        with pytest.raises(ReviewError) as exc:
            r.add_note("item", item_id, bad, actor=ACTOR)
        assert exc.value.code == code
    with pytest.raises(ReviewError) as exc:
        r.add_note("group", 99_999, "forged group", actor=ACTOR)
    assert exc.value.code == "no_such_group"
    assert verify_case_dir(case).ok


# --- bulk actions ---------------------------------------------------------------------------------------


@pytest.fixture
def banks_db(tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    from takeback.store import open_database

    path = tmp_path / "takeback.db"
    shutil.copy(_sqlite_template, path)
    database = open_database(f"sqlite:///{path}")
    yield database
    database.dispose()


def test_a_group_goes_into_a_bank_and_a_lookup_then_matches(
    case: Path, reviews: ReviewService, banks_db: Database
) -> None:
    from takeback.banks import service as banks
    from takeback.matching import Matcher, MatchQuery
    from takeback.signals.fingerprint import Fingerprint

    banks_db.run(lambda s: banks.create_bank(s, name="hk-case", actor=ACTOR))
    r = reviews.open(case)
    folder = next(g for g in r.groups_page(kind="folder", limit=50).entries if g.label == "person_00")
    done = r.add_group_to_bank(banks_db, folder.id, bank="hk-case", actor=ACTOR)
    # the safe defaults of `bank import --from-case`: the flagged derivatives, not her own photo
    assert done.report.added == 3 and done.selection.left_out == {"source_picture": 1}
    logged = rows(case, "SELECT * FROM custody_entry WHERE action = 'bank.imported'")
    assert len(logged) == 1 and logged[0]["log"].startswith("review:") and logged[0]["actor"] == ACTOR
    assert json.loads(logged[0]["details"])["added"] == 3
    row = rows(case, "SELECT * FROM item WHERE name = 'IMG_0000_undress.png'")[0]
    record = {k: row[k] for k in ("sha256", "md5", "pdq", "pdq_quality")} | {
        "path": "q",
        "pdq_dihedral": None,
    }
    matcher = Matcher(banks_db, index_dir=None)
    try:
        result = matcher.match([MatchQuery.from_fingerprint(Fingerprint.from_record(record))])[0]
        assert result.matches and result.matches[0].bank == "hk-case"
    finally:
        matcher.close()
    assert verify_case_dir(case).ok
    with pytest.raises(TakebackError) as unknown:
        r.add_group_to_bank(banks_db, folder.id, bank="no-such-bank", actor=ACTOR)
    assert unknown.value.code == "unknown_bank"
    with pytest.raises(ReviewError) as exc:
        r.add_group_to_bank(banks_db, 99_999, bank="hk-case", actor=ACTOR)
    assert exc.value.code == "no_such_group"


def test_mark_a_group_not_relevant_and_export_its_hashes(case: Path, reviews: ReviewService) -> None:
    r = reviews.open(case)
    folder = next(g for g in r.groups_page(kind="folder", limit=50).entries if g.label == "person_01")
    ids = r.group_items(folder.id)
    assert r.mark_not_relevant(ids, actor=ACTOR) == 4
    assert r.group(folder.id).categorised == 4
    out = r.export_hashes(ids, fmt="csv", actor=ACTOR)
    lines = out.text.splitlines()
    assert lines[0] == "id,kind,sha256,md5,sha1,pdq,pdq_quality,category" and len(lines) == 5
    assert all(line.endswith(",not_relevant") for line in lines[1:])
    assert "person_01" not in out.text and ".jpg" not in out.text  # hashes, never names
    as_json = json.loads(r.export_hashes(ids, fmt="json", actor=ACTOR).text)
    assert len(as_json["items"]) == 4 and as_json["case"] == r.case_id
    logged = rows(case, "SELECT details FROM custody_entry WHERE action = 'selection.exported' ORDER BY seq")
    assert json.loads(logged[0]["details"]) == {"format": "csv", "rows": 4, "sha256": out.sha256}
    assert verify_case_dir(case).ok


def test_the_report_includes_the_categorisations(case: Path, reviews: ReviewService, signer: Signer) -> None:
    r = reviews.open(case)
    ids = [c.id for c in _all_items(r)]
    r.categorise(ids[:3], "ai_generated", actor=ACTOR)
    r.categorise(ids[3:4], "victim_identified", actor=ACTOR)
    reviews.close()
    db = CaseDB.open(case, create=False)
    try:
        service.write_outputs(db, lang="en", reveal=False, signer=signer, actor="officer-1")
        service.write_outputs(db, lang="zh-Hant", reveal=False, signer=signer, actor="officer-1")
    finally:
        db.close()
    html = (case / "report.html").read_text(encoding="utf-8")
    assert "人工審閱" in html and "AI 生成" in html and "staff:mei" in html
    db = CaseDB.open_read_only(case)
    try:
        from takeback.reports import render_html
        from takeback.triage.report import build_document

        en = render_html(build_document(db, lang="en"))
    finally:
        db.close()
    assert "<h2>Review</h2>" in en or ">Review<" in en
    assert "<td>AI-generated</td><td>3</td>" in en.replace(" ", "") or "AI-generated" in en
    assert verify_case_dir(case).ok


# --- several reviewers, a scan still running ---------------------------------------------------------------


def test_two_reviewers_at_once_never_fork_the_log(
    case: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from takeback.triage import review as review_module

    monkeypatch.setattr(review_module, "HEADS_TTL_S", 0.0)  # see the other service's writes at once
    a, b = ReviewService(signer=signer), ReviewService(signer=signer)  # two processes' worth
    try:
        ra, rb = a.open(case), b.open(case)
        ids = [c.id for c in _all_items(ra)]
        errors: list[BaseException] = []

        def work(r: CaseReview, actor: str, cats: list[str]) -> None:
            try:
                for n, i in enumerate(ids):
                    r.categorise([i], cats[n % len(cats)], actor=actor)
                    r.add_note("item", i, f"{actor} looked", actor=actor)
            except BaseException as exc:
                errors.append(exc)

        t1 = threading.Thread(target=work, args=(ra, "staff:mei", ["ai_generated", "victim_unknown"]))
        t2 = threading.Thread(target=work, args=(rb, "staff:ana", ["source_photo"]))
        t1.start()
        t2.start()
        t1.join()
        t2.join()
        assert not errors, errors
        v = verify_case_dir(case)
        assert v.ok, v.problems
        assert v.review_entries is not None and v.review_entries >= 1 + 2 * len(ids)
        p = ra.progress()
        assert p.categorised == len(ids) and sum(n for _, n in p.by_reviewer) == len(ids)
        assert len(rows(case, "SELECT id FROM review_note")) == 2 * len(ids)
    finally:
        a.close()
        b.close()


def test_review_while_the_scan_is_still_running(
    tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from takeback.triage import review as review_module
    from takeback.triage.stages import process

    monkeypatch.setattr(review_module, "HEADS_TTL_S", 0.0)  # the next page sees the scan's commits
    monkeypatch.setattr(process, "COMMIT_EVERY_N", 2)
    monkeypatch.setattr(process, "CHUNK_FILES", 1)
    src = tmp_path / "src"
    scenes.write_case(src, people=2, photos=1, size=(320, 240))
    case = tmp_path / "case"
    paused, resume = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    commit = process.commit

    def commit_then_pause(ctx: Any, results: Any) -> bool:
        added = commit(ctx, results)  # committed: what the review can see
        if not paused.is_set():
            paused.set()
            resume.wait(60)
        return added

    monkeypatch.setattr(process, "commit", commit_then_pause)

    def run() -> None:
        try:
            scan_case(signer, case, [src], jobs=0)
        except BaseException as exc:
            failures.append(exc)
            paused.set()

    t = threading.Thread(target=run)
    t.start()
    try:
        assert paused.wait(60) and not failures, failures
        with ReviewService(signer=signer) as svc:
            r = svc.open(case)  # the scan holds the folder's lock; the review never takes it
            seen = _all_items(r)
            assert 0 < len(seen) < 8
            assert r.categorise([seen[0].id], "victim_identified", actor=ACTOR) == 1
            assert r.groups_page().entries == []  # grouping runs when the scan completes
            resume.set()
            t.join(120)
            assert not failures, failures
            later = _all_items(r)
            assert len(later) == 8 and {c.id for c in seen} <= {c.id for c in later}
            assert r.groups_page(limit=50).entries  # and now the groups
            assert r.wait_verified(60).status == "verified"
        v = verify_case_dir(case)
        assert v.ok, v.problems
    finally:
        resume.set()
        t.join(120)


def test_configured_categories_are_kept_per_case_and_changes_logged(case: Path, signer: Signer) -> None:
    with ReviewService(signer=signer) as first:
        assert first.open(case).categories == DEFAULT_CATEGORIES
    custom = ("relevant", "not_relevant", "unsure")
    with ReviewService(signer=signer, categories=custom) as second:
        r = second.open(case)
        assert r.categories == custom
        ids = [c.id for c in _all_items(r)]
        assert r.categorise(ids[:1], "unsure", actor=ACTOR) == 1
    logged = rows(case, "SELECT details FROM custody_entry WHERE action = 'review.categories'")
    assert json.loads(logged[0]["details"])["categories"] == list(custom)
    with pytest.raises(ReviewError):
        ReviewService(signer=signer, categories=("Bad Key",))
    assert verify_case_dir(case).ok


def test_a_folder_that_cannot_be_written_is_shown_not_reviewed(
    case: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from takeback.triage import review as review_module

    monkeypatch.setattr(review_module, "_writable", lambda folder: False)  # as on read-only media
    before = _digest(case)
    with ReviewService(signer=signer) as svc:
        r = svc.open(case)
        assert not r.writable and not r.has_tables
        cards = _all_items(r)  # computed order: no index table can be made here
        assert len(cards) == 11 and [c.rank for c in cards] == sorted((c.rank for c in cards), reverse=True)
        assert r.groups_page(limit=50).entries
        assert r.thumbnail(_item_id(case, "IMG_0000.jpg")).data
        with pytest.raises(ReviewError) as exc:
            r.categorise([_item_id(case, "IMG_0000.jpg")], "not_relevant", actor=ACTOR)
        assert exc.value.code == "review_read_only"
        assert r.wait_verified(60).status == "verified"
    assert _digest(case) == before
    assert not (case / ".review-cache").exists()


def test_case_verify_on_the_command_line_checks_the_review_log(
    case: Path, reviews: ReviewService, cli: Any
) -> None:
    r = reviews.open(case)
    ids = [c.id for c in _all_items(r)]
    r.categorise(ids[:4], "victim_unknown", actor=ACTOR)
    out = cli("case", "verify", str(case))
    assert out.exit_code == 0 and "Verified" in out.stdout and "2 review-log entries" in out.stdout, (
        out.stdout
    )
    _sql(case, f"UPDATE review SET reviewer = 'staff:someone-else' WHERE item_id = {ids[2]}")
    out = cli("case", "verify", str(case))
    assert (
        out.exit_code == 1 and "BROKEN at review entry 2" in out.stdout and "review_row_altered" in out.stdout
    )
