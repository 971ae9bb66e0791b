"""The portal in real Chromium (Debian's, driven by Playwright with ``executable_path``): a whole
submission with every request recorded, the age gate, quick exit, the language switch, receipts,
encrypted evidence, withdrawal, axe-core on every page, and screenshots of every page kept.

Skips (with the reason) where Chromium or Playwright is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from takeback.signals.fingerprint import fingerprint_file
from tests.web.conftest import Service, running_service

CHROMIUM = Path(os.environ.get("TAKEBACK_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = os.environ.get("TAKEBACK_TEST_AXE", "")
ARTEFACTS = Path(
    os.environ.get("TAKEBACK_TEST_ARTEFACTS", Path(__file__).parents[3] / ".artefacts" / "portal")
)
EXIT = "https://neutral.example/weather"
PAGES = [
    "/",
    "/start",
    "/under-18",
    "/submit",
    "/guide?j=HK&facts=created&facts=shared",
    "/verify",
    "/safety",
    "/case",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
expect = playwright_api.expect
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path, _pg_template: Any
) -> Iterator[Service]:
    with running_service(
        "sqlite", tmp_path_factory.mktemp("portal"), _sqlite_template, _pg_template, portal_exit_url=EXIT
    ) as svc:
        yield svc


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, portal: Service) -> Iterator[Any]:
    ctx = browser.new_context(
        base_url=portal.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    # the neutral site quick exit goes to: answered here, so nothing leaves the machine
    ctx.route(
        "https://neutral.example/**", lambda r: r.fulfill(status=200, body="<title>Weather</title>weather")
    )
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    ctx.close()
    assert not errors, errors


def _images(pdq_data: Path, n: int) -> list[Path]:
    return sorted((pdq_data / "bridge-mods").glob("*.jpg"))[:n]


def test_under_18_never_shows_the_upload(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name="Start").click()
    page.get_by_label("Yes, I was under 18").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/under-18"))
    assert page.locator("input[type=file]").count() == 0
    assert page.locator("form[action='/submit']").count() == 0
    assert page.get_by_role("heading", name="Where to get help now").is_visible()


def test_quick_exit_by_button_leaves_no_portal_page_behind(page: Any, portal: Service) -> None:
    page.goto("/guide")
    before = page.evaluate("history.length")
    page.get_by_role("link", name="Exit this page").click()
    page.wait_for_url(EXIT)
    assert page.evaluate("history.length") == before  # the portal page was replaced, not pushed
    page.go_back()  # to what was open before the portal (here the tab's blank page), not the portal
    assert not page.url.startswith(portal.url)


def test_quick_exit_by_shift_three_times(page: Any) -> None:
    page.goto("/safety")
    page.keyboard.press("Shift")
    page.keyboard.press("Shift")
    assert page.url.endswith("/safety")  # two presses do nothing
    page.keyboard.press("Shift")
    page.wait_for_url(EXIT)


def test_keyboard_alone_reaches_the_upload(page: Any) -> None:
    """Tab, Space and Enter only: from the home page through the age question to the file picker."""
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"  # the skip link comes first
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Start":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/start"))
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "age-adult":
            break
    page.keyboard.press("Space")
    page.keyboard.press("Enter")  # submits the form from the radio button
    page.wait_for_url(re.compile(r"/submit"))
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "pick":
            break
    assert page.evaluate("document.activeElement.id") == "pick"


def test_language_switch_persists_across_pages(page: Any) -> None:
    page.goto("/")
    page.get_by_role("link", name="繁體中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
    page.get_by_role("link", name="開始").click()
    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
    page.locator("footer").get_by_role("link", name="你的法律選擇").click()
    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"


def _submit_in_page(page: Any, files: list[Path], *, block: bool = True, lang: str = "en") -> tuple[str, str]:
    page.goto(f"/submit?lang={lang}")
    page.set_input_files("#pick", [str(f) for f in files])
    expect(page.locator("#send")).to_be_enabled(timeout=60_000)
    if block:
        page.locator("#consent-block").check()
    page.locator("#send").click()
    page.wait_for_selector(".secret")
    codes = page.locator(".secret code").all_inner_texts()
    return codes[0], codes[1].replace(" ", "")


def _sign_in(page: Any, ref: str, pin: str, lang: str = "en") -> None:
    page.goto(f"/case?lang={lang}")
    page.locator("#reference").fill(ref)
    page.locator("#pin").fill(pin)
    page.locator("form[action='/case'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/case/view"))


def _signed_in_pages(page: Any, pdq_data: Path, lang: str) -> list[tuple[str, Any]]:
    """The two pages only a submission reaches: the case number + PIN page, and her case (with a
    log entry), each as (name, a function that shows it again)."""
    ref, pin = _submit_in_page(page, _images(pdq_data, 2), lang=lang)
    done_html = page.content()
    _sign_in(page, ref, pin, lang)
    page.locator("#platform").fill("ExampleTube")
    page.locator("#url").fill("https://example.test/watch/1")
    page.locator("form[action='/case/log'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"notice=logged"))
    return [("submitted", lambda: page.set_content(done_html)), ("case_view", lambda: page.reload())]


def test_whole_submission_sends_hashes_only_then_withdraw_stops_matching(
    page: Any, portal: Service, pdq_data: Path, tmp_path: Path
) -> None:
    files = _images(pdq_data, 3)
    contents = [f.read_bytes() for f in files]
    requests: list[Any] = []
    page.on("request", lambda r: requests.append(r))
    ref, pin = _submit_in_page(page, files)
    assert re.fullmatch(r"TB-[0-9A-Z]{4}-[0-9A-Z]{4}", ref) and re.fullmatch(r"\d{8}", pin)

    # every request went to this service, and none carried the images (or any large body)
    for r in requests:
        assert r.url.startswith(portal.url), r.url
        body = r.post_data_buffer or b""
        assert len(body) < 64 * 1024, (r.url, len(body))
        for data in contents:
            assert data[1000:1064] not in body
    posted = [r for r in requests if r.method == "POST"]
    assert [r.url.split("?")[0] for r in posted] == [f"{portal.url}/submit"]
    assert not any(f.name in (r.post_data or "") for r in posted for f in files)  # not even names

    # the page's PDQ is takeback's: the bank matches a lookup made by the Python hasher
    api = portal.client(portal.admin)
    want = fingerprint_file(files[0]).to_record()["pdq"]
    assert api.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": want}).json()["matches"]

    # status, a receipt checked by the CLI's verifier, then withdrawal
    _sign_in(page, ref, pin)
    assert page.locator("tbody tr").count() == 3
    # her file names: shown from this tab's own storage, never from the server
    assert files[0].name in page.locator("tbody").inner_text()
    assert files[0].name not in page.content().split("<tbody>")[0]
    assert all(files[0].name not in (r.post_data or "") for r in requests)
    with page.expect_download() as dl:
        page.locator("tbody tr").first.get_by_role("button", name="Get receipt").click()
    receipt = tmp_path / "receipt.json"
    dl.value.save_as(receipt)
    from takeback.evidence.receipts import verify_receipt

    ok = [verify_receipt(receipt.read_bytes(), f).ok for f in files]
    assert ok.count(True) == 1
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Withdraw all my hashes").click()
    page.wait_for_selector("text=Withdrawn: those hashes")
    assert api.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": want}).json()["matches"] == []


def test_receipt_checked_in_the_browser(page: Any, pdq_data: Path, tmp_path: Path) -> None:
    files = _images(pdq_data, 1)
    ref, pin = _submit_in_page(page, files, block=False)
    _sign_in(page, ref, pin)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Get receipt").click()
    receipt = tmp_path / "r.json"
    dl.value.save_as(receipt)
    changed = tmp_path / "changed.jpg"
    data = bytearray(files[0].read_bytes())
    data[-3] ^= 1
    changed.write_bytes(bytes(data))
    for original, words in ((files[0], "Verified"), (changed, "Not verified: this file is not the one")):
        page.goto("/verify")
        page.set_input_files("#receipt-file", str(receipt))
        page.set_input_files("#original-file", str(original))
        page.get_by_role("button", name="Check").click()
        expect(page.locator("#verify-result")).to_have_text(
            re.compile("^" + re.escape(words)), timeout=30_000
        )
        assert ref in page.locator("#verify-result").inner_text() or words.startswith("Not")


def test_encrypted_evidence_is_ciphertext_and_opens_only_with_the_passphrase(
    page: Any, portal: Service, pdq_data: Path
) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    from sqlalchemy import select

    from takeback.portal.models import PortalSealed

    shot = pdq_data / "misc-images" / "small.jpg"
    plain = shot.read_bytes()
    ref, pin = _submit_in_page(page, _images(pdq_data, 1), block=False)
    _sign_in(page, ref, pin)
    page.get_by_label("Passphrase").fill("a long passphrase only I know")
    page.set_input_files("#sealed-file", str(shot))
    page.get_by_role("button", name="Encrypt and store").click()
    page.wait_for_selector("[data-open-sealed]")
    with portal.db.session() as s:
        row = s.scalars(select(PortalSealed).order_by(PortalSealed.id.desc())).first()
        assert row is not None
        blob, params = bytes(row.ciphertext), dict(row.params)
    assert plain[:64] not in blob and plain[-64:] not in blob and b"small.jpg" not in blob

    def decrypt(passphrase: str) -> bytes:
        kdf = PBKDF2HMAC(hashes.SHA256(), 32, bytes.fromhex(params["salt"]), params["iterations"])
        return AESGCM(kdf.derive(passphrase.encode())).decrypt(bytes.fromhex(params["iv"]), blob, None)

    opened = decrypt("a long passphrase only I know")
    header, _, content = opened.partition(b"\n")
    assert content == plain and json.loads(header)["name"] == "small.jpg"
    with pytest.raises(Exception):  # noqa: B017 (cryptography's InvalidTag)
        decrypt("a long passphrase only I know!")
    # and in the page (reloaded after storing, so the passphrase is asked again): the right
    # passphrase gives the file back, a wrong one says so
    page.get_by_label("Passphrase").fill("a long passphrase only I know")
    with page.expect_download() as dl:
        page.locator("[data-open-sealed]").first.click()
    assert Path(dl.value.path()).read_bytes() == plain
    page.get_by_label("Passphrase").fill("not the passphrase at all")
    page.locator("[data-open-sealed]").first.click()
    page.wait_for_selector("text=That passphrase does not open this file.")


def test_bad_files_get_a_message_each_and_the_rest_is_sent(page: Any, tmp_path: Path, pdq_data: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(_images(pdq_data, 1)[0].read_bytes()[:2000])
    text = tmp_path / "notes.txt"
    text.write_text("just text")
    page.goto("/submit")
    page.set_input_files("#pick", [str(empty), str(corrupt), str(text), str(_images(pdq_data, 1)[0])])
    expect(page.locator("#send")).to_be_enabled(timeout=60_000)
    rows = page.locator("#file-list li").all_inner_texts()
    assert "empty" in rows[0] and "could not be read" in rows[0]
    assert "ready" in rows[1] and "damaged" in rows[1]  # exact hashes only, and said why
    assert "not a photo or video" in rows[2] and "could not be read" in rows[2]
    assert "ready" in rows[3]
    sent = json.loads(page.locator("#files-json").input_value())
    # the corrupt JPEG (MD5/SHA-256, no PDQ) and the good photo; no names, ever
    assert [("pdq" in x) for x in sent] == [False, True]
    assert all("name" not in x for x in sent)


def _axe(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=AXE)
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result["violations"]]


@pytest.mark.skipif(not AXE or not Path(AXE).is_file(), reason="axe-core not installed (TAKEBACK_TEST_AXE)")
@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_axe_finds_no_wcag_aa_violations(browser: Any, portal: Service, lang: str, pdq_data: Path) -> None:
    ctx = browser.new_context(base_url=portal.url, bypass_csp=True)  # to inject axe only
    pg = ctx.new_page()
    found = {}
    for path in PAGES:
        pg.goto(f"{path}{'&' if '?' in path else '?'}lang={lang}")
        v = _axe(pg)
        if v:
            found[path] = v
    for name, show in _signed_in_pages(pg, pdq_data, lang):
        show()
        v = _axe(pg)
        if v:
            found[name] = v
    ctx.close()
    assert not found, found


def test_chinese_is_drawn_with_a_chinese_font_even_in_bold(browser: Any, portal: Service) -> None:
    """On a machine without Chinese system fonts (this one), every heading, label and button of a
    zh-Hant page is drawn with a font that has the characters (takeback's own), not a Latin font's
    empty boxes (Chromium did that for bold text when the web font came after a Latin family)."""
    ctx = browser.new_context(base_url=portal.url)
    pg = ctx.new_page()
    cdp = ctx.new_cdp_session(pg)
    for path in ("/submit", "/", "/guide"):
        pg.goto(f"{path}?lang=zh-Hant")
        pg.evaluate("document.fonts.ready.then(() => true)")
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        for sel in ("h1", "a.exit", "legend", ".field label", "footer a", "p"):
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": sel})["nodeId"]
            if not node:
                continue
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            latin = [f["familyName"] for f in fonts if f["familyName"] in ("DejaVu Sans", "Liberation Sans")]
            text = pg.locator(sel).first.inner_text()
            if any("\u4e00" <= ch <= "\u9fff" for ch in text):
                assert any(f["familyName"] == "Noto Sans TC" for f in fonts), (path, sel, fonts)
                assert (
                    not latin
                    or all(ord(ch) < 0x2E80 for ch in text if not ch.isspace())
                    or (
                        sum(f["glyphCount"] for f in fonts if f["familyName"] in latin)
                        <= sum(ch.isascii() for ch in text)
                    )
                ), (path, sel, fonts)
    ctx.close()


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_screenshots_of_every_page(browser: Any, portal: Service, lang: str, pdq_data: Path) -> None:
    """Desktop and phone (390 px) of each page, kept under .artefacts/portal for a person to look at;
    no page may scroll sideways on a phone."""
    out = ARTEFACTS
    out.mkdir(parents=True, exist_ok=True)
    for width, height, tag in ((1280, 900, "desktop"), (390, 844, "phone")):
        ctx = browser.new_context(base_url=portal.url, viewport={"width": width, "height": height})
        pg = ctx.new_page()
        for path in PAGES:
            pg.goto(f"{path}{'&' if '?' in path else '?'}lang={lang}")
            pg.wait_for_load_state("networkidle")
            name = path.strip("/").split("?")[0].replace("/", "_") or "home"
            pg.screenshot(path=str(out / f"{name}-{lang}-{tag}.png"), full_page=True)
            overflow = pg.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at {width} px"
        for name, show in _signed_in_pages(pg, pdq_data, lang):
            show()
            pg.screenshot(path=str(out / f"{name}-{lang}-{tag}.png"), full_page=True)
            overflow = pg.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} px"
        ctx.close()
