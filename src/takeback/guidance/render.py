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
from takeback.i18n import translate
from takeback.reports.document import Bullets, Document, Heading, KeyValues, Notice, Paragraph


def label(key: str, lang: str, **kw: str) -> str:
    """The guide's words: ``guide.<key>`` of the one catalogue (``takeback.i18n``)."""
    return translate(f"guide.{key}", lang, **kw)


def _tag(confidence: Confidence, lang: str) -> str:
    return f" [{label('unconfirmed_tag', lang)}]" if confidence is Confidence.UNCONFIRMED else ""


def _rule_line(r: RuleOut, lang: str) -> str:
    sep = translate("common.colon", lang)
    text = f"{r.citation}{sep}{r.title}"
    if r.max_penalty:
        text += translate("common.paren", lang, text=f"{label('max_penalty', lang)}{sep}{r.max_penalty}")
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
        text += translate("common.semicolon", lang) + label("may_decline", lang)
    sep = translate("common.colon", lang)
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
    sep = translate("common.colon", lang)
    reach = " · ".join(v for v in (x.phone, x.web) if v)
    text = x.name + (f"{sep}{reach}" if reach else "")
    if x.note:
        text += translate("common.sentence_sep", lang) + x.note
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
        sep = translate("common.colon", lang)
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
