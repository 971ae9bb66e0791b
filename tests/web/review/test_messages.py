"""Every error the review grid can show has words in both languages: the codes the review services
raise are read from their source, so a new code without a catalogue entry fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import takeback.triage.review as review_mod
import takeback.triage.reviewlog as reviewlog_mod
import takeback.web.review.routes as routes_mod
from takeback.errors import TakebackError
from takeback.i18n import has, translate
from takeback.web.review.routes import error_text

SOURCES = (review_mod, reviewlog_mod, routes_mod)


def _codes() -> set[str]:
    found: set[str] = set()
    for mod in SOURCES:
        text = Path(str(mod.__file__)).read_text(encoding="utf-8")
        found |= set(re.findall(r'code="([a-z_]+)"', text))
    return found


def test_the_sources_raise_codes() -> None:
    assert {"bad_cursor", "empty_selection", "note_too_long"} <= _codes()


@pytest.mark.parametrize("code", sorted(_codes()))
def test_each_review_error_has_both_languages(code: str) -> None:
    key = f"review.error.{code}"
    assert has(key), f"{key} is missing from the catalogue"
    exc = TakebackError("service text", code=code)
    en, zh = error_text(exc, "en"), error_text(exc, "zh-Hant")
    assert en != zh and en != translate("review.error.generic", "en")
    assert "service text" not in en + zh
    assert re.search(r"[\u4e00-\u9fff]", zh)


def test_an_unknown_code_gets_the_generic_words_not_the_service_text() -> None:
    exc = TakebackError("Internal detail nobody should read", code="never_heard_of_it")
    assert error_text(exc, "zh-Hant") == translate("review.error.generic", "zh-Hant")
