"""Guidance as a person reads it: terminal text, HTML and PDF in English and Traditional Chinese."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime

import pypdf

from takeback.guidance.pathway import Situation, build_pathway, parse_facts
from takeback.guidance.render import pathway_document, pathway_json
from takeback.guidance.situation import Setting, VictimAge
from takeback.reports import Document, Notice, Paragraph, Table, pdf_bytes, render_html
from takeback.reports.text import render_text
from tests import pdftools

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def doc(lang: str, age: VictimAge = VictimAge.ADULT) -> Document:
    s = Situation("HK", parse_facts("created,shared"), age, Setting.UNIVERSITY, date(2026, 3, 1))
    return pathway_document(build_pathway(s, lang=lang, now=NOW))


def pdf_text(data: bytes) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages]


def test_english_pdf_says_not_advice_on_every_page_and_flags_unconfirmed() -> None:
    pages = pdf_text(pdf_bytes(doc("en")))
    assert len(pages) >= 2
    for text in pages:
        assert "This is legal information, not legal advice." in " ".join(text.split())
    full = " ".join(" ".join(pages).split())
    assert "Creating it: Not a crime" in full
    assert "Sharing or publishing it: Crime" in full
    assert "UNCONFIRMED" in full
    assert "Equal Opportunities Commission" in full


def test_traditional_chinese_pdf_embeds_its_fonts_and_extracts_as_chinese() -> None:
    data = pdf_bytes(doc("zh-Hant"))
    pdftools.assert_fonts_embedded(data)
    pages = pdftools.text(data).split("\f")[:-1]
    for text in pages:
        assert "以上為法律資訊，並非法律意見。" in text.replace("\n", "")
    full = "".join(pages).replace("\n", "")
    for phrase in (
        "你的選擇：香港",
        "平等機會委員會",
        "個人資料私隱專員公署",
        "未經證實",
        "製作：不屬刑事罪行",
    ):
        assert phrase in full


def test_help_now_then_the_under_18_notice_come_before_everything_else() -> None:
    d = doc("en", VictimAge.MINOR)
    assert isinstance(d.blocks[0], Notice) and d.blocks[0].title == "Where to get help now"
    assert "RainLily Sexual Violence Helpline: 2375 5322" in d.blocks[0].body[0]
    assert isinstance(d.blocks[1], Notice) and d.blocks[1].tone == "danger"
    text = render_text(d)
    assert text.index("Where to get help now") < text.index("Under 18: read this first")
    assert text.index("Under 18: read this first") < text.index("What the law says")
    html = render_html(d)
    assert html.index("Where to get help now") < html.index("Under 18") < html.index("What the law says")


def test_html_is_self_contained_escaped_and_declares_its_language() -> None:
    d = Document(title="<script>x</script>", lang="zh-Hant", footer="免責")
    d.add(Paragraph("a & b <b>"), Table(["h"], [["<i>"]], mono=frozenset({0})))
    html = render_html(d)
    assert '<html lang="zh-Hant">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "a &amp; b &lt;b&gt;" in html
    assert "http" not in html.split("<body>")[0].lower().replace("http-equiv", "")  # no external resources


def test_terminal_text_wraps_chinese_by_display_width() -> None:
    text = render_text(doc("zh-Hant"), width=60)
    for line in text.splitlines():
        width = sum(2 if ord(c) > 0x2E80 else 1 for c in line)
        assert width <= 62, line


def test_json_is_complete_and_marks_itself_as_not_advice() -> None:
    s = Situation("US", parse_facts("shared"), VictimAge.ADULT, None, None)
    data = pathway_json(build_pathway(s, now=NOW))
    assert data["not_legal_advice"] is True
    assert json.loads(json.dumps(data)) == data
    route = next(r for r in data["routes"] if r["id"] == "us-platform-tida")
    assert route["deadlines"][0]["duration"] == "48 hours"
    assert re.match(r"\d{4}-\d{2}-\d{2}", route["last_reviewed"])
