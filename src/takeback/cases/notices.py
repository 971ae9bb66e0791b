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
from takeback.guidance.kb import KnowledgeBase, Text, load_kb
from takeback.guidance.situation import VictimAge
from takeback.reports.document import Bullets, Document, Heading, KeyValues, Paragraph

#: where the sender still has to write something in
BLANK = "________"

#: the legal-information notice, for the cover note (never inside the notice that is sent)
COVER_DISCLAIMER = Text.model_validate(
    {
        "en": "This is legal information, not legal advice: laws change and every case is different. If you "
        "can, have a lawyer or a support service read the notice before you send it.",
        "zh-Hant": "以上為法律資訊，並非法律意見：法例會修改，每宗個案的情況亦各有不同。"
        "如有可能，請在發出通知前先請律師或支援機構細閱。",
    }
)


class NoticeError(TakebackError):
    code = "notice_incomplete"


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
    return f"{d.year}年{d.month}月{d.day}日" if lang == "zh-Hant" else d.isoformat()


def _local_day(dt: datetime, f: NoticeFacts, lang: str) -> str:
    return _day(as_utc(dt).astimezone(get_zone(f.timezone)).date(), lang)


def _date(f: NoticeFacts, lang: str) -> str:
    return _local_day(f.today or utcnow(), f, lang)


def _header(f: NoticeFacts, lang: str, to: str | None = None) -> KeyValues:
    zh = lang == "zh-Hant"
    pairs = [("致" if zh else "To", to)] if to else []
    pairs.append(("日期" if zh else "Date", _date(f, lang)))
    if to:  # a complaint gives its reference with the contact details instead
        pairs.append(("本人的參考編號" if zh else "My reference", f.case_reference))
    return KeyValues(pairs)


def take_it_down_notice(f: NoticeFacts, lang: str = "en") -> Document:
    """A removal request under the TAKE IT DOWN Act with every required element, or ``NoticeError``."""
    missing = missing_take_it_down(f)
    if missing:
        raise NoticeError(
            "A valid TAKE IT DOWN request needs: " + "; ".join(TID_ELEMENTS[m] for m in missing) + ".",
            code="notice_incomplete",
        )
    zh = lang == "zh-Hant"
    to = f.platform or ("平台信任及安全團隊" if zh else "Trust and Safety team")
    doc = Document(
        title="TAKE IT DOWN 移除要求" if zh else "Removal request under the TAKE IT DOWN Act", lang=lang
    )
    doc.add(_header(f, lang, to))
    if zh:
        doc.add(
            Paragraph(
                "本人根據美國《TAKE IT DOWN法案》（公法119-12）提出此書面要求，"
                "請貴平台移除下列未經同意發布的私密影像，"
                "並在收到此要求後48小時內完成移除，以及作出合理努力移除所有相同的副本。"
            )
        )
    else:
        doc.add(
            Paragraph(
                "This is a written request under the TAKE IT DOWN "
                "Act (Pub. L. 119-12) to remove the intimate visual "
                "depiction(s) identified below, published without "
                "consent. Please remove them within 48 hours of "
                "receiving this request, and make reasonable efforts to remove any identical copies."
            )
        )
    doc.add(Heading("1. 影像及其位置" if zh else "1. The depiction and where it is"))
    doc.add(Bullets(list(f.urls)))
    hashes = [i for i in f.items if i.get("sha256")]
    if hashes:
        doc.add(
            Paragraph(
                "以下是影像的「指紋」（雜湊值），可協助貴平台找出相同的副本："
                if zh
                else "Fingerprints (hashes) of the images, to help you find identical copies:"
            )
        )
        doc.add(
            Bullets(
                [f"SHA-256 {i['sha256']}" + (f" · PDQ {i['pdq']}" if i.get("pdq") else "") for i in hashes]
            )
        )
    doc.add(Heading("2. 真誠聲明" if zh else "2. Statement of good faith"))
    who = f.on_behalf_of or f.name
    if zh:
        stmt = (
            f"本人真誠相信，上述影像中可被辨識的人士（{who}）並無同意發布該影像。"
            if not f.on_behalf_of
            else f"本人獲授權代表{who}行事，並真誠相信，上述影像中可被辨識的人士並無同意發布該影像。"
        )
    else:
        stmt = (
            "I have a good faith belief that the intimate visual "
            f"depiction of the identifiable individual ({who}) "
            "identified above was not consensual."
            if not f.on_behalf_of
            else (
                f"I am authorised to act on behalf of {who}, and I "
                "have a good faith belief that the intimate visual "
                "depiction of the identifiable individual identified above was not consensual."
            )
        )
    doc.add(Paragraph(stmt))
    if f.relevant_info:
        doc.add(Paragraph(("相關資料：" if zh else "Relevant information: ") + f.relevant_info))
    doc.add(Heading("3. 聯絡資料" if zh else "3. Contact information"))
    doc.add(
        KeyValues(
            [("姓名" if zh else "Name", f.name or ""), ("聯絡方法" if zh else "Contact", f.contact or "")]
        )
    )
    doc.add(Heading("4. 簽署" if zh else "4. Signature"))
    doc.add(Paragraph(f"{f.signature}"))
    doc.add(Paragraph(_date(f, lang)))
    return doc


