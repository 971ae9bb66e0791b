"""The review grid in real Chromium (Debian's, via Playwright's executable_path): an investigator
opens a scan folder, reveals one item, categorises ten with the number keys, adds a group to a bank
that a lookup then matches, and ``case verify`` still passes; a caseworker gets 403, a forged folder
id 404, HTML in a note stays text, a tampered folder shows the banner naming the broken entry.
axe-core (WCAG 2.1 AA) on each page in English and Chinese; screenshots at desktop and phone width
kept in .artefacts/review/.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from takeback import clock
from takeback.banks import service as banks
from takeback.staff.models import StaffRole
from takeback.store import AuditEvent
from takeback.triage.service import verify_case_dir
from tests.web.conftest import Service
from tests.web.review.conftest import Scan, copy_of, db_rows, investigator, register
from tests.web.staff.conftest import browser_login, make_account

CHROMIUM = Path(os.environ.get("TAKEBACK_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = os.environ.get("TAKEBACK_TEST_AXE", "")
ARTEFACTS = Path(
    os.environ.get("TAKEBACK_TEST_ARTEFACTS", Path(__file__).parents[3] / ".artefacts" / "review")
)
T0 = datetime(2026, 7, 2, 2, 0, tzinfo=UTC)

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _context(browser: Any, svc: Service, *, width: int = 1280, axe: bool = False) -> Any:
    return browser.new_context(
        base_url=svc.url, viewport={"width": width, "height": 900}, bypass_csp=axe, accept_downloads=True
    )


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=AXE)
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result["violations"]]


def _audit(svc: Service, action: str) -> list[AuditEvent]:
    with svc.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_an_investigator_reviews_by_keyboard_in_chromium(
    browser: Any, staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    with clock.frozen(T0):
        scan = register(staff_web, copy_of(scanned, tmp_path / "case"), "HK-2026-044 phone")
        with staff_web.db.session() as s:
            banks.create_bank(s, name="BROWSER_CASE_44", actor="test")
        who = investigator(staff_web, "ivy", scan)
        ctx = _context(browser, staff_web)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: d.accept())  # the confirmations (reveal, bank, bulk)
        browser_login(page, who)
        assert "/review" in page.url
        page.click("text=HK-2026-044 phone")
        assert page.locator("h1").inner_text() == "Review: HK-2026-044 phone"
        assert page.locator("li.tile").count() > 0
        # one reveal, from the item page; an audit row appears
        page.goto(f"/review/{scan.id}?view=items&lang=en")
        page.locator("li.tile a.thumb").first.click()
        page.wait_for_load_state()
        page.click("#reveal")
        page.wait_for_load_state()
        assert page.locator("img.revealed").count() == 1
        assert [a.actor for a in _audit(staff_web, "review.revealed")] == ["staff:ivy"]
        # ten by keyboard: focus the first tile, then number key, arrow, number key, ...
        page.goto(f"/review/{scan.id}?view=items&lang=en")
        page.locator("li.tile a.thumb").first.focus()
        for n in range(10):
            page.keyboard.press(str(1 + n % 5))
            page.wait_for_function(
                "n => document.querySelectorAll('li.tile.done').length >= n", arg=n + 1, timeout=15000
            )
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('[data-progress-done]').textContent.trim() === '10'"
        )
        assert page.locator("li.tile.done").count() == 10
        cats = [r[0] for r in db_rows(scan.folder, "SELECT category FROM review ORDER BY item_id")]
        assert len(cats) == 10 and set(cats) == {
            "victim_identified",
            "victim_unknown",
            "ai_generated",
            "source_photo",
            "not_relevant",
        }
        # arrow keys move focus between tiles (down: the next row)
        page.locator("li.tile a.thumb").first.focus()
        page.keyboard.press("ArrowDown")
        assert page.evaluate(
            "document.activeElement.closest('li.tile') !== document.querySelector('li.tile')"
        )
        # a group into a bank; the service's lookup then matches it
        page.goto(f"/review/{scan.id}?view=groups&kind=folder&lang=en")
        page.click("section.group h2 a:text('person_00')")
        page.select_option("#bank-name", "BROWSER_CASE_44")
        page.click("#bank button[type=submit]")
        page.wait_for_load_state()
        assert "Added 3 of 3 fingerprints" in page.locator(".alert.ok:not(.review-banner)").inner_text()
        sha = db_rows(scan.folder, "SELECT sha256 FROM item WHERE name = 'IMG_0000_swap.png'")[0][0]
        found = staff_web.client(staff_web.admin).get(
            "/m/lookup", params={"signal_type": "sha256", "signal": sha}
        )
        assert "BROWSER_CASE_44" in found.json(), found.text
        # a note with HTML in it stays text
        page.fill("#note", "<img src=x onerror=alert(1)> <b>bold?</b>")
        page.click("#notes button[type=submit]")
        page.wait_for_load_state()
        assert page.locator("ol.notes img").count() == 0 and page.locator("ol.notes b").count() == 0
        assert "<img src=x onerror=alert(1)>" in page.locator("ol.notes .note-text").first.inner_text()
        # a forged folder id
        r = page.goto("/review/424242?lang=en")
        assert r is not None and r.status == 404
        ctx.close()
        assert not errors, errors
    v = verify_case_dir(scan.folder)
    assert v.ok, v.problems


def test_a_caseworker_is_refused_and_a_tampered_folder_shows_its_banner(
    browser: Any, staff_web: Service, scanned: Path, tmp_path: Path
) -> None:
    folder = copy_of(scanned, tmp_path / "case")
    seq = _tamper(folder)
    with clock.frozen(T0):
        scan = register(staff_web, folder, "tampered copy")
        cw = make_account(staff_web, "cw-browser", StaffRole.CASEWORKER)
        ctx = _context(browser, staff_web)
        page = ctx.new_page()
        browser_login(page, cw)
        r = page.goto(f"/review/{scan.id}?lang=en")
        assert r is not None and r.status == 403
        ctx.close()
        ctx = _context(browser, staff_web)
        page = ctx.new_page()
        browser_login(page, investigator(staff_web, "oak", scan))
        _wait_for_banner(page, scan, "en")
        banner = page.locator(".review-banner").inner_text()
        assert f"scan log entry {seq}" in banner and "item_altered" in banner
        assert page.locator("input[type=checkbox]").count() == 0  # read-only: no actions offered
        ctx.close()


def _tamper(folder: Path) -> int:
    import sqlite3

    item_id, seq = db_rows(folder, "SELECT id, sealed_seq FROM item WHERE name = 'IMG_0100.jpg'")[0]
    conn = sqlite3.connect(folder / "case.db")
    conn.execute("UPDATE item SET generator = 'edited' WHERE id = ?", (item_id,))
    conn.commit()
    conn.close()
    return int(seq)


def _wait_for_banner(page: Any, scan: Scan, lang: str, *, tone: str = "error") -> None:
    deadline = time.monotonic() + 90
    while True:
        page.goto(f"/review/{scan.id}?view=items&lang={lang}")
        if page.locator(f'[data-verification="{tone}"]').count() or time.monotonic() > deadline:
            return
        time.sleep(0.3)


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_every_page_screenshot_and_axe(
    browser: Any, staff_web: Service, scanned: Path, tmp_path: Path, lang: str
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if lang == "en" else "-zh"
    good = register(staff_web, copy_of(scanned, tmp_path / "good"), f"HK-2026-050{suffix}")
    bad_folder = copy_of(scanned, tmp_path / "bad")
    _tamper(bad_folder)
    bad = register(staff_web, bad_folder, f"HK-2026-051 (tampered){suffix}")
    with clock.frozen(T0 if lang == "en" else T0.replace(hour=5)):
        who = investigator(staff_web, f"shot-inv{suffix}", good)
        with staff_web.db.session() as s:
            from takeback.staff import service as staffs

            staffs.assign(s, handle=who.handle, scan_id=bad.id, actor="sup")
        cw = make_account(staff_web, f"shot-cw-r{suffix}", StaffRole.CASEWORKER)
        ids = [
            int(r[0])
            for r in db_rows(good.folder, "SELECT id FROM item WHERE name LIKE 'IMG_0000%' ORDER BY id")
        ]
        group = int(
            db_rows(good.folder, "SELECT id FROM grp WHERE kind = 'derivation' ORDER BY id LIMIT 1")[0][0]
        )
        pages = [
            ("list", who, "/review"),
            ("grid", who, f"/review/{good.id}"),
            ("grid-items", who, f"/review/{good.id}?view=items"),
            ("item", who, f"/review/{good.id}/items/{ids[1]}"),
            ("group", who, f"/review/{good.id}/groups/{group}"),
            ("banner", who, f"/review/{bad.id}?view=items"),
            ("denied", cw, f"/review/{good.id}"),
            ("missing", who, "/review/987654"),
        ]
        found: dict[str, Any] = {}
        for width, tag in [(1280, "desktop"), (390, "phone")]:
            for name, account, path in pages:
                ctx = _context(browser, staff_web, width=width, axe=bool(AXE))
                page = ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                browser_login(page, account, lang=lang)
                if name == "banner":
                    _wait_for_banner(page, bad, lang)
                sep = "&" if "?" in path else "?"
                page.goto(f"{path}{sep}lang={lang}")
                # a full-page picture: load the tiles below the fold too (the grid loads them lazily)
                page.evaluate(
                    "document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')"
                )
                page.wait_for_load_state("networkidle")
                page.wait_for_function("() => [...document.images].every(i => i.complete)")
                if lang == "zh-Hant":
                    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
                    assert re.search(r"[\u4e00-\u9fff]", page.locator("h1").inner_text()), name
                page.screenshot(path=str(ARTEFACTS / f"{name}-{lang}-{tag}.png"), full_page=True)
                if AXE and Path(AXE).is_file() and tag == "desktop":
                    v = _axe(page)
                    if v:
                        found[name] = v
                ctx.close()
                assert not errors, (name, errors)
        assert not found, found
