"""The console's case pages in real Chromium (Debian's, via Playwright's executable_path), time frozen:
a caseworker signs in with password + TOTP, sees only her cases, opens one, records consent, watches
a clock go overdue, drafts a PCPD notice in Chinese and downloads its PDF (fonts embedded, text
extractable), exports a bundle that ``takeback evidence verify`` accepts; a second caseworker gets
403. Her encrypted portal file opens in the caseworker's browser with the passphrase she gives,
which never leaves it. axe-core (WCAG 2.1 AA) on every page in both languages; screenshots at 1280
and 390 px kept in .artefacts/console/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from takeback import clock
from takeback.cases import service as cs
from takeback.evidence import service as ev
from takeback.evidence.service import blob_remover
from takeback.evidence.signing import Signer
from takeback.portal import service as ps
from takeback.staff import service as staffs
from takeback.staff.models import StaffRole
from tests import pdftools
from tests.web.conftest import Service
from tests.web.console.helpers import new_case, portal_case
from tests.web.staff.conftest import browser_login, make_account

CHROMIUM = Path(os.environ.get("TAKEBACK_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = os.environ.get("TAKEBACK_TEST_AXE", "")
ARTEFACTS = Path(
    os.environ.get("TAKEBACK_TEST_ARTEFACTS", Path(__file__).parents[3] / ".artefacts" / "console")
)
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
PASSPHRASE = "river lantern 42 orchid"
TABS = ("overview", "evidence", "referrals", "takedowns", "notices", "bundle", "audit")

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
expect = playwright_api.expect
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def _context(browser: Any, svc: Service, *, width: int = 1280, axe: bool = False) -> Any:
    ctx = browser.new_context(
        base_url=svc.url, viewport={"width": width, "height": 900}, bypass_csp=axe, accept_downloads=True
    )
    return ctx


def _page(ctx: Any) -> tuple[Any, list[str]]:
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())  # the confirm() before a withdrawal or closing a case
    return page, errors


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=AXE)
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result["violations"]]


def _takeback(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "takeback.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_caseworkers_day_in_chromium(browser: Any, staff_web: Service, tmp_path: Path) -> None:
    pdftools.need_poppler()
    out = ARTEFACTS
    out.mkdir(parents=True, exist_ok=True)
    with clock.frozen(T0):
        mei = make_account(staff_web, "b-mei", StaffRole.CASEWORKER)
        lam = make_account(staff_web, "b-lam", StaffRole.CASEWORKER)
        mine = new_case(staff_web, assign_to="b-mei", jurisdiction="US", alias="M-7", photo_dir=tmp_path)
        theirs = new_case(staff_web, assign_to="b-lam", alias="L-7")
        with staff_web.db.session() as s:
            cs.add_takedown(
                s,
                case=cs.get_case(s, reference=mine),
                url="https://video.example/watch?v=1",
                platform="VideoSite",
                actor="staff:b-mei",
                sent_at=T0 - timedelta(hours=47),
            )
        ctx = _context(browser, staff_web)
        page, errors = _page(ctx)
        browser_login(page, mei)
        page.goto("/console/cases")
        rows = page.locator("table.cases tbody tr")
        expect(rows).to_have_count(1)
        assert mine in rows.first.inner_text() and theirs not in page.content()
        assert "Due" in rows.first.inner_text() and "OVERDUE" not in rows.first.inner_text()
        page.get_by_role("link", name=mine).click()
        page.wait_for_url(re.compile(rf"/console/cases/{mine}"))
        # consent per purpose: record one, withdraw another (a confirm() first)
        page.get_by_role("button", name=re.compile("Record her consent.*Sharing with the police")).click()
        expect(page.locator(".alert.ok")).to_contain_text("Consent recorded.")
        page.get_by_role("button", name=re.compile("Record withdrawal.*Referring her case")).click()
        expect(page.locator(".alert.ok")).to_contain_text("Withdrawal recorded.")
        row = page.locator("tr", has_text="Referring her case")
        expect(row).to_contain_text("Withdrawn")
        # the TAKE IT DOWN clock: due in an hour, then overdue (she signs in again: the session went idle)
        page.get_by_role("link", name="Takedowns").click()
        expect(page.locator("section.clocks")).to_contain_text("Due")
        clock.advance(2 * 3600)
        browser_login(page, mei)
        page.goto(f"/console/cases/{mine}?tab=takedowns")
        expect(page.locator("section.clocks .overdue")).to_have_text("OVERDUE")
        expect(page.locator("table .overdue").first).to_have_text("OVERDUE")
        page.goto("/console/cases?overdue=1")
        expect(page.locator("table.cases tbody tr")).to_have_count(1)
        # a PCPD complaint in Chinese, its PDF downloaded: fonts embedded, text extractable
        page.goto(f"/console/cases/{mine}?tab=notices&lang=zh-Hant")
        page.select_option("#n-kind", "hk-pcpd")
        page.select_option("#n-lang", "zh-Hant")
        page.fill("#n-name", "陳大文")
        page.get_by_role("button", name="草擬").click()
        expect(page.locator(".notice-text").first).to_contain_text("私隱專員公署")
        with page.expect_download() as dl:
            page.get_by_role("button", name="下載通知（PDF）").click()
        pdf = tmp_path / "pcpd.pdf"
        dl.value.save_as(pdf)
        pdftools.assert_fonts_embedded(pdf)
        text = pdftools.squeeze(pdftools.text(pdf))
        assert "私隱專員公署" in text and "陳大文" in text and mine in text
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "60",
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                str(out / "notice-pcpd-zh-Hant"),
            ],
            check=True,
        )
        # the bundle: downloaded, and `takeback evidence verify` accepts it
        page.goto(f"/console/cases/{mine}?tab=bundle")
        with page.expect_download() as dl:
            page.get_by_role("button", name="Export the bundle").click()
        bundle = tmp_path / "bundle.zip"
        dl.value.save_as(bundle)
        verified = _takeback("evidence", "verify", str(bundle))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "VERIFIED" in verified.stdout
        # who saw what: her own views are in the audit view
        page.goto(f"/console/cases/{mine}?tab=audit")
        expect(page.locator("table.audit")).to_contain_text("Exported an evidence bundle")
        expect(page.locator("table.audit")).to_contain_text("staff:b-mei")
        ctx.close()
        assert not errors, errors
        # a second caseworker: 403 on that case's URL
        ctx = _context(browser, staff_web)
        other, errors = _page(ctx)
        browser_login(other, lam)
        resp = other.goto(f"/console/cases/{mine}")
        assert resp is not None and resp.status == 403
        expect(other.locator("main")).to_contain_text("not assigned to you")
        ctx.close()
        assert not errors, errors


def _sealed_blob(name: str, content: bytes, passphrase: str) -> tuple[bytes, dict[str, Any]]:
    """What the portal's page makes in her browser: AES-256-GCM under PBKDF2-SHA-256 (600,000) of
    her passphrase, the file's name and type on a first line inside the ciphertext."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    salt, iv = secrets.token_bytes(16), secrets.token_bytes(12)
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=600_000).derive(
        passphrase.encode()
    )
    plain = json.dumps({"name": name, "type": "image/png"}).encode() + b"\n" + content
    params = {"alg": "AES-GCM", "kdf": "PBKDF2", "hash": "SHA-256", "iterations": 600_000}
    return AESGCM(key).encrypt(iv, plain, None), {**params, "salt": salt.hex(), "iv": iv.hex()}


