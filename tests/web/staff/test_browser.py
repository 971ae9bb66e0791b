"""The console's own pages in real Chromium (Debian's, via Playwright's executable_path): enrolment
from the link (QR code drawn on the page), sign-in with password + TOTP at a frozen time, the
admin's and supervisor's pages, sign-out; axe-core (WCAG 2.1 AA) on each page in English and
Chinese; screenshots at desktop and phone width kept in .artefacts/console/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from takeback import clock
from takeback.cases import service as cases
from takeback.staff import service as staff
from takeback.staff import totp
from takeback.staff.models import StaffRole
from tests.web.conftest import Service
from tests.web.staff.conftest import PASSWORD, browser_login, make_account, staff_key

CHROMIUM = Path(os.environ.get("TAKEBACK_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = os.environ.get("TAKEBACK_TEST_AXE", "")
ARTEFACTS = Path(
    os.environ.get("TAKEBACK_TEST_ARTEFACTS", Path(__file__).parents[3] / ".artefacts" / "console")
)
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)

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


def test_enrol_sign_in_and_sign_out_in_chromium(browser: Any, staff_web: Service) -> None:
    with clock.frozen(T0):
        with staff_web.db.session() as s:
            _, token = staff.create_user(
                s, handle="kit", role="supervisor", key=staff_key(staff_web), actor="t"
            )
        ctx = _context(browser, staff_web)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"/console/enrol/{token}")
        assert page.locator("figure.qr svg").count() == 1  # the QR code is drawn on the page itself
        seed = totp.from_base32(page.locator("code.seed").inner_text())
        page.fill("#password", PASSWORD)
        page.fill("#code", totp.code_at(seed, totp.step_at(clock.now_seconds())))
        page.click("button[type=submit]")
        assert "/console/login" in page.url and page.locator(".alert.ok").count() == 1
        clock.advance(30)
        page.fill("#handle", "kit")
        page.fill("#password", PASSWORD)
        page.fill("#code", totp.code_at(seed, totp.step_at(clock.now_seconds())))
        page.click("button[type=submit]")
        page.wait_for_load_state()
        cookies = {c["name"]: c for c in ctx.cookies()}
        assert cookies["tb_staff"]["httpOnly"] and cookies["tb_staff"]["sameSite"] == "Strict"
        page.goto("/console/assign")
        assert page.locator("h1").inner_text() == "Assign cases"
        page.click("header .signout button")
        assert "/console/login" in page.url
        page.goto("/console/assign")
        assert "/console/login?next=" in page.url  # signed out for good
        ctx.close()
        assert not errors, errors


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_every_page_screenshot_and_axe(browser: Any, staff_web: Service, lang: str) -> None:
    out = ARTEFACTS
    out.mkdir(parents=True, exist_ok=True)
    with clock.frozen(T0 if lang == "en" else T0.replace(hour=5)):
        pages = _pages_with_suffix(staff_web, "-zh" if lang != "en" else "")
        found: dict[str, Any] = {}
        for width, tag in [(1280, "desktop"), (390, "phone")]:
            for name, account, path in pages:
                ctx = _context(browser, staff_web, width=width, axe=bool(AXE))
                page = ctx.new_page()
                if account is not None:
                    browser_login(page, account, lang=lang)
                page.goto(f"{path}?lang={lang}")
                if lang == "zh-Hant":
                    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
                    assert re.search(r"[\u4e00-\u9fff]", page.locator("h1").inner_text()), name
                page.screenshot(path=str(out / f"{name}-{lang}-{tag}.png"), full_page=True)
                if AXE and Path(AXE).is_file() and tag == "desktop":
                    v = _axe(page)
                    if v:
                        found[name] = v
                ctx.close()
        assert not found, found


def _pages_with_suffix(svc: Service, suffix: str) -> list[tuple[str, Any, str]]:
    admin = make_account(svc, f"shot-admin{suffix}", StaffRole.ADMIN)
    sup = make_account(svc, f"shot-sup{suffix}", StaffRole.SUPERVISOR)
    make_account(svc, f"shot-cw{suffix}", StaffRole.CASEWORKER)
    with svc.db.session() as s:
        case = cases.create_case(s, jurisdiction="HK", actor="intake")
        staff.assign(s, handle=f"shot-cw{suffix}", case_reference=case.reference, actor="sup")
        _, token = staff.create_user(
            s, handle=f"shot-new{suffix}", role="caseworker", key=staff_key(svc), actor="t"
        )
    return [
        ("login", None, "/console/login"),
        ("enrol", None, f"/console/enrol/{token}"),
        ("enrol-invalid", None, "/console/enrol/not-a-token"),
        ("users", admin, "/console/admin/users"),
        ("assign", sup, "/console/assign"),
        ("denied", sup, "/console/admin/users"),
    ]
