"""Staff fixtures: a running service, accounts made through the staff service with the server's own
installation key, and signing in over HTTP (httpx) or in Chromium (Playwright) with the code an
authenticator app would show at the (usually frozen) clock's time.

Signing in spends the current TOTP step (a code is good once), so ``login`` moves a frozen clock on
one step first when the account already used this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeback import clock
from takeback.config import installation_secret
from takeback.staff import service as staffs
from takeback.staff import totp
from takeback.staff.models import StaffRole
from tests.web.conftest import Service, running_service

PASSWORD = "a long staff pass phrase"


@dataclass
class Account:
    handle: str
    role: StaffRole
    seed: bytes
    password: str = PASSWORD

    def code(self) -> str:
        return totp.code_at(self.seed, totp.step_at(clock.now_seconds()))


def staff_key(svc: Service) -> bytes:
    return installation_secret(svc.settings.ensure_data_dir(), staffs.SECRET_NAME)


def make_account(svc: Service, handle: str, role: StaffRole | str) -> Account:
    """An enrolled account (created and enrolled through the service, as the pages would)."""
    key = staff_key(svc)
    with svc.db.session() as s:
        _, token = staffs.create_user(s, handle=handle, role=role, key=key, actor="test-admin")
    with svc.db.session() as s:
        seed = totp.from_base32(staffs.enrolment(s, token=token, key=key).secret_text)
        staffs.complete_enrolment(
            s,
            token=token,
            password=PASSWORD,
            code=totp.code_at(seed, totp.step_at(clock.now_seconds())),
            key=key,
        )
    return Account(handle=handle, role=StaffRole(role), seed=seed)


def fresh_step() -> None:
    """Move a frozen clock to the next TOTP step (each sign-in spends one)."""
    if clock.is_frozen():
        clock.advance(totp.STEP_SECONDS)


def form_token(html: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', html)
    assert found, "no form token on the page"
    return found.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(svc: Service, account: Account, **client_kw: Any) -> httpx.Client:
    """An httpx client signed in as ``account`` (cookie jar), following no redirects."""
    fresh_step()
    client = httpx.Client(base_url=svc.url, follow_redirects=False, timeout=30, **client_kw)
    svc.clients.append(client)
    page = client.get("/console/login")
    r = client.post(
        "/console/login",
        data={
            "token": form_token(page.text),
            "handle": account.handle,
            "password": account.password,
            "code": account.code(),
            "next": "/console",
        },
    )
    assert r.status_code == 303, r.text[:500]
    return client


def browser_login(page: Any, account: Account, *, lang: str = "en") -> None:
    """Sign in through the real page in Chromium."""
    fresh_step()
    page.goto(f"/console/login?lang={lang}")
    page.fill("#handle", account.handle)
    page.fill("#password", account.password)
    page.fill("#code", account.code())
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def staff_web(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path, _pg_template: Any
) -> Iterator[Service]:
    with running_service("sqlite", tmp_path_factory.mktemp("staff"), _sqlite_template, _pg_template) as svc:
        yield svc
