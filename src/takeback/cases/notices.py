"""Notices and complaint drafts: a TAKE IT DOWN removal request, and complaints to the Hong Kong
Police, the PCPD and the EOC, in English and Traditional Chinese.

Each comes in two parts, because they have different readers:

* the **notice** (:func:`take_it_down_notice`, :func:`complaint_draft`) is what is sent. It is
  written to the platform or the officer who receives it and holds nothing addressed to the sender:
  no tool commands, no "check before sending" box, no legal-information footer, no internal ids.
  What the sender must still write in is a blank (``________``), not an instruction.
* the **cover note** (:func:`cover_note`) is for the sender: what to check and fill in, which links
  the notice covers and which it leaves out, the deadline that applies (only clocks that are really
  running are named as running), how to record the sending, and the legal-information notice.

A TAKE IT DOWN request is only valid with every element the Act lists (written; signed; identifies
the image and where it is; a good-faith statement that it was not consented to; contact details),
so :func:`take_it_down_notice` refuses to produce one that lacks any of them and names what is
missing. Names and contact details are used for the notice and never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.cases import service as cs
from takeback.cases.models import Case, Clock, ClockStatus, ReferralStatus, TakedownStatus
from takeback.clock import as_utc, format_local, get_zone, parse_duration, utcnow
from takeback.errors import TakebackError
from takeback.guidance.kb import KnowledgeBase, load_kb
from takeback.guidance.situation import VictimAge
from takeback.i18n import Translator, translate
from takeback.reports.document import Bullets, Document, Heading, KeyValues, Paragraph

#: where the sender still has to write something in
BLANK = "________"


class NoticeError(TakebackError):
    code = "notice_incomplete"

    def __init__(self, message: str, *, code: str | None = None, missing: Sequence[str] = ()) -> None:
        super().__init__(message, code=code)
        #: the elements a TAKE IT DOWN request lacks, as ``TID_ELEMENTS`` keys (a form names each)
        self.missing = list(missing)


class NoticeKind(StrEnum):
    TAKE_IT_DOWN = "take-it-down"
    HK_POLICE = "hk-police"
    HK_PCPD = "hk-pcpd"
    HK_EOC = "hk-eoc"


#: the knowledge-base channel each complaint goes to (for naming it and for `case refer`)
CHANNEL_OF = {NoticeKind.HK_POLICE: "hk-police", NoticeKind.HK_PCPD: "hk-pcpd", NoticeKind.HK_EOC: "hk-eoc"}
EOC_CLOCK = "hk-eoc-12m"


@dataclass(frozen=True)
class Location:
    """Where an image is or was: a URL, and what became of the removal request for it, if any."""

    url: str
    platform: str | None = None
    status: str | None = None  # a TakedownStatus value; None: no removal request recorded
    requested: datetime | None = None
    resolved: datetime | None = None
    takedown_id: int | None = None
    #: the removal clock running for this request, e.g. ("TAKE IT DOWN removal", due); None: none runs
    clock: tuple[str, datetime] | None = None


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """One evidence item as a notice names it (made by ``evidence.service.notice_evidence``)."""

    sha256: str | None
    pdq: str | None
    platform: str | None
    account: str | None
    url: str | None
    posted_at: datetime | None


@dataclass
class NoticeFacts:
    """What a notice is built from: the case's records plus details given only for this notice."""

    case_reference: str
    timezone: str
    urls: list[str]  # the links the notice covers
    items: list[dict[str, str | None]] = field(
        default_factory=list
    )  # sha256, pdq, platform, account, url, posted_at
    reports: list[tuple[str, str | None, str | None]] = field(
        default_factory=list
    )  # (channel id or name, date sent YYYY-MM-DD, their reference): reports already made
    incident_date: date | None = None
    setting: str | None = None
    victim_age: VictimAge = VictimAge.ADULT
    name: str | None = None
    contact: str | None = None
    signature: str | None = None
    platform: str | None = None
    relevant_info: str | None = None
    on_behalf_of: str | None = None  # authorised person acting for the depicted person
    bundle_sha256: str | None = None
    today: datetime | None = None
    #: the covered links with their request history (defaults to ``urls`` without history)
    locations: list[Location] = field(default_factory=list)
    #: links of the case the notice leaves out (removed or refused), for the cover note
    left_out: list[Location] = field(default_factory=list)
    #: open links recorded on another platform than the one a removal request is addressed to
    other_platform: list[Location] = field(default_factory=list)
    #: a draft referral for this notice's channel, to mark as sent once it is
    draft_referral_id: int | None = None

    def covered(self) -> list[Location]:
        return self.locations or [Location(u) for u in self.urls]


