"""The portal over real HTTP (no browser): pages, headers, the age gate, a whole submission, sign-in
and lockout, withdrawal, receipts, the evidence log, sealed files, and bad input. The browser's own
part (hashing, quick exit, axe) is in test_browser.py."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from takeback.cases.models import Case
from takeback.evidence.receipts import verify_receipt
from tests.web.conftest import Service

PAGES = ["/", "/start", "/under-18", "/submit", "/guide", "/verify", "/safety", "/case"]


def _token(html: str) -> str:
    m = re.search(r'name="token" value="([^"]+)"', html)
    assert m, "no form token on the page"
    return m.group(1)


def _photo(seed: int) -> dict[str, Any]:
    data = f"photo {seed}".encode() * 10
    return {
        "kind": "photo",
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
        "pdq": hashlib.sha256(b"pdq" + data).hexdigest(),
        "pdq_quality": 90,
        "size": len(data),
    }


def _submit(c: httpx.Client, files: list[dict[str, Any]], **extra: str) -> httpx.Response:
    token = _token(c.get("/submit").text)
    form = {"token": token, "lang": "en", "adult": "yes", "files": json.dumps(files), **extra}
    return c.post("/submit", data=form)


def _opened(r: httpx.Response) -> tuple[str, str]:
    assert r.status_code == 200, r.text
    ref = re.search(r"<code>(TB-[0-9A-Z]{4}-[0-9A-Z]{4})</code>", r.text)
    pin = re.search(r"<code>(\d{4} \d{4})</code>", r.text)
    assert ref and pin
    return ref.group(1), pin.group(1).replace(" ", "")


def _cases(service: Service) -> int:
    with service.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Case)) or 0)


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_public_pages_answer_with_strict_headers_and_no_cookie(service: Service, lang: str) -> None:
    c = service.client()
    for path in PAGES:
        r = c.get(path, params={"lang": lang})
        assert r.status_code == 200, (path, r.status_code)
        assert 'lang="{}"'.format("en" if lang == "en" else "zh-Hant-HK") in r.text
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        # WebAssembly compilation for the hashing worker (hashes.wasm), never JavaScript eval
        assert "script-src 'self' 'wasm-unsafe-eval';" in csp
        assert "'unsafe-eval'" not in csp.replace("'wasm-unsafe-eval'", "")
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store"
        assert "set-cookie" not in r.headers
        assert (
            "<script>" not in r.text
            and " style=" not in r.text
            and "http://" not in r.text.replace(service.url, "")
        )
    # the hashing worker is served under the same policy (a worker's own response sets its CSP), and
    # the WebAssembly module it fetches is served whole, as application/wasm
    worker = c.get("/assets/js/hash-worker.js")
    assert worker.status_code == 200 and "'wasm-unsafe-eval'" in worker.headers["content-security-policy"]
    module = c.get("/assets/js/hashes.wasm")
    assert module.status_code == 200 and module.headers["content-type"] == "application/wasm"
    assert module.content[:4] == b"\x00asm"
    # the API keeps its own answers: no portal headers on the matching routes
    assert "content-security-policy" not in c.get("/status").headers


def test_pages_need_no_key_but_the_api_still_does(service: Service) -> None:
    c = service.client()
    assert c.get("/").status_code == 200
    assert c.get("/c/banks").status_code == 401


def test_under_18_routes_to_child_protection_and_stores_nothing(service: Service) -> None:
    c = service.client()
    before = _cases(service)
    for answer in ("minor", "unsure"):
        r = c.post("/start", data={"token": _token(c.get("/start").text), "lang": "en", "age": answer})
        assert r.status_code == 303 and r.headers["location"].startswith("/under-18")
        page = c.get(r.headers["location"])
        assert page.status_code == 200
        assert 'type="file"' not in page.text and 'action="/submit"' not in page.text
        assert "child" in page.text.lower() or "police" in page.text.lower()
        # nothing on it may say something is kept: here nothing is (the guide's child notice did)
        assert "keeps fingerprints" not in page.text and "Do not save, copy, forward" in page.text
    zh = c.get("/under-18", params={"lang": "zh-Hant"}).text
    assert "只會保留影像的「指紋」" not in zh and "切勿儲存" in zh and "web</dt>" not in zh
    adult = c.post("/start", data={"token": _token(c.get("/start").text), "lang": "en", "age": "adult"})
    assert adult.headers["location"].startswith("/submit")
    assert _cases(service) == before


def test_submission_gives_case_and_pin_once_and_blocks_until_withdrawn(
    service: Service, tmp_path: Path
) -> None:
    web = service.client()
    lookup = service.client(service.admin)
    f = _photo(1)
    r = _submit(web, [f, _photo(2)], consent_block="yes", jurisdiction="HK")
    ref, pin = _opened(r)
    assert "set-cookie" not in r.headers
    hit = lookup.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": f["pdq"]}).json()
    assert hit["matches"], hit

    # sign in: the one cookie, HttpOnly and SameSite=Strict, only on /case
    signed = service.client()
    r = signed.post(
        "/case", data={"token": _token(signed.get("/case").text), "reference": ref.lower(), "pin": pin}
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/case" in cookie
    view = signed.get("/case/view")
    assert view.status_code == 200 and ref in view.text and pin not in view.text
    assert f["sha256"][:16] in view.text

    # a receipt for the first file verifies against it with the CLI's check
    sub_id = re.search(r'name="submission" value="(\d+)"', view.text)
    assert sub_id
    rec = signed.post("/case/receipt", data={"token": _token(view.text), "submission": sub_id.group(1)})
    assert rec.status_code == 200 and "attachment" in rec.headers["content-disposition"]
    original = tmp_path / "p1.jpg"
    original.write_bytes(f"photo {1}".encode() * 10)
    assert verify_receipt(rec.content, original).ok
    changed = tmp_path / "p1b.jpg"
    changed.write_bytes(original.read_bytes()[:-1] + b"X")
    assert not verify_receipt(rec.content, changed).ok

    # withdraw everything: a lookup of the same hash no longer matches
    view = signed.get("/case/view")
    w = signed.post("/case/withdraw", data={"token": _token(view.text)})
    assert w.status_code == 303
    assert (
        lookup.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": f["pdq"]}).json()["matches"] == []
    )
    assert "withdrawn" in signed.get("/case/view").text.lower()


def test_without_block_consent_the_hashes_are_not_banked(service: Service) -> None:
    f = _photo(3)
    _opened(_submit(service.client(), [f]))
    hit = service.client(service.admin).get(
        "/m/raw_lookup", params={"signal_type": "pdq", "signal": f["pdq"]}
    )
    assert hit.json()["matches"] == []


def test_forms_refuse_a_forged_expired_or_replayed_token(service: Service) -> None:
    c = service.client()
    before = _cases(service)
    token = _token(c.get("/submit").text)
    form = {"token": token, "adult": "yes", "files": json.dumps([_photo(4)]), "consent_block": "yes"}
    first = c.post("/submit", data=form)
    _opened(first)
    again = c.post("/submit", data=form)  # the same form sent twice
    assert again.status_code == 400 and "already sent" in again.text
    forged = c.post("/submit", data={**form, "token": token[:-2] + "00"})
    assert forged.status_code == 400
    nonce, issued, _mac = token.split(".")
    stale = c.post("/submit", data={**form, "token": f"{nonce}.{int(issued) - 3 * 3600}.{_mac}"})
    assert stale.status_code == 400
    assert _cases(service) == before + 1


@pytest.mark.parametrize(
    "files, words",
    [
        ([{**_photo(5), "sha256": "zz" * 32}], "sha256"),
        ([{**_photo(5), "pdq": "00"}], "pdq"),
        # over the service's body limit (413, said in words) or the portal's file limit (400)
        ([_photo(i) for i in range(10_000)], "(over the limit|At most)"),
        ("not a list", "No files"),
    ],
)
def test_bad_hashes_posted_directly_are_refused_with_a_reason(
    service: Service, files: Any, words: str
) -> None:
    before = _cases(service)
    r = _submit(service.client(), files)
    assert r.status_code in (400, 413), r.status_code
    assert re.search(words, r.text), r.text[:300]
    assert _cases(service) == before


def test_wrong_pin_ten_times_locks_and_unknown_case_reads_the_same(service: Service) -> None:
    ref, pin = _opened(_submit(service.client(), [_photo(6)]))
    c = service.client()

    def sign_in(reference: str, p: str) -> httpx.Response:
        return c.post("/case", data={"token": _token(c.get("/case").text), "reference": reference, "pin": p})

    wrong = "12345678" if pin != "12345678" else "87654321"
    a, b = sign_in("TB-ZZZZ-ZZZZ", wrong), sign_in(ref, wrong)
    assert a.status_code == b.status_code == 401
    msg = re.compile(r'role="alert">.*?</div>', re.S)
    assert msg.search(a.text).group(0) == msg.search(b.text).group(0)  # type: ignore[union-attr]
    codes = [sign_in(ref, wrong).status_code for _ in range(9)]
    assert codes[-1] == 429
    assert sign_in(ref, pin).status_code == 429  # locked: even the right PIN
    assert "set-cookie" not in sign_in(ref, pin).headers


def test_case_pages_need_the_cookie(service: Service) -> None:
    c = service.client()
    for path in ("/case/view", "/case/timeline.pdf", "/case/sealed/1"):
        assert c.get(path).status_code == 401
    assert c.post("/case/withdraw", data={"token": "x"}).status_code == 401


def _signed_in(service: Service) -> tuple[httpx.Client, str]:
    ref, pin = _opened(_submit(service.client(), [_photo(7)], consent_block="yes"))
    c = service.client()
    assert (
        c.post("/case", data={"token": _token(c.get("/case").text), "reference": ref, "pin": pin}).status_code
        == 303
    )
    return c, ref


def test_evidence_log_and_timeline(service: Service) -> None:
    c, ref = _signed_in(service)
    view = c.get("/case/view")
    r = c.post(
        "/case/log",
        data={
            "token": _token(view.text),
            "kind": "sighting",
            "happened_on": "2026-11-20",
            "platform": "<b>ExampleTube</b>",
            "url": "https://example.test/v/1",
            "details": "posted by a stranger",
        },
    )
    assert r.status_code == 303
    page = c.get("/case/view").text
    assert "&lt;b&gt;ExampleTube&lt;/b&gt;" in page and "<b>ExampleTube" not in page  # escaped
    pdf = c.get("/case/timeline.pdf", params={"lang": "zh-Hant"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    html = c.get("/case/timeline.html")
    assert ref in html.text and "example.test/v/1" in html.text


def test_sealed_evidence_is_stored_as_sent_and_weak_keys_refused(service: Service) -> None:
    c, _ = _signed_in(service)
    token = _token(c.get("/case/view").text)
    params = {
        "alg": "AES-GCM",
        "kdf": "PBKDF2",
        "hash": "SHA-256",
        "iterations": 600_000,
        "salt": "ab" * 16,
        "iv": "cd" * 12,
    }
    blob = bytes(range(256)) * 4
    r = c.post(
        "/case/sealed", content=blob, headers={"x-form-token": token, "x-sealed-params": json.dumps(params)}
    )
    assert r.status_code == 200, r.text
    got = c.get(f"/case/sealed/{r.json()['id']}")
    assert got.content == blob
    weak = c.post(
        "/case/sealed",
        content=blob,
        headers={
            "x-form-token": r.json()["token"],
            "x-sealed-params": json.dumps({**params, "iterations": 1000}),
        },
    )
    assert weak.status_code == 400 and "600,000" in weak.json()["message"]
    replay = c.post(
        "/case/sealed", content=blob, headers={"x-form-token": token, "x-sealed-params": json.dumps(params)}
    )
    assert replay.status_code == 400


def test_guide_shows_help_first_and_the_notice_once(service: Service) -> None:
    c = service.client()
    r = c.get(
        "/guide", params={"j": "HK", "facts": ["created", "shared"], "date": "2026-11-01", "lang": "en"}
    )
    assert r.status_code == 200
    text = r.text
    assert text.index("help") < text.index("Routes") if "Routes" in text else True
    assert text.count("not legal advice") == 1
    bad = c.get("/guide", params={"j": "HK", "lang": "en"})
    assert bad.status_code == 400


def test_sharing_with_a_caseworker_is_her_choice_at_submission_and_after(service: Service) -> None:
    from takeback.cases import service as cases
    from takeback.portal import casework

    def shared(ref: str) -> bool:
        with service.db.session() as s:
            return casework.open_to_staff(s, case=cases.get_case(s, reference=ref))

    ref, _ = _opened(_submit(service.client(), [_photo(11)], consent_share="yes"))
    assert shared(ref)
    c, ref = _signed_in(service)  # submitted without sharing
    assert not shared(ref)
    view = c.get("/case/view")
    assert "No caseworker can open it" in view.text and 'name="share" value="yes"' in view.text
    r = c.post("/case/sharing", data={"token": _token(view.text), "share": "yes"})
    assert r.status_code == 303 and "notice=shared" in r.headers["location"]
    assert shared(ref)
    view = c.get(r.headers["location"])
    assert "Tell the caseworker your case number" in view.text and 'name="share" value="no"' in view.text
    # stopping closes it to every caseworker at once
    r = c.post("/case/sharing", data={"token": _token(view.text), "share": "no"})
    assert r.status_code == 303 and "notice=unshared" in r.headers["location"]
    assert not shared(ref)
    zh = c.get("/case/view", params={"lang": "zh-Hant"}).text
    assert "與社工分享" in zh
    # the form's token is spent: the same post again changes nothing
    again = c.post("/case/sharing", data={"token": _token(view.text), "share": "yes"})
    assert again.status_code == 400 and not shared(ref)