_BODIES = {
    NoticeKind.HK_POLICE: {
        "en": (
            "Report to the Hong Kong Police Force",
            "I wish to report the publication of, or threats to publish, intimate images of me without my "
            "consent, which I understand may be offences under sections 159AAE and 159AAD of the Crimes "
            "Ordinance (Cap. 200). I ask the police to investigate, and to consider seeking an order for the "
            "images to be removed or destroyed (section 159AAL).",
        ),
        "zh-Hant": (
            "向香港警務處報案",
            "本人現就他人在未經本人同意下發布或威脅發布本人的私密影像一事報案。據本人理解，有關行為可能觸犯《刑事罪行條例》"
            "（第200章）第159AAE條及第159AAD條。本人要求警方展開調查，並考慮申請命令移除或銷毀有關影像（第159AAL條）。",
        ),
    },
    NoticeKind.HK_PCPD: {
        "en": (
            "Complaint to the Office of the Privacy Commissioner for Personal Data",
            "I wish to complain about the use and disclosure of "
            "my personal data: intimate images from which I "
            "can be identified were made and/or disclosed without my consent. I ask the Commissioner to "
            "investigate, including under section 64 of the "
            "Personal Data (Privacy) Ordinance (Cap. 486), and "
            "to consider a cessation notice (section 66M) for "
            "any content still online. I can provide evidence "
            "as fingerprints (hashes) without sending the images again.",
        ),
        "zh-Hant": (
            "向個人資料私隱專員公署投訴",
            "本人現就本人個人資料被使用及披露一事作出投訴：他人在未經本人同意下，製作及／或披露能辨識出本人的私密影像。"
            "本人要求私隱專員展開調查，包括根據《個人資料（私隱）條例》（第486章）第64條進行調查，並考慮就仍在網上的內容"
            "發出停止披露通知（第66M條）。本人可以提供影像的「指紋」（雜湊值）作為證據，無須再次傳送影像。",
        ),
    },
    NoticeKind.HK_EOC: {
        "en": (
            "Complaint to the Equal Opportunities Commission",
            "I wish to complain of sexual harassment under the Sex Discrimination Ordinance (Cap. 480). "
            "Sexual images of me were made and/or shared without my consent by a person at my {setting}, "
            "creating a sexually hostile environment for me. I ask the Commission to investigate and to "
            "attempt conciliation.",
        ),
        "zh-Hant": (
            "向平等機會委員會投訴",
            "本人現根據《性別歧視條例》（第480章）就性騷擾作出投訴。與本人同在{setting}的人士在未經本人同意下製作及／或"
            "分享本人的色情影像，令本人身處在性方面具敵意的環境。本人要求平機會展開調查並進行調停。",
        ),
    },
}
_CHILD_POLICE = {
    "en": (
        "I was under 18 in these images. I understand that the Prevention of Child Pornography Ordinance "
        "(Cap. 579), which expressly covers computer-generated images, also applies. I have not kept copies "
        "of the images; I can say where they are and who has them."
    ),
    "zh-Hant": (
        "影像中的本人當時未滿18歲。據本人理解，明確涵蓋由電腦製作的影像的《防止兒童色情物品條例》（第579章）亦適用。"
        "本人沒有保留影像副本，但可以說明影像所在位置及持有人。"
    ),
}
_SETTING = {
    "en": {
        "university": "university",
        "school": "school",
        "work": "workplace",
        None: "school, university or workplace",
    },
    "zh-Hant": {"university": "大學", "school": "學校", "work": "工作場所", None: "學校、大學或工作場所"},
}


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
    zh = lang == "zh-Hant"
    text = loc.url + (
        f"（{loc.platform}）" if zh and loc.platform else f" ({loc.platform})" if loc.platform else ""
    )
    if loc.status is None or loc.requested is None:
        return text
    asked = _local_day(loc.requested, f, lang)
    done = _local_day(loc.resolved, f, lang) if loc.resolved else None
    status = TakedownStatus(loc.status)
    if zh:
        return (
            text
            + {
                TakedownStatus.SENT: f"：已於{asked}要求移除，至今仍未移除",
                TakedownStatus.ACKNOWLEDGED: f"：已於{asked}要求移除，平台已確認收到，至今仍未移除",
                TakedownStatus.NO_REPLY: f"：已於{asked}要求移除，平台沒有回覆",
                TakedownStatus.REMOVED: f"：已於{done or asked}移除（於{asked}要求移除）",
                TakedownStatus.REFUSED: f"：平台於{done or asked}拒絕移除（於{asked}要求移除）",
            }[status]
        )
    return (
        text
        + {
            TakedownStatus.SENT: f": removal requested on {asked}, not removed so far",
            TakedownStatus.ACKNOWLEDGED: f": removal requested on {asked}, acknowledged, not removed so far",
            TakedownStatus.NO_REPLY: f": removal requested on {asked}, no reply",
            TakedownStatus.REMOVED: f": removed on {done or asked} (requested on {asked})",
            TakedownStatus.REFUSED: (
                f": the platform refused to remove it on {done or asked} (requested on {asked})"
            ),
        }[status]
    )


