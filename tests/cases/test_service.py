"""Cases on SQLite and PostgreSQL: intake, consent, referrals, clocks, takedowns, deletion, audit."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from takeback.cases import service as cs
from takeback.cases.models import Case, ClockStatus, Purpose, ReferralStatus, TakedownStatus
from takeback.guidance.situation import Setting, VictimAge
from takeback.store import AuditEvent, Database

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def actions(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_case_is_pseudonymous_and_every_write_is_audited(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="hk", alias="A", consents=(Purpose.HASHING,), now=NOW)
        ref = c.reference
    assert re.fullmatch(r"TB-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", ref)
    with db.session() as s:
        c = cs.get_case(s, reference=ref.lower())
        assert (c.jurisdiction, c.timezone, c.victim_age, c.alias) == ("HK", "Asia/Hong_Kong", "adult", "A")
        assert not hasattr(c, "name")
    assert actions(db) == ["case.create", "consent.grant"]
    with db.session() as s:
        ev = s.scalars(select(AuditEvent)).first()
        assert (
            ev is not None and ev.object_id == ref and "A" not in str(ev.details)
        )  # no alias in the audit log


def test_unknown_and_future_inputs(db: Database) -> None:
    from takeback.errors import TakebackError

    with pytest.raises(TakebackError) as err, db.session() as s:
        cs.create_case(s, actor="ana", jurisdiction="XX")
    assert err.value.code == "unknown_jurisdiction"
    with pytest.raises(cs.CaseError) as err2, db.session() as s:
        cs.create_case(s, actor="ana", jurisdiction="HK", incident_date=date(2027, 1, 1), now=NOW)
    assert err2.value.code == "future_time"
    with pytest.raises(cs.CaseError) as err3, db.session() as s:
        cs.get_case(s, reference="TB-0000-0000")
    assert err3.value.code == "case_not_found"


def test_consent_per_purpose_with_withdrawal(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK", now=NOW)
        with pytest.raises(cs.CaseError) as err:
            cs.require_consent(s, case=c, purpose=Purpose.HASHING)
        assert err.value.code == "consent_required"
        assert f"takeback case consent --case {c.reference} --grant hashing" in err.value.message
        cs.grant_consent(s, case=c, purpose=Purpose.HASHING, actor="ana")
        cs.grant_consent(s, case=c, purpose=Purpose.HASHING, actor="ana")  # idempotent
        cs.require_consent(s, case=c, purpose=Purpose.HASHING)
        cs.withdraw_consent(s, case=c, purpose=Purpose.HASHING, actor="victim")
        with pytest.raises(cs.CaseError):
            cs.require_consent(s, case=c, purpose=Purpose.HASHING)
        with pytest.raises(cs.CaseError) as err:
            cs.withdraw_consent(s, case=c, purpose=Purpose.HASHING, actor="victim")
        assert err.value.code == "no_consent"
        history = cs.consents(s, case=c)
        assert [(x.purpose, x.withdrawn_by) for x in history] == [("hashing", "victim")]
    assert actions(db).count("consent.withdraw") == 1


def test_referrals_need_consent_and_police_needs_police_sharing(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK", now=NOW)
        with pytest.raises(cs.CaseError, match="referral"):
            cs.add_referral(s, case=c, channel="hk-pcpd", actor="ana")
        cs.grant_consent(s, case=c, purpose=Purpose.REFERRAL, actor="ana")
        r = cs.add_referral(s, case=c, channel="hk-pcpd", actor="ana", reference_number="P-1", now=NOW)
        # a new referral is a draft until someone says it was sent
        assert (r.status, r.sent_at, r.reference_number) == ("draft", None, "P-1")
        cs.update_referral(s, case=c, referral_id=r.id, actor="ana", sent_at=NOW - timedelta(hours=2))
        assert (r.status, r.sent_at) == ("sent", NOW - timedelta(hours=2))
        with pytest.raises(cs.CaseError, match="police-sharing"):
            cs.add_referral(s, case=c, channel="hk-police", actor="ana")
        cs.grant_consent(s, case=c, purpose=Purpose.POLICE_SHARING, actor="ana")
        p = cs.add_referral(s, case=c, channel="hk-police", actor="ana", status=ReferralStatus.PLANNED)
        assert p.sent_at is None
        cs.update_referral(
            s, case=c, referral_id=p.id, actor="ana", status=ReferralStatus.SENT, reference_number="RN9"
        )
        assert p.sent_at is not None and p.reference_number == "RN9"
        assert [x.channel for x in cs.referrals(s, case=c)] == ["hk-pcpd", "hk-police"]


def test_hk_eoc_clock_starts_from_the_incident_date_in_an_education_case(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(
            s,
            actor="ana",
            jurisdiction="HK",
            setting=Setting.UNIVERSITY,
            incident_date=date(2026, 3, 1),
            now=NOW,
        )
        (row,) = cs.deadlines(s, case=c, now=NOW)
        assert row.clock.kind == "hk-eoc-12m"
        assert row.clock.duration == "P12M"
        assert row.clock.due_at.replace(tzinfo=UTC) == datetime(2027, 3, 1, 16, 0, tzinfo=UTC)
        assert row.overdue is False
        online = cs.create_case(
            s, actor="ana", jurisdiction="HK", setting=Setting.ONLINE, incident_date=date(2026, 3, 1), now=NOW
        )
        assert cs.deadlines(s, case=online, now=NOW) == []


def test_us_takedown_starts_48h_clock_removal_meets_it_and_response_times(db: Database) -> None:
    sent = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="US", now=NOW)
        t, clocks = cs.add_takedown(
            s, case=c, url="https://example.com/p/1", platform="Example", actor="ana", sent_at=sent
        )
        (clock,) = clocks
        assert (clock.kind, clock.subject, clock.duration) == ("us-tida-48h", f"takedown:{t.id}", "PT48H")
        assert clock.due_at.replace(tzinfo=UTC) == sent + timedelta(hours=48)
        # overdue at 49 h, not at 47 h
        assert [r.overdue for r in cs.deadlines(s, case=c, now=sent + timedelta(hours=47))] == [False]
        assert [r.clock.id for r in cs.deadlines(s, overdue_only=True, now=sent + timedelta(hours=49))] == [
            clock.id
        ]
        cs.update_takedown(
            s,
            case=c,
            takedown_id=t.id,
            status=TakedownStatus.ACKNOWLEDGED,
            actor="ana",
            at=sent + timedelta(hours=5),
        )
        cs.update_takedown(
            s,
            case=c,
            takedown_id=t.id,
            status=TakedownStatus.REMOVED,
            actor="ana",
            at=sent + timedelta(hours=30, minutes=30),
        )
        assert cs.response_times(t) == {"first_response_hours": 5.0, "resolution_hours": 30.5}
        assert clock.status == ClockStatus.MET.value
        assert cs.deadlines(s, overdue_only=True, now=sent + timedelta(hours=49)) == []
        with pytest.raises(cs.CaseError):
            cs.update_takedown(
                s,
                case=c,
                takedown_id=t.id,
                status=TakedownStatus.REFUSED,
                actor="ana",
                at=sent - timedelta(hours=1),
            )


def test_takedown_before_the_duty_existed_starts_no_clock(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="US", now=NOW)
        _, clocks = cs.add_takedown(
            s, case=c, url="https://e.com/x", actor="ana", sent_at=datetime(2026, 5, 1, tzinfo=UTC)
        )
        assert clocks == []


def test_au_regulator_notice_and_sg_platform_report_start_24h_clocks(db: Database) -> None:
    with db.session() as s:
        au = cs.create_case(s, actor="ana", jurisdiction="AU", now=NOW)
        _, clocks = cs.add_takedown(
            s, case=au, url="https://e.com/x", actor="ana", via="regulator", sent_at=NOW
        )
        assert [(k.kind, k.due_at.replace(tzinfo=UTC) - NOW) for k in clocks] == [
            ("au-esafety-24h", timedelta(hours=24))
        ]
        _, none = cs.add_takedown(s, case=au, url="https://e.com/y", actor="ana", via="platform", sent_at=NOW)
        assert none == []
        sg = cs.create_case(s, actor="ana", jurisdiction="SG", now=NOW)
        _, clocks = cs.add_takedown(s, case=sg, url="https://e.com/z", actor="ana", sent_at=NOW)
        assert [k.kind for k in clocks] == ["sg-osc-24h"]
        uk = cs.create_case(s, actor="ana", jurisdiction="UK", now=NOW)
        _, clocks = cs.add_takedown(s, case=uk, url="https://e.com/z", actor="ana", sent_at=NOW)
        assert [(k.kind, k.confidence) for k in clocks] == [("uk-removal-48h", "unconfirmed")]


def test_custom_clock_in_the_case_zone_across_dst(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="US", timezone="America/New_York", now=NOW)
        start = datetime(2026, 3, 7, 17, 0, tzinfo=UTC)  # 12:00 EST
        k = cs.start_clock(
            s, case=c, kind="platform-appeal", started_at=start, duration=cs.parse_duration("3d"), actor="ana"
        )
        assert k.due_at.replace(tzinfo=UTC) - start == timedelta(hours=72)
        with pytest.raises(cs.CaseError) as err:
            cs.start_clock(s, case=c, kind="made-up", started_at=start, actor="ana")
        assert err.value.code == "unknown_clock"
        kb_clock = cs.start_clock(s, case=c, kind="us-tida-48h", started_at=start, actor="ana")
        assert kb_clock.duration == "PT48H" and kb_clock.source


def test_deleted_case_keeps_a_tombstone_only(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(
            s,
            actor="ana",
            jurisdiction="HK",
            alias="A",
            setting=Setting.SCHOOL,
            incident_date=date(2026, 3, 1),
            consents=(Purpose.REFERRAL,),
            now=NOW,
        )
        cs.add_referral(s, case=c, channel="hk-eoc", actor="ana")
        ref = c.reference
    with db.session() as s:
        cs.delete_case_rows(s, case=cs.get_case(s, reference=ref), actor="ana")
    with db.session() as s:
        with pytest.raises(cs.CaseError) as err:
            cs.get_case(s, reference=ref)
        assert err.value.code == "case_deleted"
        tomb = cs.get_case(s, reference=ref, include_deleted=True)
        assert (tomb.alias, tomb.incident_date, tomb.status) == (None, None, "deleted")
        assert cs.referrals(s, case=tomb) == [] and cs.consents(s, case=tomb) == []
        assert cs.deadlines(s) == []
        assert s.scalar(select(Case.id).where(Case.reference == ref)) is not None
    assert actions(db)[-1] == "case.delete"


def test_minor_case_is_recorded(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="KR", victim_age=VictimAge.WAS_MINOR, now=NOW)
        assert c.age.under_18


def test_referral_channels_resolve_the_names_people_type(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK", consents=(Purpose.REFERRAL,), now=NOW)
        ids = [
            cs.add_referral(s, case=c, channel=name, actor="ana", now=NOW).channel
            for name in ("pcpd", "PCPD", "hk-pcpd", " HK PCPD ", "Privacy Commissioner", "eoc", "rainlily")
        ]
        assert ids == ["hk-pcpd"] * 5 + ["hk-eoc", "hk-rainlily"]
        # a name takeback does not know is kept as typed
        assert cs.add_referral(s, case=c, channel="HKU  Equality Office", actor="ana").channel == (
            "HKU Equality Office"
        )
        # "police" is the case's police channel, so it needs police-sharing consent like hk-police
        with pytest.raises(cs.CaseError, match="police-sharing"):
            cs.add_referral(s, case=c, channel="police", actor="ana")
        uk = cs.create_case(s, actor="ana", jurisdiction="UK", consents=(Purpose.REFERRAL,), now=NOW)
        with pytest.raises(cs.CaseError, match="police-sharing"):
            cs.add_referral(s, case=uk, channel="Police", actor="ana")
        # a sending time means it was sent; a draft with a sending time is a contradiction
        sent = cs.add_referral(s, case=c, channel="pcpd", actor="ana", sent_at=NOW)
        assert (sent.status, sent.sent_at) == ("sent", NOW)
        with pytest.raises(cs.CaseError) as err:
            cs.add_referral(s, case=c, channel="pcpd", actor="ana", status=ReferralStatus.DRAFT, sent_at=NOW)
        assert err.value.code == "bad_status"


def test_hk_takedown_starts_no_clock_unless_made_under_take_it_down(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK", now=NOW)
        _, clocks = cs.add_takedown(
            s, case=c, url="https://t.example/1", platform="X", actor="ana", sent_at=NOW
        )
        assert clocks == [] and cs.deadlines(s, case=c, now=NOW) == []
        plan = cs.removal_clock_plan(c, via="platform", sent=NOW)
        assert plan.rules == [] and plan.why_none is not None
        assert "Hong Kong law sets no deadline" in plan.why_none and "--under take-it-down" in plan.why_none
        for name in ("take-it-down", "TAKE IT DOWN", "Take It Down Act", "tida", "us-tida-48h"):
            _, clocks = cs.add_takedown(
                s, case=c, url="https://r.example/2", platform="Reddit", actor="ana", sent_at=NOW, under=name
            )
            assert [(k.kind, k.due_at.replace(tzinfo=UTC) - NOW) for k in clocks] == [
                ("us-tida-48h", timedelta(hours=48))
            ], name
        with pytest.raises(cs.CaseError) as err:
            cs.add_takedown(s, case=c, url="https://r.example/3", actor="ana", under="hk-eoc-12m")
        assert err.value.code == "unknown_clock" and "take-it-down" in err.value.message
        # a US case: an ordinary report under the platform's rules starts none
        us = cs.create_case(s, actor="ana", jurisdiction="US", now=NOW)
        _, clocks = cs.add_takedown(s, case=us, url="https://e.com/x", actor="ana", sent_at=NOW, under="none")
        assert clocks == []
        _, clocks = cs.add_takedown(s, case=us, url="https://e.com/y", actor="ana", sent_at=NOW)
        assert [k.kind for k in clocks] == ["us-tida-48h"]
        # before 19 May 2026 the duty did not exist, and the plan says so
        early = datetime(2026, 5, 1, tzinfo=UTC)
        plan = cs.removal_clock_plan(c, via="platform", sent=early, under="take-it-down")
        assert plan.rules == [] and "2026-05-19" in (plan.why_none or "")


def test_deadline_clock_by_the_name_people_type(db: Database) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK", now=NOW)
        k = cs.start_clock(s, case=c, kind="TAKE IT DOWN", started_at=NOW, actor="ana")
        assert (k.kind, k.duration) == ("us-tida-48h", "PT48H")
