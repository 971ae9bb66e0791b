"""The case services the console and the CLI share: the case list with its clocks and filters,
intake from form fields, text limits, takedowns with their clocks, the pathway's suggested referrals."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select

from takeback.cases import service as cs
from takeback.cases.intake import IntakeError, open_case, parse_intake
from takeback.cases.models import CaseStatus, Purpose, ReferralStatus, TakedownStatus
from takeback.clock import format_local
from takeback.guidance.situation import Setting
from takeback.store import AuditEvent, Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _case(db: Database, **kw: object) -> int:
    with db.session() as s:
        c = cs.create_case(s, actor="cw", jurisdiction=str(kw.pop("jurisdiction", "HK")), now=NOW, **kw)  # type: ignore[arg-type]
        return c.id


def _takedown(db: Database, case_id: int, sent: datetime, url: str = "https://x.example/p/1") -> int:
    with db.session() as s:
        c = s.get(cs.Case, case_id)
        assert c is not None
        t, clocks = cs.add_takedown(
            s, case=c, url=url, actor="cw", sent_at=sent, under="take-it-down", now=sent
        )
        assert clocks, "a TAKE IT DOWN request starts its 48-hour clock"
        return t.id


def test_case_rows_next_clock_overdue_first_and_restricted(db: Database) -> None:
    a = _case(db, jurisdiction="US", alias="alpha")
    b = _case(db, jurisdiction="HK", alias="beta")
    c = _case(db, jurisdiction="US", alias="gamma")
    _takedown(db, a, NOW - timedelta(hours=10))  # due in 38 h
    _takedown(db, c, NOW - timedelta(hours=50))  # overdue by 2 h
    with db.session() as s:
        rows = cs.case_rows(s, now=NOW)
        assert [r.case.id for r in rows] == [c, a, b]
        assert rows[0].next_overdue and rows[0].overdue == 1 and not rows[1].next_overdue
        assert rows[2].next_clock is None and rows[2].running == 0
        due = rows[1].next_clock.due_at  # type: ignore[union-attr]
        # shown in the case's own zone: a US case's clock reads in New York time
        assert format_local(due, rows[1].case.timezone).endswith(("EST (UTC-05:00)", "EDT (UTC-04:00)"))
        # a caseworker's list: only her cases, still in the same order
        assert [r.case.id for r in cs.case_rows(s, case_ids={a, b}, now=NOW)] == [a, b]
        assert cs.case_rows(s, case_ids=set(), now=NOW) == []
        assert [r.case.id for r in cs.case_rows(s, overdue_only=True, now=NOW)] == [c]
        assert [r.case.id for r in cs.case_rows(s, jurisdiction="hk", now=NOW)] == [b]
        assert [r.case.id for r in cs.case_rows(s, text="GAM", now=NOW)] == [c]
        ref = rows[1].case.reference
        assert [r.case.id for r in cs.case_rows(s, text=ref[3:7].lower(), now=NOW)] == [a]
        # LIKE wildcards are text, not patterns
        assert cs.case_rows(s, text="%", now=NOW) == []
        # an hour on, the 38-hour clock is still due; 40 hours on, it is overdue too
        later = cs.case_rows(s, now=NOW + timedelta(hours=40))
        assert all(r.next_overdue for r in later if r.next_clock is not None)


def test_closed_cases_leave_the_open_list(db: Database) -> None:
    a = _case(db)
    b = _case(db)
    with db.session() as s:
        case = s.get(cs.Case, a)
        assert case is not None
        cs.set_case_status(s, case=case, status=CaseStatus.CLOSED, actor="cw")
        assert [r.case.id for r in cs.case_rows(s, now=NOW)] == [b]
        assert [r.case.id for r in cs.case_rows(s, status=CaseStatus.CLOSED, now=NOW)] == [a]
        assert {r.case.id for r in cs.case_rows(s, status=None, now=NOW)} == {a, b}
        with pytest.raises(cs.CaseError) as err:
            cs.set_case_status(s, case=case, status=CaseStatus.DELETED, actor="cw")
        assert err.value.code == "bad_status"
        assert "case.status" in s.scalars(select(AuditEvent.action)).all()


def test_case_rows_lists_hundreds_of_cases_in_three_queries_well_under_100_ms(db: Database) -> None:
    with db.session() as s:
        for i in range(300):
            c = cs.create_case(s, actor="cw", jurisdiction="US" if i % 2 else "HK", now=NOW)
            if i % 3 == 0:
                cs.add_takedown(
                    s,
                    case=c,
                    url=f"https://x.example/{i}",
                    actor="cw",
                    under="take-it-down",
                    sent_at=NOW,
                    now=NOW,
                )
    with db.session() as s:
        ids = set(s.scalars(select(cs.Case.id)))
        cs.case_rows(s, case_ids=ids, now=NOW)  # warm: mappers compiled, statements cached
        statements: list[str] = []
        engine = s.get_bind()
        listen = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listen)
        try:
            best = float("inf")
            for _ in range(5):
                statements.clear()
                t0 = time.perf_counter()
                rows = cs.case_rows(s, case_ids=ids, now=NOW + timedelta(hours=49))
                best = min(best, time.perf_counter() - t0)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert len(rows) == 300 and sum(r.next_overdue for r in rows) == 100
    assert len(statements) <= 3, statements
    assert best < 0.1, f"{best * 1000:.1f} ms for 300 cases"


def test_intake_from_form_fields(db: Database) -> None:
    form = parse_intake(
        jurisdiction="hk",
        victim_age="was-minor",
        setting="university",
        incident_date="2026-03-08",
        alias="  R-17 ",
        consents=["hashing", "referral,police-sharing", "hashing"],
        now=NOW,
    )
    assert form.jurisdiction == "HK" and form.timezone == "Asia/Hong_Kong" and form.alias == "R-17"
    assert form.consents == (Purpose.HASHING, Purpose.REFERRAL, Purpose.POLICE_SHARING)
    with db.session() as s:
        c = open_case(s, intake=form, actor="staff:ana", now=NOW)
        assert (c.victim_age, c.setting, c.incident_date) == ("was-minor", "university", date(2026, 3, 8))
        assert {x.purpose for x in cs.consents(s, case=c)} == {"hashing", "referral", "police-sharing"}
        assert cs.case_clocks(s, case=c, now=NOW), "the EOC's 12-month window runs from the incident date"

    bad = [
        ({"jurisdiction": ""}, "jurisdiction", "unknown_jurisdiction"),
        ({"jurisdiction": "XX"}, "jurisdiction", "unknown_jurisdiction"),
        ({"jurisdiction": "HK", "timezone": "Mars/Olympus"}, "timezone", None),
        ({"jurisdiction": "HK", "incident_date": "2027-01-01"}, "incident_date", "future_time"),
        ({"jurisdiction": "HK", "incident_date": "8 March"}, "incident_date", "bad_time"),
        ({"jurisdiction": "HK", "victim_age": "old"}, "victim_age", "bad_choice"),
        ({"jurisdiction": "HK", "setting": "<b>x</b>"}, "setting", "bad_choice"),
        ({"jurisdiction": "HK", "consents": ["caseworker-sharing"]}, "consents", "unknown_purpose"),
        ({"jurisdiction": "HK", "alias": "x" * 101}, "alias", "too_long"),
    ]
    for fields, field, code in bad:
        with pytest.raises(IntakeError) as err:
            parse_intake(now=NOW, **fields)  # type: ignore[arg-type]
        assert err.value.field == field, fields
        if code:
            assert err.value.code == code, fields


def test_a_huge_note_is_refused_whole_with_its_size(db: Database) -> None:
    cid = _case(db, consents=(Purpose.REFERRAL,))
    with db.session() as s:
        c = s.get(cs.Case, cid)
        assert c is not None
        with pytest.raises(cs.TextTooLongError) as err:
            cs.add_referral(s, case=c, channel="pcpd", actor="cw", note="n" * 100_000)
        assert err.value.code == "too_long" and (err.value.length, err.value.limit) == (100_000, 4000)
        assert "100,000" in err.value.message and "4,000" in err.value.message
        with pytest.raises(cs.TextTooLongError):
            cs.add_takedown(s, case=c, url="https://x.example/" + "a" * 3000, actor="cw")
        with pytest.raises(cs.CaseError) as nul:
            cs.add_takedown(s, case=c, url="https://x.example/\x00", actor="cw")
        assert nul.value.code == "bad_text"
        r = cs.add_referral(s, case=c, channel="pcpd", actor="cw", note="  <script>alert(1)</script>  ")
        assert r.note == "<script>alert(1)</script>"  # kept as text; pages escape it


def test_takedown_rows_carry_response_times_and_clocks(db: Database) -> None:
    cid = _case(db, jurisdiction="US")
    sent = NOW - timedelta(hours=50)
    tid = _takedown(db, cid, sent)
    _takedown(db, cid, NOW - timedelta(hours=1), url="https://y.example/2")
    with db.session() as s:
        c = s.get(cs.Case, cid)
        assert c is not None
        rows = cs.takedown_rows(s, case=c, now=NOW)
        assert rows[0].takedown.id == tid
        assert rows[0].clocks[0].overdue and not rows[1].clocks[0].overdue
        assert rows[0].first_response_hours is None
        cs.update_takedown(
            s,
            case=c,
            takedown_id=tid,
            status=TakedownStatus.REMOVED,
            actor="cw",
            at=sent + timedelta(hours=30),
        )
        rows = cs.takedown_rows(s, case=c, now=NOW)
        assert rows[0].resolution_hours == 30.0 and not rows[0].clocks[0].overdue
        assert rows[0].clocks[0].clock.status == "met"


def test_suggested_referrals_from_the_pathway_with_what_was_made(db: Database) -> None:
    cid = _case(db, consents=(Purpose.REFERRAL,), setting=Setting.UNIVERSITY)
    with db.session() as s:
        c = s.get(cs.Case, cid)
        assert c is not None
        got = cs.suggested_referrals(s, case=c, facts=["created", "shared"], now=NOW)
        by_id = {g.channel: g for g in got}
        assert {"hk-pcpd", "hk-police"} <= set(by_id)
        assert by_id["hk-police"].missing_consent == [Purpose.POLICE_SHARING]
        assert by_id["hk-pcpd"].missing_consent == []
        r = cs.add_referral(s, case=c, channel="PCPD", actor="cw", reference_number="PC-1")
        cs.update_referral(s, case=c, referral_id=r.id, actor="cw", status=ReferralStatus.SENT)
        got = {
            g.channel: g for g in cs.suggested_referrals(s, case=c, facts=["shared"], lang="zh-Hant", now=NOW)
        }
        made = got["hk-pcpd"].referrals
        assert [(x.reference_number, x.status) for x in made] == [("PC-1", "sent")]
        assert "私隱專員公署" in got["hk-pcpd"].name