def _report_text(report: tuple[str, str | None, str | None], lang: str, kb: KnowledgeBase) -> str:
    to, when, ref = report
    zh = lang == "zh-Hant"
    ch = kb.channel(to)
    parts = [ch.name.get(lang) if ch is not None else to]
    if when:
        try:
            parts.append(_day(date.fromisoformat(when[:10]), lang))
        except ValueError:
            parts.append(when)
    if ref:
        parts.append(("參考編號 " if zh else "reference ") + ref)
    return ("，" if zh else ", ").join(parts)


def complaint_draft(kind: NoticeKind, f: NoticeFacts, lang: str = "en") -> Document:
    """A complaint for the HK Police, PCPD or EOC, filled with the case's facts; blanks where only the
    person can write (her account, how it affected her, her name if not given)."""
    if kind is NoticeKind.TAKE_IT_DOWN:
        return take_it_down_notice(f, lang)
    kb = load_kb()
    zh = lang == "zh-Hant"
    key = "zh-Hant" if zh else "en"
    title, body = _BODIES[kind][key]
    setting = _SETTING[key].get(f.setting, _SETTING[key][None])
    doc = Document(title=title, lang=lang)
    doc.add(_header(f, lang))
    doc.add(Paragraph(body.format(setting=setting)))
    if kind is NoticeKind.HK_POLICE and f.victim_age.under_18:
        doc.add(Paragraph(_CHILD_POLICE[key]))
    if kind is NoticeKind.HK_EOC and _eoc_window_passed(f):
        assert f.incident_date is not None
        doc.add(
            Paragraph(
                f"本人明白此投訴是在有關行為（{_day(f.incident_date, lang)}）發生超過12個月後才提出。"
                f"本人懇請平機會仍然受理此投訴，理由如下：{BLANK}"
                if zh
                else (
                    "I am making this complaint more than 12 months after the act, which took place on "
                    f"{f.incident_date.isoformat()}. I ask the Commission to accept it nonetheless, "
                    f"for these reasons: {BLANK}"
                )
            )
        )
    doc.add(Heading("事件經過" if zh else "What happened"))
    facts: list[str] = [
        (
            f"有關行為發生於{_day(f.incident_date, lang)}。"
            if zh
            else f"The act took place on {_day(f.incident_date, lang)}."
        )
        if f.incident_date
        else (f"有關行為發生的日期：{BLANK}" if zh else f"Date of the act: {BLANK}")
    ]
    for i in f.items:
        where = " · ".join(x for x in (i.get("platform"), i.get("account"), i.get("url")) if x)
        posted = i.get("posted_at")
        if where or posted:
            facts.append(
                ("發布位置：" if zh else "Posted: ")
                + where
                + (f"（{posted}）" if zh and posted else f" ({posted})" if posted else "")
            )
    facts.append(f"事件經過（以本人的說話敘述）：{BLANK}" if zh else f"In my own words: {BLANK}")
    facts.append(f"事件對本人的影響：{BLANK}" if zh else f"How it has affected me: {BLANK}")
    doc.add(Bullets(facts))
    covered = f.covered()
    if covered:
        doc.add(Heading("影像所在或曾經所在的位置" if zh else "Where the images are or were"))
        doc.add(Bullets([_where_text(loc, f, lang) for loc in covered]))
    doc.add(Heading("證據" if zh else "Evidence"))
    ev = [f"SHA-256 {i['sha256']}" for i in f.items if i.get("sha256")]
    if ev:
        ev.insert(0, "影像的「指紋」（雜湊值）：" if zh else "Fingerprints (hashes) of the images:")
    if f.bundle_sha256:
        ev.insert(
            0, ("已簽署的證據包，SHA-256：" if zh else "Signed evidence bundle, SHA-256: ") + f.bundle_sha256
        )
    doc.add(
        Bullets(
            ev
            or [
                "本人可應要求提供所保存的證據，無須再次傳送影像。"
                if zh
                else "I can provide the evidence I have kept on request, without sending the images again."
            ]
        )
    )
    if f.reports:
        doc.add(Heading("已作出的舉報" if zh else "Reports already made"))
        doc.add(Bullets([_report_text(r, lang, kb) for r in f.reports]))
    doc.add(Heading("聯絡資料" if zh else "Contact"))
    doc.add(
        KeyValues(
            [
                ("姓名" if zh else "Name", f.name or BLANK),
                ("聯絡方法" if zh else "Contact", f.contact or BLANK),
                ("本人的參考編號" if zh else "My reference", f.case_reference),
            ]
        )
    )
    return doc