def test_her_encrypted_file_opens_only_in_the_browser_with_her_passphrase(
    browser: Any, staff_web: Service, tmp_path: Path
) -> None:
    with clock.frozen(T0):
        hoi = make_account(staff_web, "b-hoi", StaffRole.CASEWORKER)
        ref = portal_case(staff_web, share=True, data=b"sealed case")
        content = b"\x89PNG synthetic screenshot bytes"
        blob, params = _sealed_blob("<img src=x onerror=alert(1)>.png", content, PASSPHRASE)
        with staff_web.db.session() as s:
            ps.seal(
                s,
                case=cs.get_case(s, reference=ref),
                ciphertext=blob,
                params=params,
                max_bytes=1 << 20,
                max_items=5,
            )
        ctx = _context(browser, staff_web)
        page, errors = _page(ctx)
        sent: list[str] = []
        page.on("request", lambda r: sent.append(f"{r.url} {r.post_data or ''}"))
        browser_login(page, hoi)
        page.goto("/console/cases/link")
        page.fill("#reference", ref.lower())
        page.get_by_role("button", name="Link the case").click()
        expect(page.locator(".alert.ok")).to_contain_text("Portal case linked")
        page.get_by_role("link", name="Evidence", exact=True).click()
        open_button = page.get_by_role("button", name="Open with her passphrase")
        open_button.click()
        expect(page.locator("#sealed-status")).to_contain_text("Type her passphrase first")
        page.fill("#sealed-pass", "not her passphrase")
        open_button.click()
        expect(page.locator("#sealed-status")).to_contain_text("does not open this file", timeout=30_000)
        page.fill("#sealed-pass", PASSPHRASE)
        open_button.click()
        link = page.locator("#sealed-status a")
        expect(link).to_have_text("<img src=x onerror=alert(1)>.png", timeout=30_000)  # her name, as text
        with page.expect_download() as dl:
            link.click()
        got = tmp_path / "opened.png"
        dl.value.save_as(got)
        assert got.read_bytes() == content
        assert not any(PASSPHRASE in line or "not her passphrase" in line for line in sent)
        ctx.close()
        assert not errors, errors
        with staff_web.db.session() as s:
            acts = [e.action for e in ev.case_audit(s, case=cs.get_case(s, reference=ref))]
        assert acts.count("portal.sealed.view") == 2  # the wrong try fetched it too; both logged


