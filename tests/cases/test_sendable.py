"""Notices read aloud by the person who receives them (the platform, the PCPD officer) and by the
victim who sends them: the sendable text holds nothing addressed to the sender; what is for her is in
the cover note; the links covered, the deadlines and the clocks are as they really stand."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from takeback.cases import service as cs
from takeback.cases.models import Purpose, TakedownStatus
from takeback.cases.notices import BLANK, NoticeFacts, NoticeKind, compose, cover_note, notice_facts
from takeback.guidance.kb import load_kb
from takeback.guidance.situation import Setting, VictimAge
from takeback.reports import render_html
from takeback.reports.text import render_text
from takeback.store import Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ALL_CHANNEL_IDS = sorted(
    {ch.id for j in load_kb().jurisdictions.values() for ch in j.channels} | set(load_kb().common)
)
#: what must never reach the receiver
FOR_THE_SENDER = (
    "takeback",
    "`",
    " --",
    "before you send",
    "提交前",
    "發出前",
    "legal advice",
    "legal information",
    "法律意見",
    "法律資訊",
    "draft",
    "草擬",
    "clock",
    "計時",
    "[",
    "cover note",
    "附註",
)


def flat(text: str) -> str:
    return " ".join(text.split())


def facts(**kw: object) -> NoticeFacts:
    base: dict[str, object] = {
        "case_reference": "TB-7F3K-9QX2",
        "timezone": "Asia/Hong_Kong",
        "urls": ["https://t.example/c/1"],
        "items": [
            {"sha256": "a" * 64, "pdq": "b" * 64, "platform": "Telegram", "account": "@x", "url": None}
        ],
        "reports": [("hk-pcpd", "2026-03-05", "PCPD-1"), ("hk-police", "2026-03-06", None)],
        "incident_date": date(2026, 3, 1),
        "setting": "university",
        "name": "Chan Tai Man",
        "contact": "reports@example.org",
        "signature": "/s/ Chan Tai Man",
        "platform": "Telegram",
        "today": NOW,
    }
    base.update(kw)
    return NoticeFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(NoticeKind))
@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
@pytest.mark.parametrize("age", list(VictimAge))
@pytest.mark.parametrize("given", ["everything", "nothing optional"])
def test_the_sendable_notice_holds_nothing_addressed_to_the_sender(
    kind: NoticeKind, lang: str, age: VictimAge, given: str
) -> None:
    extra: dict[str, object] = {"victim_age": age}
    if given != "everything" and kind is not NoticeKind.TAKE_IT_DOWN:  # a TID request must be complete
        extra.update(name=None, contact=None, items=[], incident_date=None, reports=[])
    f = facts(**extra)
    notice, cover = compose(kind, f, lang)
    assert notice.footer is None and notice.subtitle is None
    for fmt, out in (("text", render_text(notice)), ("html", render_html(notice).split("<body>", 1)[1])):
        low = out.casefold()
        for word in FOR_THE_SENDER:
            assert word.casefold() not in low, (kind, lang, fmt, word)
        for cid in ALL_CHANNEL_IDS:  # no raw route ids ("hk-pcpd · ...")
            assert not re.search(rf"(?<![\w-]){re.escape(cid)}(?![\w-])", out), (kind, lang, fmt, cid)
    # what the sender needs is all in the cover note
    note = flat(render_text(cover))
    assert cover.footer is not None
    assert ("legal information, not legal advice" if lang == "en" else "並非法律意見") in cover.footer
    assert "takeback case" in note


def test_reports_already_made_are_named_as_the_receiver_knows_them() -> None:
    text = flat(render_text(complaint_draft_en(NoticeKind.HK_POLICE)))
    assert "Office of the Privacy Commissioner for Personal Data (PCPD), 2026-03-05, reference PCPD-1" in text
    assert "Hong Kong Police Force, 2026-03-06" in text
    zh = render_text(compose(NoticeKind.HK_POLICE, facts(), "zh-Hant")[0]).replace("\n", "")
    assert "個人資料私隱專員公署，2026年3月5日，參考編號 PCPD-1" in zh


def complaint_draft_en(kind: NoticeKind, **kw: object):  # type: ignore[no-untyped-def]
    return compose(kind, facts(**kw), "en")[0]


def test_eoc_draft_says_when_the_12_month_window_has_passed() -> None:
    late = facts(incident_date=date(2025, 6, 1))
    text = flat(render_text(complaint_draft_en(NoticeKind.HK_EOC, incident_date=date(2025, 6, 1))))
    assert "more than 12 months after the act, which took place on 2025-06-01" in text
    assert f"I ask the Commission to accept it nonetheless, for these reasons: {BLANK}" in text
    cover = flat(render_text(cover_note(NoticeKind.HK_EOC, late)))
    assert "The EOC's 12-month window ended at the end of 2026-06-01 (Hong Kong time)" in cover
    zh = render_text(compose(NoticeKind.HK_EOC, late, "zh-Hant")[0]).replace("\n", "")
    assert "超過12個月後才提出" in zh and "懇請平機會仍然受理" in zh
    # within the window: the draft says nothing of it; the cover note gives the last day
    in_time = flat(render_text(complaint_draft_en(NoticeKind.HK_EOC)))
    assert "12 months" not in in_time
    assert "Send it by the end of 2027-03-01 (Hong Kong time)" in flat(
        render_text(cover_note(NoticeKind.HK_EOC, facts()))
    )


def test_police_draft_for_a_minor_names_the_child_pornography_ordinance() -> None:
    text = flat(render_text(complaint_draft_en(NoticeKind.HK_POLICE, victim_age=VictimAge.WAS_MINOR)))
    assert "Prevention of Child Pornography Ordinance (Cap. 579)" in text
    assert "I have not kept copies of the images" in text
    assert "Cap. 579" not in flat(render_text(complaint_draft_en(NoticeKind.HK_POLICE)))


# --- from a case's records ----------------------------------------------------------------------------


def _hk_case(db: Database) -> str:
    with db.session() as s:
        c = cs.create_case(
            s,
            actor="ana",
            jurisdiction="HK",
            setting=Setting.UNIVERSITY,
            incident_date=date(2026, 3, 1),
            consents=(Purpose.REFERRAL,),
            now=NOW,
        )
        sent = NOW - timedelta(days=3)
        for url, platform in (
            ("https://t.example/c/1", "Telegram"),  # open
            ("https://l.example/t/2", "LIHKG"),  # removed
            ("https://x.example/p/3", "X"),  # refused
            ("https://t.example/c/4", "Telegram"),  # open, acknowledged
        ):
            cs.add_takedown(s, case=c, url=url, platform=platform, actor="ana", sent_at=sent, now=NOW)
        cs.update_takedown(s, case=c, takedown_id=2, status=TakedownStatus.REMOVED, actor="ana", at=NOW)
        cs.update_takedown(s, case=c, takedown_id=3, status=TakedownStatus.REFUSED, actor="ana", at=NOW)
        cs.update_takedown(s, case=c, takedown_id=4, status=TakedownStatus.ACKNOWLEDGED, actor="ana", at=NOW)
        cs.add_referral(s, case=c, channel="pcpd", actor="ana", now=NOW)  # a draft: not a report made
        return c.reference


def test_a_notice_covers_the_open_takedowns_by_default_and_url_selects(db: Database) -> None:
    ref = _hk_case(db)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        f = notice_facts(s, case=c, evidence=[], kind=NoticeKind.HK_PCPD, now=NOW)
        assert f.urls == ["https://t.example/c/1", "https://t.example/c/4"]
        assert [x.url for x in f.left_out] == ["https://l.example/t/2", "https://x.example/p/3"]
        assert f.reports == []  # the draft referral is not a report already made
        assert f.draft_referral_id == 1
        chosen = notice_facts(
            s, case=c, evidence=[], kind=NoticeKind.HK_PCPD, urls=["https://x.example/p/3"], now=NOW
        )
        assert chosen.urls == ["https://x.example/p/3"] and chosen.left_out == []
        tid = notice_facts(s, case=c, evidence=[], kind=NoticeKind.TAKE_IT_DOWN, platform="telegram", now=NOW)
        assert tid.urls == ["https://t.example/c/1", "https://t.example/c/4"]
    # the PCPD draft lists the case's takedown URLs and what became of each request
    pcpd = flat(render_text(compose(NoticeKind.HK_PCPD, f)[0]))
    assert "Where the images are or were" in pcpd
    assert "https://t.example/c/1 (Telegram): removal requested on 2026-11-23, not removed so far" in pcpd
    assert "https://t.example/c/4 (Telegram): removal requested on 2026-11-23, acknowledged" in pcpd
    assert "l.example" not in pcpd and "x.example" not in pcpd
    chosen_text = flat(render_text(compose(NoticeKind.HK_PCPD, chosen)[0]))
    assert "https://x.example/p/3 (X): the platform refused to remove it on 2026-11-26" in chosen_text
    cover = flat(render_text(cover_note(NoticeKind.HK_PCPD, f)))
    assert "Left out because they were removed or refused; name one with --url to include it:" in cover
    assert "https://l.example/t/2 (LIHKG): removed on 2026-11-26" in cover
    assert f"takeback case refer --case {ref} --id 1 --status sent" in cover


def test_the_cover_note_never_claims_a_clock_that_is_not_running(db: Database) -> None:
    ref = _hk_case(db)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        f = notice_facts(
            s, case=c, evidence=[], kind=NoticeKind.TAKE_IT_DOWN, platform="Telegram", name="A", now=NOW
        )
    cover = flat(render_text(cover_note(NoticeKind.TAKE_IT_DOWN, f)))
    # an HK case's takedowns started no clock: the note says so and how to start the one that applies
    assert "already running" not in cover
    assert "no removal clock is running for it" in cover
    record = f"takeback case takedown --case {ref} --url https://t.example/c/1 --platform Telegram"
    assert f"{record} --under take-it-down" in cover
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        cs.add_takedown(
            s,
            case=c,
            url="https://t.example/c/1",
            platform="Telegram",
            actor="ana",
            sent_at=NOW,
            under="TAKE IT DOWN",
        )
        f = notice_facts(s, case=c, evidence=[], kind=NoticeKind.TAKE_IT_DOWN, platform="Telegram", now=NOW)
    cover = flat(render_text(cover_note(NoticeKind.TAKE_IT_DOWN, f)))
    assert (
        "https://t.example/c/1: the TAKE IT DOWN removal clock is already running, due 2026-11-28 20:00 HKT"
        in cover
    )
