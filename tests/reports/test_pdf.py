"""The PDF renderer: embedded fonts in every language, Chinese line breaking on the page, and the
layout every document relies on (tables, headings, notices, bullets, images, footers)."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, date, datetime

import numpy as np
import pypdf
import pytest
from PIL import Image as PILImage

from takeback.guidance.pathway import Situation, build_pathway, parse_facts
from takeback.guidance.render import pathway_document
from takeback.guidance.situation import Setting, VictimAge
from takeback.reports import Bullets, Document, Heading, Image, KeyValues, Notice, Paragraph, Table, pdf_bytes
from takeback.reports.pdf import FONTS, font_path, unsupported_characters
from tests import pdftools

NOW = datetime(2026, 11, 26, tzinfo=UTC)
FOOTER = "以上為法律資訊，並非法律意見。"


def guide(lang: str, jurisdiction: str = "HK", age: VictimAge = VictimAge.ADULT) -> Document:
    s = Situation(
        jurisdiction, parse_facts("created,shared,threatened"), age, Setting.UNIVERSITY, date(2026, 3, 1)
    )
    return pathway_document(build_pathway(s, lang=lang, now=NOW))


def pages(pdf: bytes) -> list[str]:
    return pdftools.text(pdf).split("\f")[:-1]


def test_fonts_ship_with_the_install_and_are_ofl() -> None:
    for key, f in FONTS.items():
        assert font_path(key).stat().st_size > 50_000 and f.licence == "OFL-1.1"


@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_every_font_is_embedded_and_subset_in_both_languages(lang: str) -> None:
    pdf = pdf_bytes(guide(lang))
    rows = pdftools.assert_fonts_embedded(pdf)
    assert all(r["sub"] == "yes" and r["uni"] == "yes" for r in rows)
    names = {r["name"].split("+", 1)[1] for r in rows}
    assert "SourceSansPro" in names and "SourceSansProBold" in names
    assert ("NotoSansTC" in names) == (lang == "zh-Hant")  # English never carries the Chinese font
    assert len(pdf) < (250_000 if lang == "zh-Hant" else 60_000)  # subsets, not 5.7 MB of font


def test_numbers_and_dates_are_never_split_on_the_page() -> None:
    # the same sentence behind 0..59 characters of Chinese: every break position is tried
    doc = Document(title="斷行", lang="zh-Hant")
    for k in range(60):
        doc.add(
            Paragraph(
                "測" * k + "受害人可申索港幣1,000,000元，期限至2026-06-30，網址 https://www.pcpd.org.hk 。"
            )
        )
    pdf = pdf_bytes(doc)
    lines = pdftools.text(pdf).splitlines()
    assert sum("1,000,000元" in ln for ln in lines) == 60
    assert sum("2026-06-30" in ln for ln in lines) == 60
    assert sum("https://www.pcpd.org.hk" in ln for ln in lines) == 60
    pdftools.assert_no_line_starts_with_closing_punctuation(pdf)


def test_latin_inside_chinese_is_set_in_the_latin_font() -> None:
    doc = Document(title="證據包", lang="zh-Hant")
    doc.add(Paragraph("可使用以下指令核實此證據包：takeback evidence verify BUNDLE.zip。"))
    pdf = pdf_bytes(doc)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    content = reader.pages[0].get_contents()
    assert content is not None
    ops = content.get_data().decode("latin-1")
    fonts = reader.pages[0]["/Resources"]["/Font"]
    latin = next(k for k, v in fonts.items() if "SourceSansPro" in str(v.get_object()["/BaseFont"]))
    cjk = next(k for k, v in fonts.items() if "NotoSansTC" in str(v.get_object()["/BaseFont"]))
    assert f"{latin} " in ops and f"{cjk} " in ops
    assert "takeback evidence verify BUNDLE.zip" in pdftools.text(pdf)


def test_chinese_headings_and_text_are_drawn() -> None:
    pdftools.assert_chinese_glyphs_drawn(pdf_bytes(guide("zh-Hant")), page=1, min_words=5)


def test_table_header_repeats_and_footer_is_on_every_page() -> None:
    doc = Document(title="表", lang="zh-Hant", footer=FOOTER)
    rows = [
        [str(i), f"項目{i}", "9eecb85b09d04250075ad783d7eaa8d456df5c8aa7a4a5260f2c09b328d4571c"]
        for i in range(150)
    ]
    doc.add(Table(["編號", "欄位名稱", "SHA-256"], rows, widths=[1, 3, 4], mono=frozenset({2})))
    pdf = pdf_bytes(doc)
    texts = pages(pdf)
    assert len(texts) >= 3
    for n, page in enumerate(texts, 1):
        assert "欄位名稱" in page and "SHA-256" in page, n
        assert pdftools.squeeze(FOOTER) + str(n) in pdftools.squeeze(page), n
    flat = pdftools.squeeze("".join(texts))
    assert all(f"項目{i}" in flat for i in range(150))
    assert flat.count(rows[0][2]) == 150  # every hash whole, wrapped inside its column


def test_a_notice_stays_on_one_page_and_a_heading_with_what_follows() -> None:
    doc = Document(title="Layout", lang="en")
    for i in range(12):
        doc.add(
            Heading(f"Section {i:02d}"), Paragraph(f"Opening of section {i:02d}. " + "Filler text. " * 40)
        )
        doc.add(
            Notice(
                f"Notice {i:02d}", [f"First of notice {i:02d}. " + "More. " * 30, f"Last of notice {i:02d}."]
            )
        )
    texts = [pdftools.squeeze(p) for p in pages(pdf_bytes(doc))]
    assert len(texts) >= 3
    for i in range(12):
        (page,) = [p for p in texts if f"Section{i:02d}" in p]
        assert f"Openingofsection{i:02d}" in page  # a heading is never the last line of a page
        (box,) = [p for p in texts if f"Notice{i:02d}" in p]
        assert f"Lastofnotice{i:02d}" in box  # the whole notice on the page where it starts


def test_bullets_key_values_and_images() -> None:
    rng = np.random.default_rng(1)
    pngs = []
    for _ in range(2):
        buf = io.BytesIO()
        PILImage.fromarray(rng.integers(0, 255, (60, 90), dtype=np.uint8)).save(buf, "PNG")
        pngs.append(buf.getvalue())
    doc = Document(title="Blocks", lang="zh-Hant")
    doc.add(Bullets(["第一項", "second item"]), KeyValues([("參考編號", "TB-KNG-48T2R")]))
    doc.add(Image(pngs[0], caption="縮圖已模糊", width_mm=30), Image(pngs[1], width_mm=300))
    pdf = pdf_bytes(doc)
    text = pdftools.text(pdf)
    assert "•" in text and "第一項" in text and "second item" in text
    assert "參考編號" in text and "TB-KNG-48T2R" in text and "縮圖已模糊" in text
    (page,) = pypdf.PdfReader(io.BytesIO(pdf)).pages
    assert len(page.images) == 2
    img = pdftools.render(pdf, 1, dpi=40)
    assert (img < 200).mean() > 0.05  # the images are drawn (noise, mostly mid-grey)


def test_the_same_document_gives_the_same_bytes() -> None:
    assert pdf_bytes(guide("zh-Hant")) == pdf_bytes(guide("zh-Hant"))


def test_a_character_no_font_has_prints_a_mark_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    doc = Document(title="檔案 😀.jpg", lang="zh-Hant").add(Paragraph("zero\u200bwidth and e\u0301"))
    assert unsupported_characters(doc) == {"😀"}
    with caplog.at_level(logging.DEBUG):
        pdf = pdf_bytes(doc)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no file-name characters in logs
    text = pdftools.text(pdf)
    assert "檔案 ?.jpg" in text and "zerowidth and é" in text


def test_every_guidance_text_has_glyphs() -> None:
    chars: set[str] = set()
    for j in ("HK", "UK", "SG", "KR", "AU", "US", "EU"):
        for lang in ("en", "zh-Hant"):
            for age in (VictimAge.ADULT, VictimAge.MINOR, VictimAge.WAS_MINOR):
                d = guide(lang, j, age)
                for b in d.blocks:
                    chars.update(str(getattr(b, "text", "")))
                    chars.update("".join(getattr(b, "items", []) or getattr(b, "body", [])))
                    chars.update("".join(t for kv in getattr(b, "pairs", []) for t in kv))
                    chars.update("".join(c for r in getattr(b, "rows", []) for c in r))
                chars.update(d.title + (d.subtitle or "") + (d.footer or ""))
    doc = Document(title="", lang="zh-Hant").add(Paragraph("".join(sorted(chars))))
    assert unsupported_characters(doc) == set()


def test_each_chinese_glyph_has_one_code() -> None:
    # fpdf2 reserves code 0x20 for the space; a font loaded without the space mapped that code to
    # another glyph, which MuPDF then read back as a space ("意見 法例" for "意見。法例")
    pdf = pdf_bytes(Document(title="。以上為法律資訊。", lang="zh-Hant"))
    fonts = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"]
    (cjk,) = [f.get_object() for f in fonts.values() if "NotoSansTC" in str(f.get_object()["/BaseFont"])]
    cmap = cjk["/Encoding"].get_object().get_data().decode("latin-1")
    cids = re.findall(r"<[0-9A-F]{4}> (\d+)", cmap)
    assert cids and len(cids) == len(set(cids)), cids


def test_a_row_taller_than_a_page_is_continued_on_the_next() -> None:
    lines = [f"custody entry {i:03d}" for i in range(160)]
    doc = Document(title="Long row", lang="en").add(Table(["#", "Details"], [["1", "\n".join(lines)]]))
    texts = pages(pdf_bytes(doc))
    assert len(texts) >= 2
    flat = pdftools.squeeze("".join(texts))
    assert all(pdftools.squeeze(line) in flat for line in lines)  # nothing lost at the cuts
    assert all("Details" in page for page in texts)  # the header above each piece