def compose(kind: NoticeKind, f: NoticeFacts, lang: str = "en") -> tuple[Document, Document]:
    """The notice to send and the cover note for the sender, as two separate documents."""
    notice = (
        take_it_down_notice(f, lang) if kind is NoticeKind.TAKE_IT_DOWN else complaint_draft(kind, f, lang)
    )
    return notice, cover_note(kind, f, lang)


def cover_note(
    kind: NoticeKind, f: NoticeFacts, lang: str = "en", *, notice_name: str | None = None
) -> Document:
    """What the sender needs and the receiver must not see: checks, blanks, links covered and left out,
    deadlines as they really stand, how to record the sending, and the legal-information notice."""
    zh = lang == "zh-Hant"
    ref = f.case_reference
    kb = load_kb()
    doc = Document(
        title="給你的附註：發出前請先閱讀（不屬通知的一部分）"
        if zh
        else "Cover note for you: read before you send",
        lang=lang,
        footer=COVER_DISCLAIMER.get(lang),
    )
    channel = kb.channel(CHANNEL_OF[kind]) if kind in CHANNEL_OF else None
    target = (
        channel.name.get(lang) if channel is not None else (f.platform or ("平台" if zh else "the platform"))
    )
    send = f"（{notice_name}）" if zh and notice_name else f" ({notice_name})" if notice_name else ""
    doc.add(
        Paragraph(
            f"此附註只供你參考，請勿發出。只須把通知{send}發給{target}。"
            if zh
            else f"This note is for you; do not send it. Send only the notice{send} to {target}."
        )
    )

    before: list[str] = []
    if kind is NoticeKind.TAKE_IT_DOWN:
        before.append(
            "請核對下列連結正是你要求移除的內容，並確認姓名、聯絡方法及簽署正確。"
            if zh
            else "Check that the links below are the ones you want removed, and that the name, contact and "
            "signature are right."
        )
    else:
        before.append(
            f"這是根據你的個案紀錄草擬的文本：請細閱及修改，並填寫每一處「{BLANK}」（事件經過及對你的影響等）。"
            if zh
            else "This is a draft made from your case record: read and correct it, and fill in every "
            f"{BLANK} (what happened in your own words, how it affected you)."
        )
        if not f.name or not f.contact:
            before.append(
                "請加上你的姓名及聯絡方法（--name、--contact），或直接填寫。"
                if zh
                else "Add your name and contact details (--name, --contact), or write them in."
            )
        before.append(
            f"如需附上已簽署的證據包，可先製作：takeback evidence bundle --case {ref} --out bundle.zip"
            if zh
            else f"To attach a signed evidence bundle, make one first: takeback evidence bundle --case {ref} "
            "--out bundle.zip"
        )
    if kind is NoticeKind.HK_EOC:
        end = eoc_window_end(f)
        if end is None:
            before.append(
                "請填寫有關行為發生的日期：如投訴在行為發生超過12個月後才提出，平機會可拒絕處理。"
                if zh
                else "Fill in the date of the act: the EOC may decline a complaint made more than 12 months "
                "after it."
            )
        else:
            last = (end.astimezone(get_zone("Asia/Hong_Kong"))).date()
            last_day = _day(date.fromordinal(last.toordinal() - 1), lang)
            if _eoc_window_passed(f):
                before.append(
                    f"平機會的12個月投訴期限已於{last_day}（香港時間）結束。平機會可拒絕處理，但仍可酌情受理；"
                    f"草擬本已請求平機會受理，請在「{BLANK}」處說明你現在才投訴的原因（例如你何時得知有關影像）。"
                    if zh
                    else f"The EOC's 12-month window ended at the end of {last_day} (Hong Kong time). "
                    "The EOC may decline the complaint but can still accept it; the draft asks it to. "
                    f"Say at the {BLANK} why you are complaining now (for example, when you found out "
                    "about the images)."
                )
            else:
                before.append(
                    f"請於{last_day}（香港時間）當日結束前提交：平機會可拒絕處理在行為發生超過12個月後才提出的投訴。"
                    if zh
                    else f"Send it by the end of {last_day} (Hong Kong time): the EOC may decline a "
                    "complaint made more than 12 months after the act."
                )
    doc.add(Heading("發出前" if zh else "Before you send it"))
    doc.add(Bullets(before))

    doc.add(Heading("通知涵蓋的連結" if zh else "Links the notice covers"))
    covered = f.covered()
    doc.add(
        Bullets(
            [_where_text(loc, f, lang) for loc in covered]
            or [
                "沒有（個案未有紀錄連結，或全部已移除或被拒絕）。"
                if zh
                else "None (no links recorded, or all removed or refused)."
            ]
        )
    )
    if f.left_out:
        doc.add(
            Paragraph(
                "以下連結沒有列入（已移除或被拒絕）；如要列入，請以 --url 指定："
                if zh
                else "Left out because they were removed or refused; name one with --url to include it:"
            )
        )
        doc.add(Bullets([_where_text(loc, f, lang) for loc in f.left_out]))
    if f.other_platform:
        doc.add(
            Paragraph(
                f"以下連結位於其他平台，沒有列入給{f.platform}的要求；請另行向有關平台發出要求："
                if zh
                else f"Left out because they are on another platform than {f.platform}; send each platform "
                "its own request:"
            )
        )
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
                    f"{loc.url}：「{label}」計時已在進行，於{format_local(due, f.timezone)}到期。"
                    if zh
                    else f"{loc.url}: the {label} clock is already running, "
                    f"due {format_local(due, f.timezone)}."
                )
            elif loc.takedown_id is not None:
                after.append(
                    f"{loc.url}：已有移除要求紀錄（#{loc.takedown_id}），但沒有移除期限在計時。"
                    f"發出此要求後，請記錄：{record}（開始48小時計時）"
                    if zh
                    else f"{loc.url}: a removal request is recorded (#{loc.takedown_id}) but no removal "
                    "clock is running for it. When you have sent this request, record it: "
                    f"{record} (this starts the 48-hour clock)"
                )
            else:
                after.append(
                    f"發出後請記錄：{record}（開始48小時計時）"
                    if zh
                    else f"When you have sent it, record it: {record} (this starts the 48-hour clock)"
                )
        after.append(
            "平台須在接獲有效要求後48小時內移除（適用於該法案涵蓋的平台，自2026年5月19日起）。"
            if zh
            else "The 48 hours run from when the platform receives a valid request (platforms the Act "
            "covers, from 19 May 2026)."
        )
    else:
        record = (
            f"takeback case refer --case {ref} --id {f.draft_referral_id} --status sent"
            if f.draft_referral_id is not None
            else f"takeback case refer --case {ref} --to {CHANNEL_OF[kind]} --status sent"
        )
        after.append(
            f"發出後請記錄：{record}（收到對方的參考編號後，可加上 --reference）"
            if zh
            else f"When you have sent it, record it: {record} (add --reference with their reference number "
            "when they reply)"
        )
    doc.add(Heading("發出後" if zh else "After you send it"))
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
