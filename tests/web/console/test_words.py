"""Every refusal a case page can show reads in the page's language: each domain error code the
console's services raise has its message in both catalogues, and a too-long field names itself."""

from __future__ import annotations

import pytest

from takeback.cases.intake import IntakeError, parse_intake
from takeback.cases.service import TextTooLongError
from takeback.i18n import LANGS, has, translate
from takeback.web.console.cases import _field_problem, problem_text

CODES = [
    "too_long",
    "bad_text",
    "consent_required",
    "no_consent",
    "sharing_is_hers",
    "unknown_purpose",
    "referral_not_found",
    "takedown_not_found",
    "bad_time",
    "future_time",
    "bad_status",
    "bad_channel",
    "no_url",
    "bad_via",
    "unknown_clock",
    "not_shared",
    "case_deleted",
    "case_deleted_during_export",
    "unknown_jurisdiction",
    "bad_choice",
    "unknown_time_zone",
    "nonexistent_local_time",
    "ambiguous_local_time",
    "no_hashes",
    "unknown_submission",
    "unknown_entry",
    "no_facts",
    "contradictory_facts",
    "locker_needed",
]


def test_every_code_has_words_in_both_languages() -> None:
    missing = [c for c in CODES if not has(f"console.error.{c}")]
    assert not missing, missing


@pytest.mark.parametrize("lang", LANGS)
def test_a_too_long_field_names_itself_in_the_page_language(lang: str) -> None:
    text = problem_text(TextTooLongError("note", 50_000, 4000), lang)
    assert "50,000" in text and "4,000" in text
    assert translate("console.field.note", lang) in text


@pytest.mark.parametrize("lang", LANGS)
def test_intake_problems_name_the_field(lang: str) -> None:
    for fields in (
        {"jurisdiction": "XX"},
        {"jurisdiction": "HK", "timezone": "Mars/Base"},
        {"jurisdiction": "HK", "alias": "a" * 200},
    ):
        with pytest.raises(IntakeError) as err:
            parse_intake(**fields)  # type: ignore[arg-type]
        text = _field_problem(err.value, lang)
        assert text.startswith(translate(f"console.new.{err.value.field}", lang)), text
        if lang == "zh-Hant":
            assert not any(w in text for w in ("Unknown", "characters", "zone")), text
