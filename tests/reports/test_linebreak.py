"""Line breaking for mixed Chinese and Latin text: never inside a number, date, URL or word."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from takeback.reports import Document, Paragraph
from takeback.reports.linebreak import NO_BREAK_AFTER, NO_BREAK_BEFORE, segments, wrap
from takeback.reports.text import render_text


def cols(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


MONEY = "受害人可向法院申索最高港幣1,000,000元的賠償。"
DATE = "個人資料私隱專員公署的資料最後核對日期為2026-06-30，網址為 https://www.pcpd.org.hk 。"


def test_the_field_trial_failures_no_longer_happen() -> None:
    # "港幣1,0 / 00,000元" and "20 / 26-06-30" were printed by the old wrapping
    for width in range(12, 80):
        money = wrap(MONEY, width, cols)
        assert any("1,000,000元" in line for line in money), (width, money)
        date = wrap(DATE, width, cols)
        assert any("2026-06-30" in line for line in date), (width, date)
        if width >= cols("https://www.pcpd.org.hk 。"):
            assert any("https://www.pcpd.org.hk" in line for line in date), (width, date)
        for lines, text in ((money, MONEY), (date, DATE)):
            assert "".join(lines).replace(" ", "") == text.replace(" ", "")
            assert all(cols(line) <= width for line in lines), (width, lines)


def test_closing_marks_never_start_a_line_and_opening_marks_never_end_one() -> None:
    text = "他說：「這是《個人資料（私隱）條例》的規定。」然後（在2026年3月1日）離開了，對嗎？是的！" * 3
    for width in range(6, 60):
        lines = wrap(text, width, cols)
        assert all(line[:1] not in NO_BREAK_BEFORE for line in lines), (width, lines)
        assert all(line[-1:] not in NO_BREAK_AFTER for line in lines), (width, lines)


def test_a_number_keeps_its_unit() -> None:
    assert segments("最高可判監禁5年。")[-1] == "5年。"
    for width in range(6, 30):
        assert any("5年" in line for line in wrap("最高可判監禁5年，並處罰款。", width, cols))


def test_latin_words_break_only_at_spaces_unless_wider_than_the_line() -> None:
    lines = wrap("Crimes Ordinance (Cap. 200) s.159AAE applies", 12, len)
    assert lines == ["Crimes", "Ordinance", "(Cap. 200)", "s.159AAE", "applies"]
    sha = "9eecb85b09d04250075ad783d7eaa8d456df5c8aa7a4a5260f2c09b328d4571c"
    cut = wrap(sha, 20, len)
    assert "".join(cut) == sha and all(len(line) <= 20 for line in cut)
    url = "https://www.pcpd.org.hk/tc_chi/complaints/how_complaints.html"
    parts = wrap(url, 30, len)
    assert "".join(parts) == url and all(p[-1] in "/_." for p in parts[:-1])  # after a separator


def test_hard_breaks_first_line_width_and_empty_text() -> None:
    assert wrap("一\n二", 10, cols) == ["一", "二"]
    assert wrap("", 10, cols) == [""]
    assert wrap("aaa bbb ccc", 7, len, first_width=3) == ["aaa", "bbb ccc"]
    assert wrap("X  ", 0.5, len) == ["X"]  # not even one character fits: placed anyway, alone


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["港", "幣", "元", "，", "。", "（", "）", "「", "」", " ", "1,000", "2026-06-30", "Cap.", "abc"]
        ),
        max_size=40,
    ),
    st.integers(4, 40),
)
def test_wrapping_loses_nothing_and_fits(tokens: list[str], width: int) -> None:
    text = "".join(tokens)
    lines = wrap(text, width, cols)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        # wider than the line only when one unbreakable run alone is
        assert cols(line) <= width or len(segments(line)) == 1, (width, line)
    for run in ("1,000", "2026-06-30"):
        alone = re.compile(r"(?<![\x21-\x7e])" + re.escape(run) + r"(?![\x21-\x7e])")  # a run of its own
        if cols(run) <= width:
            assert sum(len(alone.findall(line)) for line in lines) >= len(alone.findall(text)), (width, lines)


def test_the_terminal_renderer_keeps_numbers_and_dates_whole() -> None:
    doc = Document(title="標題", lang="zh-Hant").add(Paragraph(MONEY), Paragraph(DATE))
    for width in range(16, 60, 3):
        text = render_text(doc, width=width)
        assert "1,000,000元" in text and "2026-06-30" in text, (width, text)
        assert "港幣1,000,000元" in text or "\n幣1,000,000元" in text or "\n1,000,000元" in text
