"""The review grid over HTTP: who may open a scan folder, blurred tiles, a logged reveal, categories
by fetch() with the CSRF token, notes shown as text, a group into a bank that a lookup then
matches, a folder failing verification, and ``case verify`` passing after it all."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import select

from takeback import clock
from takeback.banks import service as banks
from takeback.staff.models import StaffRole
from takeback.store import AuditEvent
from takeback.triage.service import verify_case_dir
from tests.web.conftest import Service
from tests.web.review.conftest import Scan, copy_of, db_rows, investigator, register
from tests.web.staff.conftest import csrf_of, login, make_account

T0 = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)


def _audit(svc: Service, action: str) -> list[AuditEvent]:
    with svc.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _item_ids(page: str) -> list[int]:
    return [int(x) for x in dict.fromkeys(re.findall(r'data-item="(\d+)"', page))]


def _categorise(
    client: httpx.Client, scan: Scan, csrf: str, ids: list[int], category: str | None
) -> httpx.Response:
    return client.post(
        f"/review/{scan.id}/categorise",
        content=json.dumps({"items": ids, "category": category, "lang": "en"}),
        headers={"content-type": "application/json", "x-csrf-token": csrf},
    )


def test_an_investigator_reviews_a_folder_and_case_verify_still_passes(
    staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), "HK-2026-031 laptop")
        ana = investigator(staff_web, "ana", scan)
        client = login(staff_web, ana)
        listing = client.get("/review")
        assert listing.status_code == 200 and "HK-2026-031 laptop" in listing.text
        grid = client.get(f"/review/{scan.id}?view=items")
        assert grid.status_code == 200, grid.text[:500]
        assert (
            grid.headers["cache-control"] == "no-store"
            and "script-src 'self'" in grid.headers["content-security-policy"]
        )
        ids = _item_ids(grid.text)
        assert len(ids) == 11
        tile = client.get(f"/review/{scan.id}/thumb/{ids[0]}")
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(tile.content)).mode == "L"
        csrf = csrf_of(grid.text)
        # one reveal, logged (audit row, review log) before the pixels come back
        shown = client.post(f"/review/{scan.id}/items/{ids[0]}/reveal", data={"csrf": csrf, "lang": "en"})
        assert shown.status_code == 200 and 'src="data:image/jpeg;base64,' in shown.text
        assert shown.headers["cache-control"] == "no-store"
        revealed = _audit(staff_web, "review.revealed")
        assert [(a.actor, a.details["item"]) for a in revealed] == [("staff:ana", ids[0])]
        assert db_rows(scan.folder, "SELECT actor FROM custody_entry WHERE action = 'item.revealed'")[0][
            0
        ] == ("staff:ana")
        # ten categorised, one request each (as the number keys send them)
        for n, item_id in enumerate(ids[:10]):
            r = _categorise(client, scan, csrf, [item_id], "ai_generated" if n % 2 else "victim_unknown")
            assert r.status_code == 200 and r.json()["changed"] == 1, r.text
        assert r.json()["categorised"] == 10 and r.json()["total"] == 11
        assert "staff:ana" in client.get(f"/review/{scan.id}").text  # progress per reviewer
        assert len(_audit(staff_web, "review.categorised")) >= 10
        assert _audit(staff_web, "review.opened") and _audit(staff_web, "review.item_viewed") == []
        item = client.get(f"/review/{scan.id}/items/{ids[1]}")
        assert item.status_code == 200 and "AI-generated" in item.text
        assert _audit(staff_web, "review.item_viewed")
    v = verify_case_dir(scan.folder)
    assert v.ok, v.problems
    assert v.review_entries == 1 + 1 + 10  # started, the reveal, ten categorisations


def test_roles_assignments_and_forged_ids(staff_web: Service, scanned: Path, tmp_path: Path) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), "roles")
        other = register(staff_web, copy_of(scanned, tmp_path / "other"), "not hers")
        kit = investigator(staff_web, "kit", scan)
        cw = make_account(staff_web, "cw-review", StaffRole.CASEWORKER)
        sup = make_account(staff_web, "sup-review", StaffRole.SUPERVISOR)
        caseworker = login(staff_web, cw)
        assert caseworker.get("/review").status_code == 403
        denied = caseworker.get(f"/review/{scan.id}")
        assert denied.status_code == 403 and "role" in denied.text
        assert caseworker.get(f"/review/{scan.id}/thumb/1").status_code == 403
        client = login(staff_web, kit)
        assert "not hers" not in client.get("/review").text
        assert client.get(f"/review/{other.id}").status_code == 403
        assert client.get(f"/review/{other.id}/thumb/1").status_code == 403
        for forged in ("999999", "abc", "1e3", "-1"):
            r = client.get(f"/review/{forged}")
            assert r.status_code == 404, (forged, r.status_code)
        assert client.get(f"/review/{scan.id}/items/999999").status_code == 404
        assert client.get(f"/review/{scan.id}/groups/999999").status_code == 404
        assert client.get(f"/review/{scan.id}/thumb/999999").status_code == 404
        supervisor = login(staff_web, sup)
        listing = supervisor.get("/review").text
        assert "roles" in listing and "not hers" in listing
        assert supervisor.get(f"/review/{other.id}").status_code == 200
        signed_out = httpx.get(f"{staff_web.url}/review/{scan.id}", follow_redirects=False)
        assert signed_out.status_code == 303 and "/console/login?next=" in signed_out.headers["location"]


def test_posts_without_the_csrf_token_change_nothing(
    staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), "csrf")
        client = login(staff_web, investigator(staff_web, "lee", scan))
        ids = _item_ids(client.get(f"/review/{scan.id}?view=items").text)
        assert _categorise(client, scan, "forged", ids[:1], "ai_generated").status_code == 403
        r = client.post(
            f"/review/{scan.id}/categorise",
            content=json.dumps({"items": ids[:1], "category": "ai_generated"}),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 403
        assert client.post(f"/review/{scan.id}/items/{ids[0]}/reveal", data={"lang": "en"}).status_code == 403
        assert client.post(f"/review/{scan.id}/items/{ids[0]}/notes", data={"note": "x"}).status_code == 403
        assert (
            client.post(
                f"/review/{scan.id}/bulk", data={"action": "not_relevant", "item": ids[0]}
            ).status_code
            == 403
        )
        logged = db_rows(scan.folder, "SELECT action FROM custody_entry WHERE log LIKE 'review:%'")
        assert [r[0] for r in logged] == ["review.started"]


def test_html_in_notes_and_labels_is_shown_as_text(staff_web: Service, scanned: Path, tmp_path: Path) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), '<img src=x onerror="alert(1)">')
        client = login(staff_web, investigator(staff_web, "joy", scan))
        grid = client.get(f"/review/{scan.id}?view=items")
        assert "<img src=x" not in grid.text and "&lt;img src=x" in grid.text
        csrf, item_id = csrf_of(grid.text), _item_ids(grid.text)[0]
        note = '<script>alert("x")</script> seen in <b>chat</b>'
        r = client.post(
            f"/review/{scan.id}/items/{item_id}/notes", data={"csrf": csrf, "note": note, "lang": "en"}
        )
        assert r.status_code == 303
        page = client.get(f"/review/{scan.id}/items/{item_id}").text
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert "<b>chat</b>" not in page
        huge = client.post(
            f"/review/{scan.id}/items/{item_id}/notes", data={"csrf": csrf, "note": "x" * 5000, "lang": "en"}
        )
        assert huge.status_code == 400 and "at most 4,000 characters" in huge.text
        zh = client.post(
            f"/review/{scan.id}/items/{item_id}/notes",
            data={"csrf": csrf, "note": "y" * 5000, "lang": "zh-Hant"},
        )
        assert zh.status_code == 400 and "筆記太長" in zh.text
        assert len(db_rows(scan.folder, "SELECT id FROM review_note")) == 1


def test_a_group_goes_into_a_bank_and_a_lookup_then_matches(
    staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), "bank")
        with staff_web.db.session() as s:
            banks.create_bank(s, name="REVIEW_CASE_31", actor="test")
        client = login(staff_web, investigator(staff_web, "sam", scan))
        grid = client.get(f"/review/{scan.id}?view=groups&kind=folder").text
        group = next(
            int(g)
            for g, label in re.findall(r'<h2 id="g(\d+)"><a [^>]*>([^<]+)</a>', grid)
            if label == "person_00"
        )
        page = client.get(f"/review/{scan.id}/groups/{group}")
        assert page.status_code == 200 and 'value="REVIEW_CASE_31"' in page.text
        r = client.post(
            f"/review/{scan.id}/groups/{group}/bank",
            data={"csrf": csrf_of(page.text), "bank": "REVIEW_CASE_31", "lang": "en"},
        )
        assert r.status_code == 200 and "Added 3 of 3 fingerprints" in r.text, r.text[-2000:]
        sha = db_rows(scan.folder, "SELECT sha256 FROM item WHERE name = 'IMG_0000_undress.png'")[0][0]
        found = staff_web.client(staff_web.admin).get(
            "/m/lookup", params={"signal_type": "sha256", "signal": sha}
        )
        assert found.status_code == 200 and "REVIEW_CASE_31" in found.json(), found.text
        own = db_rows(scan.folder, "SELECT sha256 FROM item WHERE name = 'IMG_0000.jpg'")[0][0]
        not_hers = staff_web.client(staff_web.admin).get(
            "/m/lookup", params={"signal_type": "sha256", "signal": own}
        )
        assert "REVIEW_CASE_31" not in not_hers.json()  # her own source photo stays out
        assert _audit(staff_web, "review.bank_imported")[-1].details["added"] == 3
    assert verify_case_dir(scan.folder).ok


def test_a_folder_failing_verification_shows_the_banner_naming_the_entry(
    staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    folder = copy_of(scanned, tmp_path / "case")
    target = db_rows(folder, "SELECT id, sealed_seq FROM item WHERE name = 'IMG_0100.jpg'")[0]
    conn = __import__("sqlite3").connect(folder / "case.db")
    conn.execute("UPDATE item SET generator = 'edited' WHERE id = ?", (target[0],))
    conn.commit()
    conn.close()
    with clock.frozen(T0):
        scan = register(staff_web, folder, "tampered")
        client = login(staff_web, investigator(staff_web, "max", scan))
        deadline = time.monotonic() + 90
        while True:
            page = client.get(f"/review/{scan.id}?view=items")
            if 'data-verification="error"' in page.text or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert f"scan log entry {target[1]}" in page.text and "item_altered" in page.text
        assert "read-only" in page.text and 'type="checkbox"' not in page.text
        zh = client.get(f"/review/{scan.id}?view=items&lang=zh-Hant").text
        assert f"掃描紀錄第 {target[1]} 項" in zh
        r = _categorise(client, scan, csrf_of(page.text), _item_ids(page.text)[:1], "not_relevant")
        assert r.status_code == 409 and "read-only" in r.json()["message"]


def test_a_folder_moved_away_while_its_page_is_open(
    staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), "moved")
        client = login(staff_web, investigator(staff_web, "ray", scan))
        grid = client.get(f"/review/{scan.id}?view=items")
        assert grid.status_code == 200
        status = client.get(f"/review/{scan.id}/status").json()
        assert status["items"] == 11 and status["verification"] in ("verifying", "verified")
        scan.folder.rename(tmp_path / "elsewhere")
        gone = client.get(f"/review/{scan.id}?view=items")
        assert gone.status_code == 409 and "not a scan case folder" in gone.text
        assert client.get(f"/review/{scan.id}/status").status_code == 409
        r = _categorise(client, scan, csrf_of(grid.text), _item_ids(grid.text)[:1], "not_relevant")
        assert r.status_code == 409
