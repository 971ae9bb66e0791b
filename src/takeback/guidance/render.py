"""Turn a :class:`Pathway` into a document (terminal, HTML, PDF) or JSON, in English or Traditional Chinese.

Order matters for people in distress: where to get help now first, then the under-18 notice (if
any), then what the law says, then what they can do and by when. The legal-information notice is said
once, as the document's footer (the end of a page on screen, the foot of every PDF page), not repeated
as a subtitle and a box as well.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from enum import Enum
from typing import Any

from takeback.guidance.kb import Confidence
from takeback.guidance.pathway import COLLECT_SOURCE, DeadlineState, Pathway, RouteOut, RuleOut, SupportOut
from takeback.reports.document import Bullets, Document, Heading, KeyValues, Notice, Paragraph

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "Your options: {name}", "zh-Hant": "你的選擇：{name}"},
    "help_now": {"en": "Where to get help now", "zh-Hant": "即時求助"},
    "under_18": {"en": "Under 18: read this first", "zh-Hant": "未滿18歲：請先閱讀"},
    "law": {"en": "What the law says", "zh-Hant": "法律怎樣說"},
    "routes": {"en": "Where you can turn", "zh-Hant": "你可以求助的途徑"},
    "collect": {"en": "What to collect", "zh-Hant": "需要收集的資料"},
    "unconfirmed_title": {"en": "Unconfirmed points", "zh-Hant": "未經證實的資料"},
    "unconfirmed_tag": {"en": "UNCONFIRMED", "zh-Hant": "未經證實"},
    "needs": {"en": "What they need from you", "zh-Hant": "對方需要你提供的資料"},
    "deadline": {"en": "Deadline", "zh-Hant": "期限"},
    "law_cited": {"en": "Law", "zh-Hant": "法例"},
    "max_penalty": {"en": "Maximum penalty", "zh-Hant": "最高刑罰"},
    "contact": {"en": "Contact", "zh-Hant": "聯絡方法"},
    "source": {"en": "Source", "zh-Hant": "資料來源"},
    "last_reviewed": {"en": "last reviewed", "zh-Hant": "最後核對日期"},
    "facts": {"en": "What happened", "zh-Hant": "事件經過"},
    "offence": {"en": "Crime", "zh-Hant": "屬刑事罪行"},
    "no_offence": {"en": "Not a crime", "zh-Hant": "不屬刑事罪行"},
    "limited": {"en": "Only in some circumstances", "zh-Hant": "只在某些情況下屬罪行"},
    "civil_only": {"en": "Civil penalties, not a crime", "zh-Hant": "須承擔民事罰則，但不屬刑事罪行"},
    "national": {"en": "Depends on national law", "zh-Hant": "須視乎各國法例"},
    "unreviewed": {
        "en": "May be a crime (the law on images of children is not reviewed here)",
        "zh-Hant": "可能屬刑事罪行（本指南未有核實有關兒童影像的法例）",
    },
    "create": {"en": "Creating it", "zh-Hant": "製作"},
    "possess": {"en": "Possessing or viewing it", "zh-Hant": "管有或觀看"},
    "distribute": {"en": "Sharing or publishing it", "zh-Hant": "分享或發布"},
    "threaten": {"en": "Threatening to share it", "zh-Hant": "威脅分享"},
    "due": {"en": "due {text}", "zh-Hant": "須於{text}"},
    "elapsed": {"en": "the window has passed ({text})", "zh-Hant": "期限已過（{text}）"},
    "needs_date": {
        "en": "{duration} from the date of the act; give --act-date to work out the date",
        "zh-Hant": "由有關行為發生日期起計{duration}；提供 --act-date 即可計算確實日期",
    },
    "starts_on_event": {
        "en": (
            "{duration}, starting when your request or notice "
            "is sent; `takeback case takedown` starts the clock"
        ),
        "zh-Hant": "{duration}，由你的要求或通知發出時起計；使用 `takeback case takedown` 即可開始計時",
    },
    "not_in_force": {"en": "not yet in force", "zh-Hant": "尚未生效"},
    "may_decline": {"en": "after it, they may decline", "zh-Hant": "期限過後，對方可拒絕處理"},
    "collect_source": {"en": "Source: {src}", "zh-Hant": "資料來源：{src}"},
}


def label(key: str, lang: str, **kw: str) -> str:
    text = LABELS[key]["zh-Hant" if lang == "zh-Hant" else "en"]
    return text.format(**kw) if kw else text


def _tag(confidence: Confidence, lang: str) -> str:
    return f" [{label('unconfirmed_tag', lang)}]" if confidence is Confidence.UNCONFIRMED else ""


def _rule_line(r: RuleOut, lang: str) -> str:
    sep = "：" if lang == "zh-Hant" else ": "
    text = f"{r.citation}{sep}{r.title}"
    if r.max_penalty:
        text += (
            f" ({label('max_penalty', lang)}{sep}{r.max_penalty})"
            if lang != "zh-Hant"
            else f"（{label('max_penalty', lang)}：{r.max_penalty}）"
        )
    return text + _tag(r.confidence, lang)


def deadline_text(d: Any, lang: str) -> str:
    if d.state is DeadlineState.OPEN:
        text = label("due", lang, text=d.due_text or "")
    elif d.state is DeadlineState.ELAPSED:
        text = label("elapsed", lang, text=d.due_text or "")
    elif d.state is DeadlineState.NEEDS_DATE:
        text = label("needs_date", lang, duration=d.duration)
    elif d.state is DeadlineState.NOT_IN_FORCE:
        text = label("not_in_force", lang)
    else:
        text = label("starts_on_event", lang, duration=d.duration)
    if not d.hard:
        text += ("；" if lang == "zh-Hant" else "; ") + label("may_decline", lang)
    sep = "：" if lang == "zh-Hant" else ": "
    return f"{d.label}{sep}{text}{_tag(d.confidence, lang)}"


def _route_blocks(r: RouteOut, lang: str) -> list[Any]:
    blocks: list[Any] = [Heading(r.name + _tag(r.confidence, lang), level=3), Paragraph(r.why)]
    pairs: list[tuple[str, str]] = []
    for d in r.deadlines:
        pairs.append((label("deadline", lang), deadline_text(d, lang)))
    for rule in r.rules:
        pairs.append((label("law_cited", lang), _rule_line(rule, lang)))
    contact = " · ".join(
        v for v in (r.contact.get("phone"), r.contact.get("web"), r.contact.get("note")) if v
    )
    if contact:
        pairs.append((label("contact", lang), contact))
    pairs.append(
        (label("source", lang), f"{r.source} ({label('last_reviewed', lang)} {r.last_reviewed.isoformat()})")
    )
    if pairs:
        blocks.append(KeyValues(pairs))
    if r.needs:
        blocks.append(Paragraph(label("needs", lang), style="muted"))
        blocks.append(Bullets(r.needs))
    for c in r.caveats:
        if c.confidence is Confidence.UNCONFIRMED:
            blocks.append(Notice(label("unconfirmed_tag", lang), [c.text], tone="warning"))
        else:
            blocks.append(Paragraph(c.text, style="small"))
    return blocks


def support_line(x: SupportOut, lang: str) -> str:
    sep = "：" if lang == "zh-Hant" else ": "
    reach = " · ".join(v for v in (x.phone, x.web) if v)
    text = x.name + (f"{sep}{reach}" if reach else "")
    if x.note:
        text += ("。" if lang == "zh-Hant" else ". ") + x.note
    return text + _tag(x.confidence, lang)


def pathway_document(p: Pathway) -> Document:
    lang = p.lang
    doc = Document(title=label("title", lang, name=p.jurisdiction_name), lang=lang, footer=p.disclaimer)
    help_now = [support_line(x, lang) for x in p.support] or [p.support_generic or ""]
    doc.add(Notice(label("help_now", lang), help_now, tone="info"))
    if p.child_notice:
        doc.add(Notice(label("under_18", lang), [p.child_notice], tone="danger"))
    doc.add(Paragraph(p.summary))
    doc.add(Heading(label("law", lang)))
    doc.add(Paragraph(p.offence_summary))
    for a in p.acts:
        status = label(a.status.value, lang)
        if a.in_force_note:
            status += " ?"
        sep = "：" if lang == "zh-Hant" else ": "
        doc.add(Heading(f"{label(a.act.value, lang)}{sep}{status}{_tag(a.confidence, lang)}", level=3))
        doc.add(Paragraph(a.note))
        if a.in_force_note:
            doc.add(Notice(label("law", lang), [a.in_force_note], tone="warning"))
        if a.rules:
            doc.add(Bullets([_rule_line(r, lang) for r in a.rules]))
        doc.add(
            Paragraph(
                f"{label('source', lang)}{sep}{a.source} "
                f"({label('last_reviewed', lang)} {a.last_reviewed.isoformat()})",
                style="small",
            )
        )
        for c in a.caveats:
            if c.confidence is Confidence.UNCONFIRMED:
                doc.add(Notice(label("unconfirmed_tag", lang), [c.text], tone="warning"))
    doc.add(Heading(label("routes", lang)))
    for r in p.routes:
        doc.add(*_route_blocks(r, lang))
    doc.add(Heading(label("collect", lang)))
    doc.add(Bullets(p.collect))
    doc.add(Paragraph(label("collect_source", lang, src=COLLECT_SOURCE), style="small"))
    if p.unconfirmed:
        doc.add(Heading(label("unconfirmed_title", lang)))
        doc.add(Bullets([f"[{label('unconfirmed_tag', lang)}] {u}" for u in p.unconfirmed]))
    return doc


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, frozenset | set) else items
    return value


def pathway_json(p: Pathway) -> dict[str, Any]:
    """The pathway as JSON-ready data (the web API returns this)."""
    data = _plain(asdict(p))
    assert isinstance(data, dict)
    data["not_legal_advice"] = True
    return data