def _shot_pages(svc: Service, suffix: str, tmp_path: Path) -> tuple[Any, list[tuple[str, str]]]:
    """An account and the pages to photograph: the list, intake, linking, every tab, a refusal."""
    cw = make_account(svc, f"shot-case{suffix}", StaffRole.CASEWORKER)
    ref = new_case(svc, assign_to=cw.handle, jurisdiction="HK", alias="R-12", photo_dir=tmp_path)
    other = new_case(svc, assign_to=None, jurisdiction="US", alias="U-3", photo_dir=tmp_path)
    portal = portal_case(svc, share=True, data=f"shot {suffix}".encode())
    gone = new_case(svc, assign_to=cw.handle, jurisdiction="HK")
    blob, params = _sealed_blob("screenshot.png", b"x" * 2000, PASSPHRASE)
    with svc.db.session() as s:
        for r in (other, portal):
            staffs.assign(s, handle=cw.handle, actor="staff:boss", case_reference=r)
        c = cs.get_case(s, reference=ref)
        cs.add_referral(s, case=c, channel="hk-pcpd", actor="staff:x", reference_number="PCPD-2026-0042")
        cs.add_takedown(s, case=c, url="https://forum.example/t/1", platform="Forum", actor="staff:x")
        u = cs.get_case(s, reference=other)
        cs.add_takedown(
            s, case=u, url="https://video.example/v/9", actor="staff:x", sent_at=T0 - timedelta(hours=50)
        )
        p = cs.get_case(s, reference=portal)
        ps.add_log_entry(
            s, case=p, entry=ps.LogInput(kind="sighting", url="https://f.example/x", platform="Forum")
        )
        ps.seal(s, case=p, ciphertext=blob, params=params, max_bytes=1 << 20, max_items=5)
        signer = Signer.load_or_create(svc.settings.ensure_data_dir())
        ev.delete_case(
            s,
            case=cs.get_case(s, reference=gone),
            actor="staff:x",
            signer=signer,
            remove_blob=blob_remover(tmp_path),
        )
    nobody = new_case(svc, assign_to=None)
    pages = [
        ("cases", "/console/cases"),
        ("case-new", "/console/cases/new"),
        ("case-link", "/console/cases/link"),
        *[(f"case-{tab}", f"/console/cases/{ref}?tab={tab}") for tab in TABS],
        ("case-portal-evidence", f"/console/cases/{portal}?tab=evidence"),
        ("case-us-takedowns", f"/console/cases/{other}?tab=takedowns"),
        ("case-denied", f"/console/cases/{nobody}"),
        ("case-deleted", f"/console/cases/{gone}"),
    ]
    return cw, pages


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_every_case_page_screenshot_and_axe(
    browser: Any, staff_web: Service, lang: str, tmp_path: Path
) -> None:
    out = ARTEFACTS
    out.mkdir(parents=True, exist_ok=True)
    with clock.frozen(T0 if lang == "en" else T0.replace(hour=6)):
        account, pages = _shot_pages(staff_web, "" if lang == "en" else "-zh", tmp_path)
        found: dict[str, Any] = {}
        wide: dict[str, int] = {}
        for width, tag in ((1280, "desktop"), (390, "phone")):
            ctx = _context(browser, staff_web, width=width, axe=bool(AXE))
            page, errors = _page(ctx)
            browser_login(page, account, lang=lang)
            for name, path in pages:
                page.goto(f"{path}{'&' if '?' in path else '?'}lang={lang}")
                if name == "case-notices":  # with a draft shown
                    page.get_by_role("button", name="草擬" if lang == "zh-Hant" else "Draft it").click()
                    page.wait_for_load_state()
                if lang == "zh-Hant":
                    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
                page.screenshot(path=str(out / f"{name}-{lang}-{tag}.png"), full_page=True)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                if overflow > 0:
                    wide[f"{name}-{tag}"] = overflow
                if AXE and Path(AXE).is_file() and tag == "desktop":
                    v = _axe(page)
                    if v:
                        found[name] = v
            ctx.close()
            assert not errors, errors
        assert not found, found
        assert not wide, f"pages that scroll sideways (px): {wide}"
