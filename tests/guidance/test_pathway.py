"""Pathway outputs for scenarios across the seven jurisdictions, asserted field by field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from takeback.guidance.kb import Act, ActStatus, ClockStart, Confidence, GuidanceError
from takeback.guidance.pathway import (
    DeadlineState,
    Fact,
    Pathway,
    Situation,
    build_pathway,
    parse_facts,
)
from takeback.guidance.situation import Setting, VictimAge

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EN_DISCLAIMER = "This is legal information, not legal advice."
ZH_DISCLAIMER = "以上為法律資訊，並非法律意見。"


def pw(
    j: str,
    facts: str,
    *,
    age: VictimAge = VictimAge.ADULT,
    setting: Setting | None = None,
    act_date: date | None = None,
    lang: str = "en",
    now: datetime = NOW,
) -> Pathway:
    return build_pathway(Situation(j, parse_facts(facts), age, setting, act_date), lang=lang, now=now)


def route_ids(p: Pathway) -> list[str]:
    return [r.id for r in p.routes]


def route(p: Pathway, rid: str):  # type: ignore[no-untyped-def]
    (r,) = [r for r in p.routes if r.id == rid]
    return r


def act(p: Pathway, a: Act):  # type: ignore[no-untyped-def]
    (x,) = [x for x in p.acts if x.act is a]
    return x


def test_hk_creation_only_is_no_crime_but_pcpd_eoc_and_civil_routes_with_eoc_window() -> None:
    p = pw("HK", "created", setting=Setting.UNIVERSITY, act_date=date(2026, 3, 1))
    assert p.jurisdiction == "HK"
    assert p.disclaimer.startswith(EN_DISCLAIMER)
    assert p.child_notice is None
    assert p.stores_images is True
    (create,) = p.acts
    assert create.act is Act.CREATE
    assert create.status is ActStatus.NO_OFFENCE
    assert create.offence is False
    assert create.rules == []
    assert create.source.startswith("LegCo reply, 28 Jan 2026")
    assert create.confidence is Confidence.CONFIRMED
    assert p.offence_summary == (
        "In Hong Kong, no criminal offence covers what you described. The other routes below are still open."
    )
    assert route_ids(p) == ["hk-pcpd", "hk-eoc", "hk-rainlily", "hk-civil", "stopncii", "institution"]
    assert "hk-police" not in route_ids(p)
    eoc = route(p, "hk-eoc")
    assert eoc.kind == "equality_body"
    assert eoc.name == "Equal Opportunities Commission (EOC)"
    (clock,) = eoc.deadlines
    assert clock.id == "hk-eoc-12m"
    assert clock.starts is ClockStart.INCIDENT
    assert clock.state is DeadlineState.OPEN
    assert clock.due == datetime(2027, 3, 1, 16, 0, tzinfo=UTC)  # end of 1 March 2027 in Hong Kong
    assert clock.due_text == "by the end of 2027-03-01 (Hong Kong time)"
    assert clock.hard is False  # the EOC *may* decline later complaints
    assert [r.citation for r in eoc.rules] == [
        "Sex Discrimination Ordinance (Cap. 480) sexual harassment provisions"
    ]
    pcpd = route(p, "hk-pcpd")
    assert [r.id for r in pcpd.rules] == [
        "hk-pdpo-s64-3a",
        "hk-pdpo-s64-3c",
        "hk-pdpo-s64c",
        "hk-pdpo-s66m",
        "hk-pdpo-s66",
    ]
    assert pcpd.rules[0].max_penalty == "a fine of HK$100,000 and 2 years' imprisonment"
    assert pcpd.contact == {"web": "https://www.pcpd.org.hk"}
    civil = route(p, "hk-civil")
    assert civil.kind == "civil_claim"
    assert "no consultation paper has been found" in " ".join(p.unconfirmed)


def test_hk_eoc_window_has_passed_after_twelve_months() -> None:
    p = pw("HK", "created", setting=Setting.SCHOOL, act_date=date(2025, 10, 1))
    (clock,) = route(p, "hk-eoc").deadlines
    assert clock.state is DeadlineState.ELAPSED
    assert clock.due == datetime(2026, 10, 1, 16, 0, tzinfo=UTC)


def test_hk_eoc_without_a_date_asks_for_it_and_online_setting_has_no_eoc() -> None:
    p = pw("HK", "created", setting=Setting.WORK)
    (clock,) = route(p, "hk-eoc").deadlines
    assert clock.state is DeadlineState.NEEDS_DATE
    assert clock.due is None
    assert "hk-eoc" not in route_ids(pw("HK", "created", setting=Setting.ONLINE))
    assert "institution" not in route_ids(pw("HK", "created", setting=Setting.ONLINE))


def test_hk_shared_and_threatened_are_crimes_with_police_and_platform_routes() -> None:
    p = pw("HK", "shared,threatened", setting=Setting.ONLINE)
    assert [a.act for a in p.acts] == [Act.DISTRIBUTE, Act.THREATEN]
    d, t = p.acts
    assert (d.status, d.offence) == (ActStatus.OFFENCE, True)
    assert (t.status, t.offence) == (ActStatus.OFFENCE, True)
    assert [r.id for r in d.rules] == ["hk-cap200-s159aae", "hk-cap200-s159aad"]
    assert d.rules[0].citation == "Crimes Ordinance (Cap. 200) s.159AAE"
    assert d.rules[0].max_penalty == "5 years' imprisonment"
    assert d.rules[0].in_force == date(2021, 10, 8)
    assert [c.confidence for c in d.caveats] == [Confidence.UNCONFIRMED]
    assert p.offence_summary == "In Hong Kong, sharing it and threatening to share it are crimes."
    assert route_ids(p) == ["hk-police", "hk-pcpd", "hk-rainlily", "hk-platform", "hk-civil", "stopncii"]
    police = route(p, "hk-police")
    assert police.contact["phone"] == "999"
    assert "s.159AAL" in [r.citation.split()[-1] for r in police.rules]


def test_hk_threat_about_an_image_that_does_not_exist_is_still_an_offence() -> None:
    p = pw("HK", "threatened,no-image")
    (t,) = p.acts
    assert t.offence is True
    assert "even if the image does not exist" in t.note


def test_hk_under_18_comes_first_routes_to_child_protection_and_stores_no_images() -> None:
    p = pw("HK", "shared", age=VictimAge.MINOR)
    assert p.child_notice is not None and p.child_notice.startswith(
        "The person in the images is or was under 18."
    )
    assert p.stores_images is False
    assert p.routes[0].child_route is True
    assert route_ids(p)[:2] == ["take-it-down", "hk-police"]
    assert "stopncii" not in route_ids(p)  # adults only
    assert p.collect[0].startswith("Do not save images of anyone under 18")
    assert not any("Screenshots" in c for c in p.collect)
    # was-minor (adult now, under 18 in the images) is treated the same
    q = pw("HK", "created", age=VictimAge.WAS_MINOR)
    assert q.child_notice is not None and "hk-police" in route_ids(q) and "take-it-down" in route_ids(q)


def test_contradicting_facts_are_named() -> None:
    with pytest.raises(GuidanceError) as err:
        pw("HK", "shared,not-shared")
    assert err.value.code == "contradictory_facts"
    assert "shared and also that they were not shared" in err.value.message
    with pytest.raises(GuidanceError, match="does not exist, but also that it was created"):
        pw("SG", "created,threatened,no-image")
    with pytest.raises(GuidanceError, match="互相矛盾"):
        pw("HK", "shared,not-shared", lang="zh-Hant")


def test_sg_creation_is_an_offence_with_unconfirmed_commencement() -> None:
    p = pw("SG", "created")
    (c,) = p.acts
    assert (c.status, c.offence, c.confidence) == (ActStatus.OFFENCE, True, Confidence.CONFIRMED)
    assert [r.id for r in c.rules] == ["sg-pc-s377bd-5"]
    assert c.rules[0].max_penalty == "2 years' imprisonment"
    assert [x.confidence for x in c.caveats] == [Confidence.UNCONFIRMED]
    assert "The date this new offence comes into force is not known." in p.unconfirmed
    assert route_ids(p) == ["sg-police", "sg-osc", "sg-civil", "stopncii"]


def test_sg_shared_starts_a_24h_commission_clock_only_once_it_exists() -> None:
    p = pw("SG", "shared")
    (clock,) = route(p, "sg-platform").deadlines
    assert (clock.id, clock.duration, clock.state) == (
        "sg-osc-24h",
        "24 hours",
        DeadlineState.STARTS_ON_EVENT,
    )
    earlier = pw("SG", "shared", now=datetime(2026, 6, 1, tzinfo=UTC))
    assert route(earlier, "sg-platform").deadlines[0].state is DeadlineState.NOT_IN_FORCE


def test_us_published_gets_the_48h_take_it_down_clock_and_civil_claim() -> None:
    p = pw("US", "shared")
    (d,) = p.acts
    assert (d.status, d.offence) == (ActStatus.OFFENCE, True)
    assert d.rules[0].max_penalty == "2 years (adult victim); 3 years (minor)"
    assert p.offence_summary == "In the United States (federal law), sharing it is a crime."
    assert route_ids(p) == [
        "us-law-enforcement",
        "us-platform-tida",
        "us-ftc",
        "us-civil",
        "stopncii",
    ]
    (clock,) = route(p, "us-platform-tida").deadlines
    assert clock.id == "us-tida-48h"
    assert clock.duration == "48 hours"
    assert clock.starts is ClockStart.TAKEDOWN_SENT
    assert clock.state is DeadlineState.STARTS_ON_EVENT
    assert clock.hard is True
    assert (
        route(pw("US", "shared", now=datetime(2026, 5, 1, tzinfo=UTC)), "us-platform-tida").deadlines[0].state
        is DeadlineState.NOT_IN_FORCE
    )


def test_us_creation_alone_is_not_a_federal_crime() -> None:
    p = pw("US", "created")
    assert p.acts[0].status is ActStatus.NO_OFFENCE
    assert route_ids(p) == ["stopncii"]


def test_uk_creation_is_an_offence_possession_unconfirmed_and_48h_proposal_flagged() -> None:
    p = pw("UK", "created,possessed,shared")
    c, pos, d = p.acts
    assert (c.status, c.offence) == (ActStatus.OFFENCE, True)
    assert [r.citation for r in c.rules] == [
        "Sexual Offences Act 2003 s.66E",
        "Sexual Offences Act 2003 s.66F",
    ]
    assert (pos.status, pos.confidence) == (ActStatus.NO_OFFENCE, Confidence.UNCONFIRMED)
    assert d.rules[0].max_penalty == "6 months' imprisonment (s.66B(1))"
    (clock,) = route(p, "uk-platform").deadlines
    assert (clock.id, clock.confidence) == ("uk-removal-48h", Confidence.UNCONFIRMED)
    assert "uk-police" in route_ids(p) and route(p, "uk-police").contact["phone"] == "101"


def test_kr_possession_is_an_offence_and_deletion_rule_is_unconfirmed() -> None:
    p = pw("KR", "possessed")
    (pos,) = p.acts
    assert (pos.status, pos.offence) == (ActStatus.OFFENCE, True)
    assert pos.rules[0].citation == "Act on Special Cases Concerning the Punishment of Sexual Crimes art.14-2"
    assert route_ids(p) == ["kr-police", "kr-d4u", "kr-1366", "stopncii"]
    (clock,) = route(p, "kr-d4u").deadlines
    assert clock.confidence is Confidence.UNCONFIRMED
    assert route(p, "kr-1366").contact == {"phone": "1366"}


def test_au_threat_is_civil_only_and_creation_limited_and_unconfirmed() -> None:
    p = pw("AU", "created,threatened")
    c, t = p.acts
    assert (c.status, c.offence, c.confidence) == (ActStatus.LIMITED, False, Confidence.UNCONFIRMED)
    assert (t.status, t.offence) == (ActStatus.CIVIL_ONLY, False)
    assert "au-police" not in route_ids(p)  # no federal crime in what was described
    (clock,) = route(p, "au-esafety").deadlines
    assert (clock.id, clock.starts, clock.duration) == (
        "au-esafety-24h",
        ClockStart.REGULATOR_NOTICE,
        "24 hours",
    )
    assert p.offence_summary.startswith(
        "In Australia (federal law), whether what you described is a crime depends"
    )


def test_eu_sharing_depends_on_national_law_until_transposition() -> None:
    p = pw("EU", "shared")
    (d,) = p.acts
    assert (d.status, d.offence) == (ActStatus.NATIONAL, False)
    assert d.rules[0].citation == "Directive (EU) 2024/1385 on combating violence against women Art.5"
    assert route_ids(p) == ["eu-police", "eu-platform", "stopncii"]


def test_act_before_the_offence_existed_is_flagged() -> None:
    p = pw("HK", "shared", act_date=date(2021, 1, 1))
    (d,) = p.acts
    assert d.offence is False
    assert d.in_force_note is not None and "2021-10-08" in d.in_force_note


def test_traditional_chinese_output_reads_as_chinese_with_hk_citations() -> None:
    p = pw("HK", "created,shared", setting=Setting.UNIVERSITY, act_date=date(2026, 3, 1), lang="zh-Hant")
    assert p.disclaimer.startswith(ZH_DISCLAIMER)
    assert p.jurisdiction_name == "香港"
    assert p.offence_summary == "在香港，分享屬刑事罪行。"
    d = act(p, Act.DISTRIBUTE)
    assert d.rules[0].citation == "《刑事罪行條例》（第200章）第159AAE條"
    assert d.rules[0].max_penalty == "監禁5年"
    eoc = route(p, "hk-eoc")
    assert eoc.name == "平等機會委員會"
    assert eoc.deadlines[0].due_text == "2027年3月1日（香港時間）當日結束前"
    assert route(p, "hk-pcpd").name == "個人資料私隱專員公署"
    kr = pw("KR", "shared", lang="zh-Hant")
    assert kr.acts[0].rules[0].citation == "《性暴力犯罪處罰特例法》第14條之2"


def test_future_act_date_and_unknown_inputs_are_refused() -> None:
    with pytest.raises(GuidanceError, match="in the future"):
        pw("HK", "shared", act_date=date(2027, 1, 1))
    with pytest.raises(GuidanceError) as err:
        pw("Narnia", "shared")
    assert err.value.code == "unknown_jurisdiction"
    with pytest.raises(GuidanceError) as err:
        parse_facts("created,teleported")
    assert err.value.code == "unknown_fact"
    with pytest.raises(GuidanceError) as err:
        parse_facts("not-shared")
    assert err.value.code == "no_facts"
    assert parse_facts("published, Threat ,made") == frozenset({Fact.SHARED, Fact.THREATENED, Fact.CREATED})


@pytest.mark.parametrize("code", ["HK", "UK", "SG", "KR", "AU", "US", "EU"])
@pytest.mark.parametrize("lang", ["en", "zh-Hant"])
def test_every_output_says_it_is_not_legal_advice(code: str, lang: str) -> None:
    p = pw(code, "created,shared,threatened", setting=Setting.UNIVERSITY, lang=lang)
    assert p.disclaimer.startswith(EN_DISCLAIMER if lang == "en" else ZH_DISCLAIMER)
    for r in p.routes:
        assert r.source and r.last_reviewed
        for rule in r.rules:
            assert rule.source and rule.last_reviewed