# The five elements of a valid request (TAKE IT DOWN Act, Pub. L. 119-12)
TID_ELEMENTS = {
    "signature": "a physical or electronic signature (--signature, e.g. /s/ Your Name)",
    "identification": "the image and where it is (URLs: --url or the case's open takedown and evidence URLs)",
    "good_faith": "a good-faith statement that the image was not consented to (always included)",
    "contact": "your contact details (--contact)",
    "name": "the name of the person signing (--name)",
}


def missing_take_it_down(f: NoticeFacts) -> list[str]:
    missing = []
    if not f.name:
        missing.append("name")
    if not f.signature:
        missing.append("signature")
    if not f.urls:
        missing.append("identification")
    if not f.contact:
        missing.append("contact")
    return missing


def _day(d: date, lang: str) -> str:
    return translate("common.date", lang, year=d.year, month=d.month, day=d.day)


def _local_day(dt: datetime, f: NoticeFacts, lang: str) -> str:
    return _day(as_utc(dt).astimezone(get_zone(f.timezone)).date(), lang)


def _date(f: NoticeFacts, lang: str) -> str:
    return _local_day(f.today or utcnow(), f, lang)


def _paren(text: str | None, lang: str) -> str:
    return translate("common.paren", lang, text=text) if text else ""


def _header(f: NoticeFacts, lang: str, to: str | None = None) -> KeyValues:
    _ = Translator(lang)
    pairs = [(_("notice.to"), to)] if to else []
    pairs.append((_("notice.date"), _date(f, lang)))
    if to:  # a complaint gives its reference with the contact details instead
        pairs.append((_("notice.my_reference"), f.case_reference))
    return KeyValues(pairs)


def take_it_down_notice(f: NoticeFacts, lang: str = "en") -> Document:
    """A removal request under the TAKE IT DOWN Act with every required element, or ``NoticeError``."""
    missing = missing_take_it_down(f)
    if missing:
        raise NoticeError(
            "A valid TAKE IT DOWN request needs: " + "; ".join(TID_ELEMENTS[m] for m in missing) + ".",
            code="notice_incomplete",
            missing=missing,
        )
    _ = Translator(lang)
    to = f.platform or _("notice.tid.to_default")
    doc = Document(title=_("notice.tid.title"), lang=lang)
    doc.add(_header(f, lang, to))
    doc.add(Paragraph(_("notice.tid.intro")))
    doc.add(Heading(_("notice.tid.h_depiction")))
    doc.add(Bullets(list(f.urls)))
    hashes = [i for i in f.items if i.get("sha256")]
    if hashes:
        doc.add(Paragraph(_("notice.tid.hashes_intro")))
        doc.add(
            Bullets(
                [f"SHA-256 {i['sha256']}" + (f" · PDQ {i['pdq']}" if i.get("pdq") else "") for i in hashes]
            )
        )
    doc.add(Heading(_("notice.tid.h_good_faith")))
    who = f.on_behalf_of or f.name
    stmt = _("notice.tid.statement_on_behalf" if f.on_behalf_of else "notice.tid.statement", who=who)
    doc.add(Paragraph(stmt))
    if f.relevant_info:
        doc.add(Paragraph(_("notice.tid.relevant_info", info=f.relevant_info)))
    doc.add(Heading(_("notice.tid.h_contact")))
    doc.add(KeyValues([(_("notice.name"), f.name or ""), (_("notice.contact"), f.contact or "")]))
    doc.add(Heading(_("notice.tid.h_signature")))
    doc.add(Paragraph(f"{f.signature}"))
    doc.add(Paragraph(_date(f, lang)))
    return doc


#: each complaint's catalogue prefix (``notice.<prefix>.title``, ``.body``)
_COMPLAINT = {NoticeKind.HK_POLICE: "police", NoticeKind.HK_PCPD: "pcpd", NoticeKind.HK_EOC: "eoc"}
_SETTINGS = ("university", "school", "work")


def eoc_window_end(f: NoticeFacts, kb: KnowledgeBase | None = None) -> datetime | None:
    """When the EOC's 12-month window for the act ends (the end of the anniversary date, HK time)."""
    if f.incident_date is None:
        return None
    found = (kb or load_kb()).clock(EOC_CLOCK)
    assert found is not None
    j, rule = found
    return cs.incident_window(f.incident_date, parse_duration(rule.duration), j.timezone)[1]


