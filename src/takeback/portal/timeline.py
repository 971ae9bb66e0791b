"""Her evidence log as a document she can print or download (HTML, or PDF with an embedded
Traditional Chinese font: ``reports.pdf``): what she logged, in date order, and what she sent."""

from __future__ import annotations

from collections.abc import Sequence

from takeback.clock import as_utc, format_local
from takeback.i18n import Translator
from takeback.portal.models import PortalLogEntry
from takeback.portal.service import Status
from takeback.reports.document import Document, Heading, KeyValues, Notice, Paragraph, Table


def log_table(entries: Sequence[PortalLogEntry], _: Translator) -> Table:
    """Her evidence log as a table (her timeline and the portal part of an evidence bundle)."""
    rows = [
        [
            e.happened_on.isoformat() if e.happened_on else "",
            _(f"portal.log.kind.{e.kind}"),
            e.platform or "",
            e.account or "",
            e.url or "",
            e.reference or "",
            e.details or "",
        ]
        for e in entries
    ]
    return Table(_("portal.timeline.cols").split("|"), rows, widths=[0.1, 0.1, 0.12, 0.12, 0.22, 0.12, 0.22])


def timeline_document(st: Status, entries: Sequence[PortalLogEntry], *, lang: str, zone: str) -> Document:
    _ = Translator(lang)
    doc = Document(title=_("portal.timeline.title"), lang=lang, footer=_("portal.timeline.footer"))
    doc.add(
        KeyValues(
            [
                (_("portal.case.number"), st.reference),
                (_("portal.timeline.opened"), format_local(st.opened_at, zone)),
                (_("portal.timeline.matches"), str(st.total_hits)),
            ]
        )
    )
    doc.add(Heading(_("portal.timeline.log")))
    if entries:
        doc.add(log_table(entries, _))
    else:
        doc.add(Paragraph(_("portal.timeline.none"), style="muted"))
    doc.add(Heading(_("portal.timeline.sent")))
    if st.submissions:
        doc.add(
            Table(
                _("portal.timeline.sent_cols").split("|"),
                [
                    [
                        format_local(as_utc(x.received_at) or x.received_at, zone),
                        _(f"portal.kind.{x.kind}"),
                        x.sha256,
                        _("portal.case.banked") if x.banked else _("portal.case.not_banked"),
                        str(x.hits),
                    ]
                    for x in st.submissions
                ],
                widths=[0.2, 0.1, 0.45, 0.15, 0.1],
                mono=frozenset({2}),
            )
        )
    doc.add(Notice(_("portal.timeline.keep_title"), [_("portal.timeline.keep")], tone="info"))
    return doc
