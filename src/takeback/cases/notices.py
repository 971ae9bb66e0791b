"""Notices and complaint drafts: a TAKE IT DOWN removal request, and complaints to the Hong Kong
Police, the PCPD and the EOC, in English and Traditional Chinese.

A TAKE IT DOWN request is only valid with every element the Act lists (written; signed; identifies
the image and where it is; a good-faith statement that it was not consented to; contact details),
so :func:`take_it_down_notice` refuses to produce one that lacks any of them and names what is
missing. Names and contact details are used for the notice and never stored.
Complaint drafts are drafts: the person reads, completes and sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from takeback.cases.clock import format_local, get_zone, utcnow
from takeback.errors import TakebackError
from takeback.guidance.pathway import DISCLAIMER
from takeback.reports.document import Bullets, Document, Heading, KeyValues, Notice, Paragraph


class NoticeError(TakebackError):
    code = "notice_incomplete"


class NoticeKind(StrEnum):
    TAKE_IT_DOWN = "take-it-down"
    HK_POLICE = "hk-police"
    HK_PCPD = "hk-pcpd"
    HK_EOC = "hk-eoc"


@dataclass
class NoticeFacts:
    """What a notice is built from: the case's records plus details given only for this notice."""

    case_reference: str
    timezone: str
    urls: list[str]
    items: list[dict[str, str | None]] = field(
        default_factory=list
    )  # sha256, pdq, platform, account, posted_at
    reports: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (to, when, reference)
    incident_date: date | None = None
    setting: str | None = None
    name: str | None = None
    contact: str | None = None
    signature: str | None = None
    platform: str | None = None
    relevant_info: str | None = None
    on_behalf_of: str | None = None  # authorised person acting for the depicted person
    bundle_sha256: str | None = None
    today: datetime | None = None


# The five elements of a valid request (TAKE IT DOWN Act, Pub. L. 119-12)
TID_ELEMENTS = {
    "signature": "a physical or electronic signature (--signature, e.g. /s/ Your Name)",
    "identification": "the image and where it is (URLs: --url or the case's takedown/evidence URLs)",
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


def _date(f: NoticeFacts, lang: str) -> str:
    d = (f.today or utcnow()).astimezone(get_zone(f.timezone)).date()
    return f"{d.year}年{d.month}月{d.day}日" if lang == "zh-Hant" else d.isoformat()


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
        title="TAKE IT DOWN 移除要求" if zh else "Removal request under the TAKE IT DOWN Act",
        lang=lang,
        subtitle=f"{_date(f, lang)} · {f.case_reference}",
        footer=DISCLAIMER.get(lang),
    )
    if zh:
        doc.add(Paragraph(f"致：{to}"))
        doc.add(
            Paragraph(
                "本人根據美國《TAKE IT DOWN法案》（公法119-12）提出此書面要求，"
                "請貴平台移除下列未經同意發布的私密影像，"
                "並在收到此要求後48小時內完成移除，以及作出合理努力移除所有相同的副本。"
            )
        )
    else:
        doc.add(Paragraph(f"To: {to}"))
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
    doc.add(
        Notice(
            "提交前請核對" if zh else "Before you send it",
            [
                "請記錄發出此要求的時間：`takeback case takedown` 會開始48小時計時。"
                if zh
                else "Record when you send it: `takeback case takedown` starts the 48-hour clock."
            ],
        )
    )
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
_SETTING = {
    "en": {
        "university": "university",
        "school": "school",
        "work": "workplace",
        None: "school, university or workplace",
    },
    "zh-Hant": {"university": "大學", "school": "學校", "work": "工作場所", None: "學校、大學或工作場所"},
}


def complaint_draft(kind: NoticeKind, f: NoticeFacts, lang: str = "en") -> Document:
    """A complaint draft for the HK Police, PCPD or EOC, filled with the case's facts."""
    if kind is NoticeKind.TAKE_IT_DOWN:
        return take_it_down_notice(f, lang)
    zh = lang == "zh-Hant"
    key = "zh-Hant" if zh else "en"
    title, body = _BODIES[kind][key]
    setting = _SETTING[key].get(f.setting, _SETTING[key][None])
    doc = Document(
        title=title,
        lang=lang,
        subtitle=("草擬本 · " if zh else "Draft · ") + f"{_date(f, lang)} · {f.case_reference}",
        footer=DISCLAIMER.get(lang),
    )
    doc.add(
        Notice(
            "草擬本" if zh else "Draft",
            [
                "這是根據你的個案紀錄草擬的文本。提交前請細閱、補充及修改，確保內容準確。"
                if zh
                else (
                    "This draft was made from your case record. Read "
                    "it, complete it and correct it before you send it."
                )
            ],
            tone="warning",
        )
    )
    doc.add(Paragraph(body.format(setting=setting)))
    doc.add(Heading("事件經過" if zh else "What happened"))
    facts: list[str] = []
    if f.incident_date:
        facts.append(
            f"有關行為發生於{f.incident_date.year}年{f.incident_date.month}月{f.incident_date.day}日。"
            if zh
            else f"The act took place on {f.incident_date.isoformat()}."
        )
    for i in f.items:
        where = " · ".join(x for x in (i.get("platform"), i.get("account"), i.get("url")) if x)
        posted = i.get("posted_at")
        if where or posted:
            facts.append(
                ("發布位置：" if zh else "Posted: ")
                + where
                + (f"（{posted}）" if zh and posted else f" ({posted})" if posted else "")
            )
    if kind is NoticeKind.HK_EOC and f.incident_date is None:
        facts.append(
            "【請填寫有關行為發生的日期：平機會可拒絕處理在行為發生超過12個月後才提出的投訴。】"
            if zh
            else (
                "[Add the date of the act: the EOC may decline "
                "a complaint made more than 12 months after it.]"
            )
        )
    facts.append(
        "【請用自己的說話補充事件經過及對你的影響。】"
        if zh
        else "[Add, in your own words, what happened and how it affected you.]"
    )
    doc.add(Bullets(facts))
    doc.add(Heading("證據" if zh else "Evidence"))
    ev = [f"SHA-256 {i['sha256']}" for i in f.items if i.get("sha256")]
    if f.bundle_sha256:
        ev.insert(
            0, ("已簽署的證據包，SHA-256：" if zh else "Signed evidence bundle, SHA-256: ") + f.bundle_sha256
        )
    doc.add(
        Bullets(
            ev
            or [
                "【請附上證據包（`takeback evidence bundle`）。】"
                if zh
                else "[Attach the evidence bundle (`takeback evidence bundle`).]"
            ]
        )
    )
    if f.reports:
        doc.add(Heading("已作出的舉報" if zh else "Reports already made"))
        doc.add(
            Bullets(
                [
                    f"{to} · {when or ''} · {('參考編號 ' if zh else 'ref. ') + ref if ref else ''}".strip(
                        " ·"
                    )
                    for to, when, ref in f.reports
                ]
            )
        )
    doc.add(Heading("聯絡資料" if zh else "Contact"))
    doc.add(
        KeyValues(
            [
                ("姓名" if zh else "Name", f.name or ("【你的姓名】" if zh else "[your name]")),
                (
                    "聯絡方法" if zh else "Contact",
                    f.contact or ("【電話或電郵】" if zh else "[phone or email]"),
                ),
                ("個案參考編號" if zh else "Case reference", f.case_reference),
            ]
        )
    )
    return doc


def when_text(dt: datetime | None, zone: str) -> str | None:
    return None if dt is None else format_local(dt, zone)
