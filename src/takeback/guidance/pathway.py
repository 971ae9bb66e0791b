"""The pathway engine: from what happened to which acts are offences, which routes fit, and by when.

Plain data in, plain data out (:class:`Pathway`), so the CLI, the web app and reports show the same
thing. It never gives advice: every result carries the legal-information notice, every fact its
citation and confidence, and unconfirmed facts are flagged where they appear. Where to get help now
comes first. If the person is or was under 18, that is said next, the knowledge base's findings for
images of children replace the adult ones (never "not a crime"), child-protection routes lead,
adult-only services are left out, and no step asks for a copy or screenshot of the images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from takeback.clock import add_months, end_of_day, get_zone, parse_duration, utcnow
from takeback.guidance.kb import (
    Act,
    ActFinding,
    ActStatus,
    Caveat,
    Channel,
    ClockRule,
    ClockStart,
    Confidence,
    GuidanceError,
    Jurisdiction,
    KnowledgeBase,
    Need,
    Rule,
    Support,
    Text,
    load_kb,
)
from takeback.guidance.situation import Setting, VictimAge
from takeback.i18n import LANGS, Translator, translate


class Fact(StrEnum):
    CREATED = "created"
    POSSESSED = "possessed"
    SHARED = "shared"
    THREATENED = "threatened"
    NO_IMAGE = "no-image"  # a threat about an image that does not exist
    NOT_SHARED = "not-shared"
    NOT_IDENTIFIABLE = "not-identifiable"  # the person cannot be identified from the images


FACT_ALIASES: dict[str, Fact] = {
    **{f.value: f for f in Fact},
    "create": Fact.CREATED,
    "made": Fact.CREATED,
    "generated": Fact.CREATED,
    "possess": Fact.POSSESSED,
    "kept": Fact.POSSESSED,
    "stored": Fact.POSSESSED,
    "viewed": Fact.POSSESSED,
    "share": Fact.SHARED,
    "published": Fact.SHARED,
    "posted": Fact.SHARED,
    "distributed": Fact.SHARED,
    "sent": Fact.SHARED,
    "threaten": Fact.THREATENED,
    "threat": Fact.THREATENED,
    "no-images": Fact.NO_IMAGE,
    "not-published": Fact.NOT_SHARED,
    "anonymous": Fact.NOT_IDENTIFIABLE,
}

ACT_OF_FACT = {
    Fact.CREATED: Act.CREATE,
    Fact.POSSESSED: Act.POSSESS,
    Fact.SHARED: Act.DISTRIBUTE,
    Fact.THREATENED: Act.THREATEN,
}

#: the legal-information notice (the footer of every guide page and bundle summary)
DISCLAIMER = Text.model_validate({lang: translate("pathway.disclaimer", lang) for lang in LANGS})

#: what a guide says first when the person is or was under 18
CHILD_NOTICE = Text.model_validate({lang: translate("pathway.child_notice", lang) for lang in LANGS})


def _need(en: str, zh: str, **tags: object) -> Need:
    return Need.model_validate({"en": en, "zh-Hant": zh, **tags})


#: what victims are told to collect (LEGAL-FACTS "What victims are told to collect"), each step tagged
#: with what it presupposes so a page shows only the steps that fit what happened and who it is about
COLLECT: list[Need] = [
    _need(
        "Do not save images of anyone under 18: record links and fingerprints only",
        "切勿儲存任何涉及未滿18歲人士的影像：只記錄連結及「指紋」",
        age="under_18",
    ),
    _need("Screenshots that include the URL", "包含網址的螢幕截圖", saves_image=True, only_if=["shared"]),
    _need(
        "The date and time of posting, and when you captured it",
        "內容的發布日期和時間，以及你截圖的時間",
        age="adult",
        only_if=["shared"],
    ),
    _need(
        "Where you saw or heard of the images (a link, an app or group, someone's device), when, and who "
        "was involved, written down without saving, screenshotting or forwarding the images",
        "以文字記下你在哪裏看到或得知這些影像（連結、應用程式或群組、某人的裝置）、時間及涉及的人，"
        "但切勿儲存、截取或轉發影像",
        age="under_18",
    ),
    _need(
        "The username, handle or platform ID of whoever posted it or sent the threat",
        "發布者或發出威脅者的用戶名稱、帳號或平台識別碼",
        only_if=["shared", "threatened"],
    ),
    _need("Messages and threats, in full", "所有訊息及威脅的完整內容", age="adult", only_if=["threatened"]),
    _need(
        "What threatening messages said, when and from which account (the words only, not any image in them)",
        "威脅訊息的內容、時間及發送帳戶（只記下文字，不要保留訊息中的任何影像）",
        age="under_18",
        only_if=["threatened"],
    ),
    _need("Reports you have already made, with their reference numbers", "你已作出的舉報及其參考編號"),
    _need(
        "Everything in one timeline (`takeback evidence timeline`)",
        "把所有資料整理成一份時序（`takeback evidence timeline`）",
    ),
    _need(
        "Consider going to the police before reporting to platforms, so evidence is not removed early",
        "考慮先報警，再向平台舉報，以免證據過早被移除",
        only_if=["shared"],
    ),
    _need("Use a separate email address for reports", "另設一個專門用於舉報的電郵地址"),
]
COLLECT_SOURCE = "Revenge Porn Helpline, eSafety Commissioner and RMIT guidance on evidence collection"

_PRESUPPOSED = {"shared": Fact.SHARED, "threatened": Fact.THREATENED}


def need_fits(n: Need, s: Situation) -> bool:
    """A step is shown only if it fits: no image-saving step for under-18s, nothing about posts unless
    something was posted (or a threat made), and age-specific wording for the right person."""
    under_18 = s.victim_age.under_18
    if under_18 and (n.saves_image or n.age == "adult"):
        return False
    if not under_18 and n.age == "under_18":
        return False
    return n.only_if is None or any(_PRESUPPOSED[x] in s.facts for x in n.only_if)


@dataclass(frozen=True)
class Situation:
    """What happened, as the person describes it."""

    jurisdiction: str
    facts: frozenset[Fact]
    victim_age: VictimAge = VictimAge.ADULT
    setting: Setting | None = None
    act_date: date | None = None


@dataclass(frozen=True)
class SupportOut:
    name: str
    phone: str | None
    web: str | None
    note: str | None
    source: str
    confidence: Confidence


@dataclass(frozen=True)
class CaveatOut:
    text: str
    confidence: Confidence
    source: str


@dataclass(frozen=True)
class RuleOut:
    id: str
    citation: str
    title: str
    max_penalty: str | None
    in_force: date | None
    confidence: Confidence
    source: str
    source_url: str | None
    last_reviewed: date
    caveats: list[CaveatOut]


@dataclass(frozen=True)
class ActOut:
    act: Act
    status: ActStatus
    offence: bool
    note: str
    rules: list[RuleOut]
    confidence: Confidence
    source: str
    last_reviewed: date
    caveats: list[CaveatOut]
    in_force_note: str | None = None


class DeadlineState(StrEnum):
    OPEN = "open"  # running, due in the future
    ELAPSED = "elapsed"  # the window has passed
    NEEDS_DATE = "needs_date"  # give the date of the act to compute it
    STARTS_ON_EVENT = "starts_on_event"  # starts when a request is sent / a notice issued
    NOT_IN_FORCE = "not_in_force"


@dataclass(frozen=True)
class DeadlineOut:
    id: str
    label: str
    explain: str
    duration: str
    starts: ClockStart
    state: DeadlineState
    due: datetime | None
    due_text: str | None
    hard: bool
    confidence: Confidence
    source: str


@dataclass(frozen=True)
class RouteOut:
    id: str
    kind: str
    name: str
    why: str
    needs: list[str]
    deadlines: list[DeadlineOut]
    rules: list[RuleOut]
    contact: dict[str, str]
    confidence: Confidence
    source: str
    last_reviewed: date
    caveats: list[CaveatOut]
    child_route: bool


@dataclass
class Pathway:
    jurisdiction: str
    jurisdiction_name: str
    lang: str
    #: where to get help now: shown before anything else
    support: list[SupportOut]
    #: shown when the reviewed facts name no service for this person (then ``support`` is empty)
    support_generic: str | None
    child_notice: str | None
    disclaimer: str
    summary: str
    situation: Situation
    acts: list[ActOut]
    offence_summary: str
    routes: list[RouteOut]
    collect: list[str]
    unconfirmed: list[str] = field(default_factory=list)
    stores_images: bool = True


# --- parsing and checking input ------------------------------------------------------------------


def parse_facts(text: str | list[str]) -> frozenset[Fact]:
    parts = text if isinstance(text, list) else text.split(",")
    out: set[Fact] = set()
    for raw in parts:
        key = raw.strip().lower().replace("_", "-").replace(" ", "-")
        if not key:
            continue
        fact = FACT_ALIASES.get(key)
        if fact is None:
            known = ", ".join(f.value for f in Fact)
            raise GuidanceError(f"Unknown fact {raw.strip()!r}. Use any of: {known}.", code="unknown_fact")
        out.add(fact)
    if not out & set(ACT_OF_FACT):
        raise GuidanceError(
            "Say what happened with at least one of: created, possessed, shared, threatened.", code="no_facts"
        )
    return frozenset(out)


def contradictions(s: Situation, lang: str = "en") -> list[str]:
    """Facts that cannot all be true at once, each said in plain words."""
    _ = Translator(lang)
    found: list[str] = []
    f = s.facts
    if Fact.SHARED in f and Fact.NOT_SHARED in f:
        found.append(_("pathway.contradiction.shared"))
    if Fact.NO_IMAGE in f:
        for fact in (Fact.CREATED, Fact.POSSESSED, Fact.SHARED):
            if fact in f:
                found.append(_("pathway.contradiction.no_image", fact=_(f"pathway.fact.{fact.value}")))
        if Fact.THREATENED not in f:
            found.append(_("pathway.contradiction.no_threat"))
    return found


# --- the engine ------------------------------------------------------------------------------------


def _caveats(items: list[Caveat], lang: str, s: Situation) -> list[CaveatOut]:
    """The caveats that apply here (a workplace-only point is left out of a university case)."""
    setting = s.setting.value if s.setting else None
    return [
        CaveatOut(c.text.get(lang), c.confidence, c.source)
        for c in items
        if c.settings is None or setting in c.settings
    ]


_SECTION = re.compile(r"^(ss?|art)\.\s*([0-9A-Z][0-9A-Za-z.()\-–]*)$", re.IGNORECASE)


def cite_section(r: Rule, lang: str) -> str:
    """How a section is cited: ``s.159AAE`` in English, ``第159AAE條`` in Chinese."""
    if lang != "zh-Hant":
        return r.section
    if r.section_zh is not None:
        return r.section_zh
    m = _SECTION.match(r.section)
    if not m:
        return r.section
    kind, number = m.group(1).lower(), m.group(2)
    if kind == "art" and "-" in number:
        main, sub = number.split("-", 1)
        return f"第{main}條之{sub}"
    return f"第{number.replace('–', '至')}條"


def citation(r: Rule, lang: str) -> str:
    instrument = r.instrument.get(lang)
    section = cite_section(r, lang)
    if not section or section in instrument:
        return instrument
    return f"{instrument}{section}" if lang == "zh-Hant" else f"{instrument} {section}"


def _rule_out(r: Rule, lang: str, s: Situation) -> RuleOut:
    return RuleOut(
        id=r.id,
        citation=citation(r, lang),
        title=r.title.get(lang),
        max_penalty=r.max_penalty.get(lang) if r.max_penalty else None,
        in_force=r.in_force,
        confidence=r.confidence,
        source=r.source,
        source_url=r.source_url,
        last_reviewed=r.last_reviewed,
        caveats=_caveats(r.caveats, lang, s),
    )


def _fits(ch: Channel, s: Situation) -> bool:
    under_18 = s.victim_age.under_18
    if ch.when.age == "adult" and under_18:
        return False
    if ch.when.age == "under_18" and not under_18:
        return False
    if under_18 and ch.child_route:
        return True
    if ch.when.settings is not None and (s.setting is None or s.setting.value not in ch.when.settings):
        return False
    if ch.when.needs_identifiable and Fact.NOT_IDENTIFIABLE in s.facts:
        return False
    if ch.when.acts_any is not None:
        acts = {ACT_OF_FACT[f] for f in s.facts if f in ACT_OF_FACT}
        if not acts & set(ch.when.acts_any):
            return False
    return True


def _deadline(c: ClockRule, j: Jurisdiction, s: Situation, lang: str, now: datetime) -> DeadlineOut:
    duration = parse_duration(c.duration)
    due: datetime | None = None
    if c.in_force_from is not None and now.date() < c.in_force_from:
        state = DeadlineState.NOT_IN_FORCE
    elif c.starts is ClockStart.INCIDENT:
        if s.act_date is None:
            state = DeadlineState.NEEDS_DATE
        else:
            last_day = add_months(s.act_date, duration.months) if duration.months else s.act_date
            due = end_of_day(last_day, j.timezone) if duration.months else None
            state = DeadlineState.ELAPSED if due is not None and now >= due else DeadlineState.OPEN
    else:
        state = DeadlineState.STARTS_ON_EVENT
    return DeadlineOut(
        id=c.id,
        label=c.label.get(lang),
        explain=c.explain.get(lang),
        duration=duration.describe(lang),
        starts=c.starts,
        state=state,
        due=due,
        due_text=None if due is None else _due_text(due, j, lang),
        hard=c.hard,
        confidence=c.confidence,
        source=c.source,
    )


def _due_text(due: datetime, j: Jurisdiction, lang: str) -> str:
    last_day = (due.astimezone(get_zone(j.timezone)) - timedelta(microseconds=1)).date()
    day = translate("common.date", lang, year=last_day.year, month=last_day.month, day=last_day.day)
    return translate("pathway.due_by", lang, date=day, zone=j.name.get(lang))


_IN_NAME = {
    "US": "the United States (federal law)",
    "UK": "England and Wales",
    "EU": "the European Union",
    "AU": "Australia (federal law)",
}


def _offence_summary(acts: list[ActOut], j: Jurisdiction, lang: str, under_18: bool) -> str:
    """One sentence that agrees with the act headings below it: "no criminal offence" only when every
    act is plainly not one (which the knowledge base never allows for an under-18's images)."""
    _ = Translator(lang)
    name = j.name.get(lang) if lang == "zh-Hant" else _IN_NAME.get(j.code, j.name.en)
    offences = [a for a in acts if a.offence]
    unreviewed = [a for a in acts if a.status is ActStatus.UNREVIEWED]
    uncertain = [a for a in acts if not a.offence and a.status is not ActStatus.NO_OFFENCE]
    if offences:
        parts = [_(f"pathway.act_phrase.{a.act.value}") for a in offences]
        listed = parts[0]
        if len(parts) > 1:
            listed = _("common.enum_sep").join(parts[:-1]) + _("common.and") + parts[-1]
        text = _.plural("pathway.summary.crimes", len(parts), name=name, acts=listed)
        if unreviewed:
            maybe = _("common.and").join(_(f"pathway.act_phrase.{a.act.value}") for a in unreviewed)
            text += _("pathway.summary.unreviewed", acts=maybe)
        return text
    if unreviewed and under_18:
        return _("pathway.summary.under_18", name=name)
    if uncertain or under_18:
        return _("pathway.summary.depends", name=name)
    return _("pathway.summary.none", name=name)


def build_pathway(
    s: Situation, *, lang: str = "en", kb: KnowledgeBase | None = None, now: datetime | None = None
) -> Pathway:
    """Work out the pathway for a situation. Raises ``GuidanceError`` for contradictory facts."""
    if lang not in ("en", "zh-Hant"):
        raise GuidanceError(f"Unknown language {lang!r}; use en or zh-Hant.", code="unknown_language")
    base = kb or load_kb()
    j = base.get(s.jurisdiction)
    current = now or utcnow()
    if s.act_date is not None and s.act_date > current.date():
        raise GuidanceError(
            f"The date of the act ({s.act_date.isoformat()}) is in the future.", code="future_time"
        )
    problems = contradictions(s, lang)
    if problems:
        raise GuidanceError(
            translate("pathway.contradictory", lang, problems=" ".join(problems)), code="contradictory_facts"
        )

    under_18 = s.victim_age.under_18
    rules = {r.id: r for r in j.rules}
    acts_out: list[ActOut] = []
    for fact in sorted(s.facts & set(ACT_OF_FACT), key=lambda f: list(ACT_OF_FACT).index(f)):
        act = ACT_OF_FACT[fact]
        finding: ActFinding = j.minor_acts.get(act, j.acts[act]) if under_18 else j.acts[act]
        cited = [_rule_out(rules[rid], lang, s) for rid in finding.rules]
        in_force_note = None
        if s.act_date is not None and finding.status is ActStatus.OFFENCE:
            later = [r for r in cited if r.in_force is not None and s.act_date < r.in_force]
            if later and len(later) == len(cited):
                first = min(r.in_force for r in later if r.in_force is not None)
                in_force_note = translate("pathway.in_force", lang, date=first.isoformat())
        acts_out.append(
            ActOut(
                act=act,
                status=finding.status,
                offence=finding.status is ActStatus.OFFENCE and in_force_note is None,
                note=finding.note.get(lang),
                rules=cited,
                confidence=finding.confidence,
                source=finding.source,
                last_reviewed=finding.last_reviewed,
                caveats=_caveats(finding.caveats, lang, s),
                in_force_note=in_force_note,
            )
        )

    clocks = {c.id: c for c in j.clocks}
    routes: list[RouteOut] = []
    for ch in base.channels_for(j):
        if not _fits(ch, s):
            continue
        routes.append(
            RouteOut(
                id=ch.id,
                kind=ch.kind.value,
                name=ch.name.get(lang),
                why=(ch.why_minor if under_18 and ch.why_minor else ch.why).get(lang),
                needs=[n.get(lang) for n in ch.needs if need_fits(n, s)],
                deadlines=[_deadline(clocks[c], j, s, lang, current) for c in ch.clocks],
                rules=[_rule_out(rules[r], lang, s) for r in ch.rules],
                contact={
                    k: v
                    for k, v in {
                        "web": ch.contact.web if ch.contact else None,
                        "phone": ch.contact.phone if ch.contact else None,
                        "note": ch.contact.note.get(lang) if ch.contact and ch.contact.note else None,
                    }.items()
                    if v
                },
                confidence=ch.confidence,
                source=ch.source,
                last_reviewed=ch.last_reviewed,
                caveats=_caveats(ch.caveats, lang, s),
                child_route=ch.child_route,
            )
        )
    if under_18:
        routes.sort(key=lambda r: (not r.child_route, r.kind != "child_protection"))

    collect = [c.get(lang) for c in COLLECT if need_fits(c, s)]
    support = [_support_out(x, lang) for x in j.support if _support_fits(x, s)]

    unconfirmed: list[str] = []
    for a in acts_out:
        if a.confidence is Confidence.UNCONFIRMED:
            unconfirmed.append(a.note)
        unconfirmed.extend(c.text for c in a.caveats if c.confidence is Confidence.UNCONFIRMED)
        for r in a.rules:
            unconfirmed.extend(c.text for c in r.caveats if c.confidence is Confidence.UNCONFIRMED)
    for route in routes:
        unconfirmed.extend(c.text for c in route.caveats if c.confidence is Confidence.UNCONFIRMED)
        unconfirmed.extend(d.explain for d in route.deadlines if d.confidence is Confidence.UNCONFIRMED)
    unconfirmed = list(dict.fromkeys(unconfirmed))

    return Pathway(
        jurisdiction=j.code,
        jurisdiction_name=j.name.get(lang),
        lang=lang,
        support=support,
        support_generic=None if support else base.support_generic.text.get(lang),
        child_notice=CHILD_NOTICE.get(lang) if under_18 else None,
        disclaimer=DISCLAIMER.get(lang),
        summary=(j.summary_minor if under_18 and j.summary_minor else j.summary).get(lang),
        situation=s,
        acts=acts_out,
        offence_summary=_offence_summary(acts_out, j, lang, under_18),
        routes=routes,
        collect=collect,
        unconfirmed=unconfirmed,
        stores_images=not under_18,
    )


def _support_fits(x: Support, s: Situation) -> bool:
    under_18 = s.victim_age.under_18
    return x.age == "any" or (x.age == "under_18") == under_18


def _support_out(x: Support, lang: str) -> SupportOut:
    return SupportOut(
        name=x.name.get(lang),
        phone=x.phone,
        web=x.web,
        note=x.note.get(lang) if x.note else None,
        source=x.source,
        confidence=x.confidence,
    )