def _eoc_window_passed(f: NoticeFacts) -> bool:
    end = eoc_window_end(f)
    return end is not None and as_utc(f.today or utcnow()) >= end


def _where_text(loc: Location, f: NoticeFacts, lang: str) -> str:
    """A link and what became of the request to remove it, as the receiver reads it."""
    text = loc.url + _paren(loc.platform, lang)
    if loc.status is None or loc.requested is None:
        return text
    asked = _local_day(loc.requested, f, lang)
    done = _local_day(loc.resolved, f, lang) if loc.resolved else None
    status = TakedownStatus(loc.status)
    return text + translate(f"notice.where.{status.value}", lang, asked=asked, done=done or asked)


def _report_text(report: tuple[str, str | None, str | None], lang: str, kb: KnowledgeBase) -> str:
    to, when, ref = report
    ch = kb.channel(to)
    parts = [ch.name.get(lang) if ch is not None else to]
    if when:
        try:
            parts.append(_day(date.fromisoformat(when[:10]), lang))
        except ValueError:
            parts.append(when)
    if ref:
        parts.append(translate("notice.their_reference", lang, ref=ref))
    return translate("common.list_sep", lang).join(parts)


def complaint_draft(kind: NoticeKind, f: NoticeFacts, lang: str = "en") -> Document:
    """A complaint for the HK Police, PCPD or EOC, filled with the case's facts; blanks where only the
    person can write (her account, how it affected her, her name if not given)."""
    if kind is NoticeKind.TAKE_IT_DOWN:
        return take_it_down_notice(f, lang)
    kb = load_kb()
    _ = Translator(lang)
    prefix = _COMPLAINT[kind]
    setting = _(f"notice.setting.{f.setting if f.setting in _SETTINGS else 'any'}")
    doc = Document(title=_(f"notice.{prefix}.title"), lang=lang)
    doc.add(_header(f, lang))
    doc.add(Paragraph(_(f"notice.{prefix}.body", setting=setting)))
    if kind is NoticeKind.HK_POLICE and f.victim_age.under_18:
        doc.add(Paragraph(_("notice.police.child")))
    if kind is NoticeKind.HK_EOC and _eoc_window_passed(f):
        assert f.incident_date is not None
        doc.add(Paragraph(_("notice.eoc.late", date=_day(f.incident_date, lang), blank=BLANK)))
    doc.add(Heading(_("notice.h_what_happened")))
    facts: list[str] = [
        _("notice.act_on", date=_day(f.incident_date, lang))
        if f.incident_date
        else _("notice.act_date_blank", blank=BLANK)
    ]
    for i in f.items:
        where = " · ".join(x for x in (i.get("platform"), i.get("account"), i.get("url")) if x)
        posted = i.get("posted_at")
        if where or posted:
            facts.append(_("notice.posted", where=where) + _paren(posted, lang))
    facts.append(_("notice.own_words", blank=BLANK))
    facts.append(_("notice.affected", blank=BLANK))
    doc.add(Bullets(facts))
    covered = f.covered()
    if covered:
        doc.add(Heading(_("notice.h_where")))
        doc.add(Bullets([_where_text(loc, f, lang) for loc in covered]))
    doc.add(Heading(_("notice.h_evidence")))
    ev = [f"SHA-256 {i['sha256']}" for i in f.items if i.get("sha256")]
    if ev:
        ev.insert(0, _("notice.fingerprints"))
    if f.bundle_sha256:
        ev.insert(0, _("notice.bundle_sha256", sha256=f.bundle_sha256))
    doc.add(Bullets(ev or [_("notice.evidence_on_request")]))
    if f.reports:
        doc.add(Heading(_("notice.h_reports")))
        doc.add(Bullets([_report_text(r, lang, kb) for r in f.reports]))
    doc.add(Heading(_("notice.h_contact")))
    doc.add(
        KeyValues(
            [
                (_("notice.name"), f.name or BLANK),
                (_("notice.contact"), f.contact or BLANK),
                (_("notice.my_reference"), f.case_reference),
            ]
        )
    )
    return doc


def compose(
    kind: NoticeKind, f: NoticeFacts, lang: str = "en", *, surface: str = "cli"
) -> tuple[Document, Document]:
    """The notice to send and the cover note for the sender, as two separate documents."""
    notice = (
        take_it_down_notice(f, lang) if kind is NoticeKind.TAKE_IT_DOWN else complaint_draft(kind, f, lang)
    )
    return notice, cover_note(kind, f, lang, surface=surface)


