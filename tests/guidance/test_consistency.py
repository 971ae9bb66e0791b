"""Every guide page, read as the person it is for: no contradictions, no image-collection steps for
under-18s, steps that fit the facts, support first and the legal-information notice exactly once.

Walks every jurisdiction × victim age × facts × setting, in English and Traditional Chinese, and checks
the text, HTML and JSON outputs of each.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from itertools import combinations
from typing import Any

import pytest

from takeback.guidance.kb import NOT_A_CRIME, ActStatus, ChannelKind, Need, load_kb
from takeback.guidance.pathway import COLLECT, DISCLAIMER, Fact, Situation, build_pathway, parse_facts
from takeback.guidance.render import label, pathway_document, pathway_json
from takeback.guidance.situation import Setting, VictimAge
from takeback.reports import render_html
from takeback.reports.text import render_text

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACTS = ("created", "possessed", "shared", "threatened")
FACTS = [",".join(c) for n in range(1, 5) for c in combinations(ACTS, n)] + [
    "threatened,no-image",
    "created,not-shared",
    "shared,not-identifiable",
    "created,possessed,not-identifiable",
]
SETTINGS: list[Setting | None] = [None, *Setting]
LANGS = ("en", "zh-Hant")

#: what a page must never say about an under-18's images
NOT_A_CRIME_WORDS = {
    "en": (
        "not a crime",
        "no criminal offence",
        "not an offence",
        "not a federal offence",
        "no offence",
        "no federal offence",
        "only in some circumstances",
    ),
    "zh-Hant": ("不屬刑事罪行", "沒有刑事罪行", "沒有罪行", "並不構成", "並無管有", "只在某些情況下屬罪行"),
}
#: wordings of image-collection steps (besides the knowledge base's own tagged steps)
IMAGE_STEP_WORDS = {
    "en": ("Screenshots", "when you captured", "copy of each image", "captured first"),
    "zh-Hant": ("螢幕截圖", "截圖時間", "截圖的時間", "影像的副本", "先保存證據"),
}


def _all_needs() -> list[Need]:
    kb = load_kb()
    needs = list(COLLECT)
    for j in kb.jurisdictions.values():
        for ch in j.channels:
            needs.extend(ch.needs)
    for ch in kb.common.values():
        needs.extend(ch.needs)
    return needs


NEEDS = _all_needs()


def _outputs(p: Any) -> dict[str, str]:
    doc = pathway_document(p)
    return {
        "text": render_text(doc),
        "html": render_html(doc),
        "json": json.dumps(pathway_json(p), ensure_ascii=False),
    }


def _in(needle: str, fmt: str, out: str) -> bool:
    if fmt == "html":
        return html.escape(needle, quote=False) in out or html.escape(needle) in out
    if fmt == "json":
        return json.dumps(needle, ensure_ascii=False)[1:-1] in out
    return needle in " ".join(out.split()) or needle in out


def _flat(fmt: str, out: str) -> str:
    return " ".join(html.unescape(out).split()) if fmt == "html" else " ".join(out.split())


def check_page(code: str, age: VictimAge, facts: str, setting: Setting | None, lang: str) -> None:
    s = Situation(code, parse_facts(facts), age, setting, None)
    p = build_pathway(s, lang=lang, now=NOW)
    under_18 = age.under_18
    where = (code, age.value, facts, setting, lang)
    kb = load_kb()
    j = kb.get(code)

    # --- no contradiction between the act headings, the summary and the under-18 box --------------
    if under_18:
        assert not [a.act for a in p.acts if a.status in NOT_A_CRIME], where
        assert any(r.kind == ChannelKind.POLICE.value for r in p.routes), where  # "Report to the police"
        assert any(r.kind == ChannelKind.CHILD_PROTECTION.value for r in p.routes), where
        adult_only = {ch.id for ch in kb.channels_for(j) if ch.when.age == "adult"}
        assert not adult_only & {r.id for r in p.routes}, where
    if any(a.offence for a in p.acts):
        assert "no criminal offence" not in p.offence_summary and "沒有刑事罪行" not in p.offence_summary
    if "no criminal offence" in p.offence_summary or "沒有刑事罪行" in p.offence_summary:
        assert all(a.status is ActStatus.NO_OFFENCE for a in p.acts), where

    outs = _outputs(p)
    for fmt, out in outs.items():
        flat = _flat(fmt, out).casefold()
        at = (*where, fmt)
        if under_18:
            for word in NOT_A_CRIME_WORDS[lang]:
                assert word.casefold() not in flat, (at, word)
            # --- minors get no collect-the-image steps anywhere ----------------------------------
            for word in IMAGE_STEP_WORDS[lang]:
                assert word.casefold() not in flat, (at, word)
            for n in NEEDS:
                if n.saves_image or n.age == "adult":
                    assert not _in(n.get(lang), fmt, out), (at, n.en)
        else:
            for n in NEEDS:
                if n.age == "under_18":
                    assert not _in(n.get(lang), fmt, out), (at, n.en)
        # --- what to collect fits the facts ---------------------------------------------------------
        if Fact.SHARED not in s.facts:
            for n in NEEDS:
                if n.only_if == ["shared"]:
                    assert not _in(n.get(lang), fmt, out), (at, n.en)
        for ch in kb.channels_for(j):
            for c in ch.caveats:
                if c.settings is not None and (setting is None or setting.value not in c.settings):
                    assert not _in(c.text.get(lang), fmt, out), (at, c.text.en)
        # --- the legal-information notice exactly once ---------------------------------------------
        disclaimer = " ".join(DISCLAIMER.get(lang).split())
        if lang == "zh-Hant" and fmt == "text":  # wrapped anywhere: compare without line breaks
            assert out.replace("\n", "").count(disclaimer) == 1, at
        else:
            assert _flat(fmt, out).count(disclaimer) == 1, (at, _flat(fmt, out).count(disclaimer))
        short = "legal information, not legal advice" if lang == "en" else "並非法律意見"
        assert flat.count(short) == 1, (at, flat.count(short))

    # --- support first -------------------------------------------------------------------------------
    help_title = label("help_now", lang)
    text = outs["text"]
    first_block = next(x for x in text.splitlines()[1:] if x.strip())
    assert first_block == f"[i] {help_title}", where
    body = outs["html"].split("</h1>", 1)[1]
    assert body.index(help_title) < body.index(label("law", lang)), where
    if under_18:
        assert text.index(help_title) < text.index(label("under_18", lang)), where
        assert body.index(help_title) < body.index(label("under_18", lang)), where
    data = json.loads(outs["json"])
    keys = list(data)
    assert keys.index("support") < keys.index("child_notice") < keys.index("acts") < keys.index("routes")
    assert data["support"] or data["support_generic"], where
    if code == "HK":
        assert data["support"][0]["phone"] == "2375 5322", where
        assert text.index("2375 5322") < text.index(label("law", lang)), where


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("code", ["HK", "UK", "SG", "KR", "AU", "US", "EU"])
def test_every_page_is_consistent(code: str, lang: str) -> None:
    for age in VictimAge:
        for facts in FACTS:
            for setting in SETTINGS:
                check_page(code, age, facts, setting, lang)


@pytest.mark.parametrize("code", ["HK", "UK", "SG", "KR", "AU", "US", "EU"])
@pytest.mark.parametrize("act_date", [date(2020, 6, 1), date(2026, 3, 1)])
def test_a_minor_is_never_told_no_crime_covers_it_whatever_the_date(code: str, act_date: date) -> None:
    # an act before an offence came into force: the adult page may say so; an under-18's never says
    # "no criminal offence covers" it
    for lang in LANGS:
        for facts in FACTS:
            for age in (VictimAge.MINOR, VictimAge.WAS_MINOR):
                s = Situation(code, parse_facts(facts), age, Setting.SCHOOL, act_date)
                p = build_pathway(s, lang=lang, now=NOW)
                assert "no criminal offence" not in p.offence_summary, (code, facts, lang)
                assert "沒有刑事罪行" not in p.offence_summary, (code, facts, lang)


def test_hk_minor_created_only_is_the_child_pornography_offence() -> None:
    p = build_pathway(
        Situation("HK", parse_facts("created"), VictimAge.WAS_MINOR, Setting.UNIVERSITY), now=NOW
    )
    (create,) = p.acts
    assert (create.status, create.offence) == (ActStatus.OFFENCE, True)
    assert [r.id for r in create.rules] == ["hk-cap579"]
    assert "computer-generated" in create.note
    assert p.offence_summary == "In Hong Kong, creating it is a crime."
    text = " ".join(render_text(pathway_document(p)).split())
    assert "Creating it: Crime" in text and "Not a crime" not in text
    assert "no criminal offence covers" not in text
    # the source and the unconfirmed section numbers travel with it
    assert create.source.startswith("Prevention of Child Pornography Ordinance (Cap. 579)")
    assert "sections of Cap. 579" in " ".join(p.unconfirmed)
    # the police route says why, for a child
    police = next(r for r in p.routes if r.id == "hk-police")
    assert "Cap. 579" in police.why and "Screenshots" not in " ".join(police.needs)


def test_adult_pages_keep_their_steps() -> None:
    # the filters only take away what does not fit: an adult whose images were shared still gets them
    p = build_pathway(
        Situation("HK", parse_facts("shared,threatened"), VictimAge.ADULT, Setting.WORK), now=NOW
    )
    assert "Screenshots that include the URL" in p.collect
    police = next(r for r in p.routes if r.id == "hk-police")
    assert police.needs[0].startswith("Screenshots that show the URL")
    eoc = next(r for r in p.routes if r.id == "hk-eoc")
    assert any("workplace case" in c.text for c in eoc.caveats)
