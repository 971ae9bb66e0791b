"""The one catalogue: every message in every language, placeholders that agree, one lookup."""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from takeback import i18n
from takeback.i18n import LANGS, negotiate, normalise, series, translate, translate_plural

PACKAGE = Path(i18n.__file__).parents[1]


def messages(lang: str) -> dict[str, tuple[str, ...]]:
    """key -> its text(s) (several for a message with plural forms)."""
    out: dict[str, tuple[str, ...]] = {}
    for m in i18n.catalog(lang):
        if not m.id:
            continue  # the header
        key = m.id[0] if isinstance(m.id, tuple) else m.id
        out[key] = tuple(m.string) if isinstance(m.string, tuple | list) else (m.string,)
    return out


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_key_is_in_every_language_with_text() -> None:
    keys = {lang: set(messages(lang)) for lang in LANGS}
    assert keys["en"] == keys["zh-Hant"], {
        lang: sorted(keys[lang] - keys[other]) for lang, other in (("en", "zh-Hant"), ("zh-Hant", "en"))
    }
    assert len(keys["en"]) > 200
    for lang in LANGS:
        empty = [k for k, texts in messages(lang).items() if not all(t for t in texts)]
        assert not empty, (lang, empty)


def test_placeholders_agree_between_languages() -> None:
    en, zh = messages("en"), messages("zh-Hant")
    bad = {}
    for key, texts in en.items():
        want = set().union(*(fields(t) for t in texts))
        got = set().union(*(fields(t) for t in zh[key]))
        # a plural's singular may leave out {n}; every other field must be in both languages
        if want - {"n"} != got - {"n"}:
            bad[key] = (sorted(want), sorted(got))
    assert not bad, bad


def test_plural_forms_follow_each_language() -> None:
    assert translate_plural("common.hours", 1, "en") == "1 hour"
    assert translate_plural("common.hours", 48, "en") == "48 hours"
    assert translate_plural("common.months", 12, "zh-Hant") == "12 個月"
    assert i18n.catalog("en").num_plurals == 2 and i18n.catalog("zh-Hant").num_plurals == 1


def test_a_missing_key_is_an_error_not_english() -> None:
    with pytest.raises(KeyError):
        translate("report.no_such_message", "zh-Hant")
    assert translate("report.case", "zh-Hant") == "個案"
    assert translate("report.subtitle", "en", case="C1", at="now") == "Case C1 · generated now"


def test_numbered_series_in_order() -> None:
    en = series("report.method", "en", threshold=31, loose=70, inliers=32)
    zh = series("report.method", "zh-Hant", threshold=31, loose=70, inliers=32)
    assert len(en) == len(zh) == 9
    assert en[0].startswith("Sources are read in place") and "≤ 31" in en[7]


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("zh-Hant", "zh-Hant"),
        ("zh_Hant", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-TW", "zh-Hant"),
        ("zh-MO", "zh-Hant"),
        ("zh-Hant-HK", "zh-Hant"),
        ("zh", "zh-Hant"),
        ("zh-Hans", "en"),
        ("zh-CN", "en"),
        ("en-GB", "en"),
        ("fr", "en"),
        (None, "en"),
    ],
)
def test_language_tags_normalise(tag: str | None, lang: str) -> None:
    assert normalise(tag) == lang


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-HK,zh;q=0.9,en;q=0.8", "zh-Hant"),
        ("en-US,en;q=0.9,zh-TW;q=0.8", "en"),
        ("fr-FR, zh-Hant;q=0.5", "zh-Hant"),
        ("zh-CN, en;q=0.1", "en"),
        ("en;q=0.2, zh-HK;q=0.7", "zh-Hant"),
        ("zh-HK;q=0, en", "en"),
        ("*", "en"),
        ("", "en"),
        ("zh-HK;q=abc, en;q=0.5", "en"),
    ],
)
def test_accept_language_negotiation(header: str, lang: str) -> None:
    assert negotiate(header) == lang


def test_no_surface_keeps_its_own_table() -> None:
    """Chinese text in code lives only in the catalogue, except the guidance content still built in code
    (pathway.py: what-to-collect steps, citations) and comments about line breaking."""
    allowed = {"guidance/pathway.py", "guidance/kb.py", "reports/linebreak.py"}
    found = sorted(
        str(p.relative_to(PACKAGE))
        for p in (PACKAGE).rglob("*.py")
        if any("\u4e00" <= ch <= "\u9fff" for ch in p.read_text(encoding="utf-8"))
    )
    assert set(found) <= allowed, set(found) - allowed