def cover_note(
    kind: NoticeKind,
    f: NoticeFacts,
    lang: str = "en",
    *,
    notice_name: str | None = None,
    surface: str = "cli",
) -> Document:
    """What the sender needs and the receiver must not see: checks, blanks, links covered and left out,
    deadlines as they really stand, how to record the sending, and the legal-information notice.

    ``surface`` says where the sender records the sending: ``cli`` names the command, ``console``
    the case page's form."""
    console = surface == "console"
    _ = Translator(lang)
    ref = f.case_reference
    kb = load_kb()
    doc = Document(title=_("cover.title"), lang=lang, footer=_("cover.disclaimer"))
    channel = kb.channel(CHANNEL_OF[kind]) if kind in CHANNEL_OF else None
    target = channel.name.get(lang) if channel is not None else (f.platform or _("cover.the_platform"))
    doc.add(Paragraph(_("cover.intro", name=_paren(notice_name, lang), target=target)))

    before: list[str] = []
    if kind is NoticeKind.TAKE_IT_DOWN:
        before.append(_("cover.tid_check"))
    else:
        before.append(_("cover.draft", blank=BLANK))
        if not f.name or not f.contact:
            before.append(_("cover.add_name_console" if console else "cover.add_name"))
        before.append(_("cover.bundle_console") if console else _("cover.bundle", ref=ref))
    if kind is NoticeKind.HK_EOC:
        end = eoc_window_end(f)
        if end is None:
            before.append(_("cover.eoc_date"))
        else:
            last = (end.astimezone(get_zone("Asia/Hong_Kong"))).date()
            last_day = _day(date.fromordinal(last.toordinal() - 1), lang)
            if _eoc_window_passed(f):
                before.append(_("cover.eoc_passed", last_day=last_day, blank=BLANK))
            else:
                before.append(_("cover.eoc_by", last_day=last_day))
    doc.add(Heading(_("cover.h_before")))
    doc.add(Bullets(before))

    doc.add(Heading(_("cover.h_links")))
    covered = f.covered()
    doc.add(Bullets([_where_text(loc, f, lang) for loc in covered] or [_("cover.no_links")]))
    if f.left_out:
        doc.add(Paragraph(_("cover.left_out")))
        doc.add(Bullets([_where_text(loc, f, lang) for loc in f.left_out]))
    if f.other_platform:
        doc.add(Paragraph(_("cover.other_platform", platform=f.platform)))
        doc.add(Bullets([_where_text(loc, f, lang) for loc in f.other_platform]))

    after: list[str] = []
    if kind is NoticeKind.TAKE_IT_DOWN:
        for loc in covered:
            record = (
                f"takeback case takedown --case {ref} --url {loc.url}"
                + (
                    f" --platform {_quote(f.platform or loc.platform or '')}"
                    if (f.platform or loc.platform)
                    else ""
                )
                + " --under take-it-down"
            )
            if loc.clock is not None:
                label, due = loc.clock
                after.append(
                    _("cover.clock_running", url=loc.url, clock=label, due=format_local(due, f.timezone))
                )
            elif loc.takedown_id is not None:
                after.append(
                    _("cover.recorded_no_clock_console", url=loc.url, id=loc.takedown_id)
                    if console
                    else _("cover.recorded_no_clock", url=loc.url, id=loc.takedown_id, record=record)
                )
            else:
                after.append(
                    _("cover.record_tid_console", url=loc.url)
                    if console
                    else _("cover.record_tid", record=record)
                )
        after.append(_("cover.tid_48h"))
    elif console:
        after.append(_("cover.record_refer_console"))
    else:
        record = (
            f"takeback case refer --case {ref} --id {f.draft_referral_id} --status sent"
            if f.draft_referral_id is not None
            else f"takeback case refer --case {ref} --to {CHANNEL_OF[kind]} --status sent"
        )
        after.append(_("cover.record_refer", record=record))
    doc.add(Heading(_("cover.h_after")))
    doc.add(Bullets(after))
    return doc


def _quote(text: str) -> str:
    return (
        text if text.replace("-", "").replace(".", "").isalnum() else "'" + text.replace("'", "'\\''") + "'"
    )


# --- building the facts from a case -----------------------------------------------------------------


def _closed(statuses: list[str]) -> bool:
    """A link is no longer to be asked about once removed, or once every request for it was refused."""
    s = set(statuses)
    return TakedownStatus.REMOVED.value in s or (bool(s) and s <= {TakedownStatus.REFUSED.value})


