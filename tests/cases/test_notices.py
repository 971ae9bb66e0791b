"""TAKE IT DOWN requests (all required elements, or a refusal naming the gap) and HK complaint drafts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from takeback.cases.notices import (
    BLANK,
    NoticeError,
    NoticeFacts,
    NoticeKind,
    complaint_draft,
    cover_note,
    take_it_down_notice,
)
from takeback.reports.text import render_text

SHA = "a" * 64


def facts(**kw: object) -> NoticeFacts:
    base: dict[str, object] = {
        "case_reference": "TB-7F3K-9QX2",
        "timezone": "America/New_York",
        "urls": ["https://example.com/post/1", "https://example.com/post/2"],
        "items": [
            {
                "sha256": SHA,
                "pdq": "b" * 64,
                "platform": "Example",
                "account": "@x",
                "url": None,
                "posted_at": None,
            }
        ],
        "name": "Jane Doe",
        "contact": "jane.reports@example.org",
        "signature": "/s/ Jane Doe",
        "platform": "Example Inc.",
        "today": datetime(2026, 11, 26, 15, 0, tzinfo=UTC),
    }
    base.update(kw)
    return NoticeFacts(**base)  # type: ignore[arg-type]


def flat(text: str) -> str:
    return " ".join(text.split())


def test_take_it_down_request_has_every_required_element() -> None:
    text = flat(render_text(take_it_down_notice(facts())))
    # written request under the Act
    assert "written request under the TAKE IT DOWN Act (Pub. L. 119-12)" in text
    # identifies the depiction and where it is
    assert "https://example.com/post/1" in text and "https://example.com/post/2" in text
    assert f"SHA-256 {SHA}" in text
    # good-faith statement of non-consent
    assert (
        "good faith belief that the intimate visual depiction of the identifiable individual (Jane Doe)"
        in text
    )
    assert "was not consensual" in text
    # contact information and signature, dated
    assert "jane.reports@example.org" in text
    assert "/s/ Jane Doe" in text
    assert "2026-11-26" in text
    assert "within 48 hours" in text and "identical copies" in text


@pytest.mark.parametrize(
    ("missing", "needle"),
    [
        ({"signature": None}, "signature"),
        ({"contact": None}, "contact details"),
        ({"urls": []}, "where it is"),
        ({"name": None}, "name of the person signing"),
    ],
)
def test_incomplete_request_is_refused_naming_what_is_missing(
    missing: dict[str, object], needle: str
) -> None:
    with pytest.raises(NoticeError) as err:
        take_it_down_notice(facts(**missing))
    assert err.value.code == "notice_incomplete"
    assert needle in err.value.message


def test_authorised_person_and_chinese_version() -> None:
    text = flat(render_text(take_it_down_notice(facts(on_behalf_of="A. Doe"))))
    assert "I am authorised to act on behalf of A. Doe" in text
    zh = render_text(take_it_down_notice(facts(), "zh-Hant")).replace("\n", "").replace(" ", "")
    for phrase in (
        "TAKEIT",
        "48小時內",
        "真誠相信",
        "並無同意發布",
        "聯絡資料",
        "/s/JaneDoe",
        "2026年11月26日",
    ):
        assert phrase in zh


def test_hk_police_pcpd_eoc_drafts_cite_the_right_law_in_both_languages() -> None:
    f = facts(
        timezone="Asia/Hong_Kong",
        setting="university",
        incident_date=date(2026, 3, 1),
        reports=[("hk-pcpd", "2026-03-05", "PCPD-1")],
        bundle_sha256="c" * 64,
    )
    police = flat(render_text(complaint_draft(NoticeKind.HK_POLICE, f)))
    assert "sections 159AAE and 159AAD of the Crimes Ordinance (Cap. 200)" in police
    assert "159AAL" in police and "c" * 64 in police and "PCPD-1" in police
    pcpd = flat(render_text(complaint_draft(NoticeKind.HK_PCPD, f)))
    assert "section 64 of the Personal Data (Privacy) Ordinance (Cap. 486)" in pcpd and "66M" in pcpd
    eoc = flat(render_text(complaint_draft(NoticeKind.HK_EOC, f)))
    assert "Sex Discrimination Ordinance (Cap. 480)" in eoc and "at my university" in eoc
    assert "The act took place on 2026-03-01." in eoc
    for kind, phrases in {
        NoticeKind.HK_POLICE: ("向香港警務處報案", "《刑事罪行條例》", "第159AAE條"),
        NoticeKind.HK_PCPD: ("向個人資料私隱專員公署投訴", "《個人資料（私隱）條例》", "停止披露通知"),
        NoticeKind.HK_EOC: ("向平等機會委員會投訴", "《性別歧視條例》", "同在大學", "2026年3月1日"),
    }.items():
        zh = render_text(complaint_draft(kind, f, "zh-Hant")).replace("\n", "")
        for p in phrases:
            assert p in zh, (kind, p)
        # the draft is for the officer; "this is a draft" and the legal notice are for the sender
        assert "草擬本" not in zh and "並非法律意見" not in zh
        cover = render_text(cover_note(kind, f, "zh-Hant")).replace("\n", "")
        assert "草擬" in cover and "並非法律意見" in cover


def test_eoc_draft_without_a_date_leaves_a_blank_and_the_cover_note_explains_the_window() -> None:
    f = facts(timezone="Asia/Hong_Kong")
    text = flat(render_text(complaint_draft(NoticeKind.HK_EOC, f)))
    assert f"Date of the act: {BLANK}" in text and "[" not in text
    assert f"Name: {BLANK}" not in text  # the name was given
    blank = flat(render_text(complaint_draft(NoticeKind.HK_EOC, facts(timezone="Asia/Hong_Kong", name=None))))
    assert f"Name: {BLANK}" in blank
    cover = flat(render_text(cover_note(NoticeKind.HK_EOC, f)))
    assert (
        "Fill in the date of the act: the EOC may decline a complaint made more than 12 months after it."
        in cover
    )
