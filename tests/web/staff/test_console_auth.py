"""The console's sign-in over HTTP: password + TOTP at a frozen time, replayed codes, lockout,
CSRF on every form, idle expiry, deactivation, enrolment by link with a QR code made here,
roles, the admin page making an account, and HTML typed into fields shown as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from takeback import clock
from takeback.staff import totp
from takeback.staff.models import StaffRole
from takeback.store import AuditEvent
from tests.web.conftest import Service
from tests.web.staff.conftest import PASSWORD, csrf_of, form_token, fresh_step, login, make_account

T0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)


def _post_login(svc: Service, handle: str, password: str, code: str) -> httpx.Response:
    c = httpx.Client(base_url=svc.url, follow_redirects=False, timeout=30)
    svc.clients.append(c)
    page = c.get("/console/login")
    return c.post(
        "/console/login",
        data={"token": form_token(page.text), "handle": handle, "password": password, "code": code},
    )


def _actions(svc: Service, handle: str) -> list[str]:
    with svc.db.session() as s:
        q = select(AuditEvent.action).where(AuditEvent.object_id == handle).order_by(AuditEvent.id)
        return list(s.scalars(q))


def test_sign_in_replay_lockout_and_roles(staff_web: Service) -> None:
    with clock.frozen(T0):
        mei = make_account(staff_web, "mei", StaffRole.CASEWORKER)
        client = login(staff_web, mei)
        r = client.get("/console")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/cases")
        cookie = next(c for c in client.cookies.jar if c.name == "tb_staff")
        assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
        # a caseworker is not an admin
        assert client.get("/console/admin/users").status_code == 403
        # the code just used is refused a second time, with the one message
        again = _post_login(staff_web, "mei", PASSWORD, mei.code())
        assert again.status_code == 401 and "not right" in again.text
        fresh_step()
        wrong = _post_login(staff_web, "mei", "wrong password!!", mei.code())
        nobody = _post_login(staff_web, "nobody", PASSWORD, mei.code())
        assert wrong.status_code == nobody.status_code == 401
        assert re.sub(r'value="[^"]*"', "", wrong.text).replace("mei", "") == re.sub(
            r'value="[^"]*"', "", nobody.text
        ).replace("nobody", "")
        for _ in range(3):
            _post_login(staff_web, "mei", "wrong password!!", mei.code())
        locked = _post_login(staff_web, "mei", PASSWORD, mei.code())
        assert locked.status_code == 403 and "15 minutes" in locked.text
        assert "staff.sign_in_failed" in _actions(staff_web, "mei")
        assert _actions(staff_web, "nobody") == []


def test_csrf_idle_expiry_and_deactivation(staff_web: Service) -> None:
    with clock.frozen(T0):
        admin = make_account(staff_web, "root-admin", StaffRole.ADMIN)
        lam = make_account(staff_web, "lam", StaffRole.CASEWORKER)
        a = login(staff_web, admin)
        page = a.get("/console/admin/users")
        assert page.status_code == 200 and "lam" in page.text
        # a form without the session's CSRF token changes nothing
        forged = a.post("/console/admin/users/lam/deactivate", data={"csrf": "x" * 32})
        assert forged.status_code == 403
        bare = a.post("/console/admin/users/lam/deactivate", data={})
        assert bare.status_code == 403
        lam_client = login(staff_web, lam)
        assert lam_client.get("/console").status_code == 303
        ok = a.post("/console/admin/users/lam/deactivate", data={"csrf": csrf_of(page.text)})
        assert ok.status_code == 200 and "deactivated" in ok.text
        # her open session ends, and she cannot sign in again
        r = lam_client.get("/console")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        fresh_step()
        assert _post_login(staff_web, "lam", PASSWORD, lam.code()).status_code == 401
        # idle expiry: 15 minutes without a request
        clock.advance(16 * 60)
        r = a.get("/console/admin/users")
        assert r.status_code == 303 and "next=%2Fconsole%2Fadmin%2Fusers" in r.headers["location"]


def test_enrolment_by_link_from_the_admin_page(staff_web: Service) -> None:
    with clock.frozen(T0):
        admin = make_account(staff_web, "admin2", StaffRole.ADMIN)
        a = login(staff_web, admin)
        page = a.get("/console/admin/users?lang=zh-Hant")
        made = a.post(
            "/console/admin/users",
            data={"csrf": csrf_of(page.text), "handle": "wing", "role": "investigator", "lang": "zh-Hant"},
        )
        assert made.status_code == 200 and "設定連結" in made.text
        link = re.search(r"(/console/enrol/[A-Za-z0-9_-]+)", made.text)
        assert link
        fresh = httpx.Client(base_url=staff_web.url, follow_redirects=False, timeout=30)
        staff_web.clients.append(fresh)
        enrol = fresh.get(link.group(1))
        assert enrol.status_code == 200 and "<svg" in enrol.text
        seed_text = re.search(r'<code class="seed">([A-Z2-7]+)</code>', enrol.text)
        assert seed_text
        seed = totp.from_base32(seed_text.group(1))
        code = totp.code_at(seed, totp.step_at(clock.now_seconds()))
        weak = fresh.post(link.group(1), data={"password": "short", "code": code})
        assert weak.status_code == 400
        done = fresh.post(link.group(1), data={"password": PASSWORD, "code": code})
        assert done.status_code == 303
        assert fresh.get(link.group(1)).status_code == 404  # used once
        fresh_step()
        ok = _post_login(staff_web, "wing", PASSWORD, totp.code_at(seed, totp.step_at(clock.now_seconds())))
        assert ok.status_code == 303 and ok.headers["location"].startswith("/review")
        # HTML typed as a handle is refused and shown as text, never markup
        page = a.get("/console/admin/users")
        bad = a.post(
            "/console/admin/users", data={"csrf": csrf_of(page.text), "handle": "<b>x</b>", "role": "admin"}
        )
        assert bad.status_code == 400 and "<b>x</b>" not in bad.text


def test_pages_without_a_session(staff_web: Service) -> None:
    c = httpx.Client(base_url=staff_web.url, follow_redirects=False, timeout=30)
    staff_web.clients.append(c)
    for path in ["/console", "/console/admin/users", "/console/assign"]:
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next="), path
    assert c.post("/console/admin/users", data={"handle": "x", "role": "admin"}).status_code == 403
    login_page = c.get("/console/login?next=https://evil.example/")
    assert 'value="/console"' in login_page.text  # only our own paths are followed after sign-in
    # the staff pages run no WebAssembly: their policy leaves out what the portal's hashing needs
    for path in ("/console/login", "/staff-assets/console.css"):
        csp = c.get(path).headers["content-security-policy"]
        assert "script-src 'self';" in csp and "wasm" not in csp and "frame-ancestors 'none'" in csp, path
    assert c.get("/console/nothing-here").status_code == 404
    assert "text/html" in c.get("/console/nothing-here").headers["content-type"]