def notice_facts(
    session: Session,
    *,
    case: Case,
    kind: NoticeKind,
    evidence: Sequence[EvidenceRef],
    urls: list[str] | None = None,
    name: str | None = None,
    contact: str | None = None,
    signature: str | None = None,
    platform: str | None = None,
    relevant_info: str | None = None,
    on_behalf_of: str | None = None,
    now: datetime | None = None,
) -> NoticeFacts:
    """The facts for a notice from the case's records.

    Which links it covers: ``urls`` if given (any of the case's, whatever their status, or new ones);
    otherwise the case's open ones, i.e. takedowns not removed or refused and evidence URLs with no
    request yet; a TAKE IT DOWN request to a named ``platform`` covers only that platform's links (and
    links with no platform recorded). Links left out are listed for the cover note. ``evidence`` is
    the case's evidence as ``evidence.service.notice_evidence`` gives it (evidence stands above cases).
    """
    kb = load_kb()
    z = case.timezone
    tds = cs.takedowns(session, case=case)
    running: dict[str, tuple[str, datetime]] = {}
    for clock in session.scalars(
        select(Clock).where(Clock.case_id == case.id, Clock.status == ClockStatus.RUNNING.value)
    ):
        found = kb.clock(clock.kind)
        if clock.subject:
            running[clock.subject] = (found[1].label.get("en") if found else clock.kind, as_utc(clock.due_at))

    by_url: dict[str, list[Location]] = {}
    for t in tds:
        by_url.setdefault(t.url, []).append(
            Location(
                url=t.url,
                platform=t.platform,
                status=t.status,
                requested=as_utc(t.sent_at),
                resolved=as_utc(t.resolved_at) if t.resolved_at else None,
                takedown_id=t.id,
                clock=running.get(f"takedown:{t.id}"),
            )
        )
    for i in evidence:
        if i.url and i.url not in by_url:
            by_url[i.url] = [Location(url=i.url, platform=i.platform)]

    def latest(u: str) -> Location:
        return by_url[u][-1] if u in by_url else Location(u, platform)

    left_out: list[Location] = []
    elsewhere: list[Location] = []
    if urls:
        chosen = list(dict.fromkeys(u.strip() for u in urls if u.strip()))
        covered = [latest(u) for u in chosen]
    else:
        covered = []
        for locs in by_url.values():
            if _closed([loc.status for loc in locs if loc.status is not None]):
                left_out.append(locs[-1])
                continue
            open_locs = [loc for loc in locs if loc.status is None or not TakedownStatus(loc.status).is_final]
            covered.append(open_locs[-1])
        if kind is NoticeKind.TAKE_IT_DOWN and platform:
            wanted = platform.strip().casefold()
            elsewhere = [x for x in covered if x.platform and x.platform.strip().casefold() != wanted]
            covered = [x for x in covered if x not in elsewhere]

    draft = None
    if kind in CHANNEL_OF:
        for r in cs.referrals(session, case=case):
            if r.channel == CHANNEL_OF[kind] and r.status in (
                ReferralStatus.DRAFT.value,
                ReferralStatus.PLANNED.value,
            ):
                draft = r.id
    sent_statuses = {s.value for s in ReferralStatus} - {
        ReferralStatus.DRAFT.value,
        ReferralStatus.PLANNED.value,
    }
    return NoticeFacts(
        case_reference=case.reference,
        timezone=z,
        urls=[loc.url for loc in covered],
        items=[
            {
                "sha256": i.sha256,
                "pdq": i.pdq,
                "platform": i.platform,
                "account": i.account,
                "url": i.url,
                "posted_at": format_local(as_utc(i.posted_at), z) if i.posted_at else None,
            }
            for i in evidence
        ],
        reports=[
            (
                r.channel,
                as_utc(r.sent_at).astimezone(get_zone(z)).date().isoformat() if r.sent_at else None,
                r.reference_number,
            )
            for r in cs.referrals(session, case=case)
            if r.status in sent_statuses
        ],
        incident_date=case.incident_date,
        setting=case.setting,
        victim_age=case.age,
        name=name,
        contact=contact,
        signature=signature,
        platform=platform,
        relevant_info=relevant_info,
        on_behalf_of=on_behalf_of,
        today=now,
        locations=covered,
        left_out=left_out,
        other_platform=elsewhere,
        draft_referral_id=draft,
    )
