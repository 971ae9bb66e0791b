"""The 5-second reuse of a session's answer for GETs: it lapses with the clock, and is forgotten by
any other request."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from takeback import clock
from takeback.web.staffauth import REUSE_SECONDS, Reuse, reuse_of


def _request(app_state: Any, method: str) -> Any:
    return SimpleNamespace(method=method, app=SimpleNamespace(state=app_state))


def test_an_answer_lapses_after_the_reuse_window() -> None:
    with clock.frozen(datetime(2026, 6, 1, tzinfo=UTC)):
        r = Reuse()
        r.put(("session", b"x"), "answer")
        assert r.get(("session", b"x")) == "answer"
        clock.advance(REUSE_SECONDS - 0.5)
        assert r.get(("session", b"x")) == "answer"
        clock.advance(1)
        assert r.get(("session", b"x")) is None


def test_a_post_forgets_everything_reused_and_gets_no_store() -> None:
    state = SimpleNamespace()
    got = reuse_of(_request(state, "GET"))
    assert got is not None
    got.put(("scan", 1, 2), ("path", "label", True))
    assert reuse_of(_request(state, "POST")) is None
    again = reuse_of(_request(state, "GET"))
    assert again is got and again.get(("scan", 1, 2)) is None
