"""Render a :class:`Document` as plain text for the terminal (wide characters counted as two columns)."""

from __future__ import annotations

import unicodedata

from takeback.i18n import translate
from takeback.reports.document import (
    Block,
    Bullets,
    Document,
    Heading,
    Image,
    KeyValues,
    Notice,
    Paragraph,
    Table,
)
from takeback.reports.linebreak import wrap


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _wrap(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """Wrap by display width with the shared line breaker (never inside a number, date or word)."""
    lead = indent if first is None else first
    lines = wrap(text, width - _width(indent), _width, first_width=width - _width(lead))
    return [((lead if i == 0 else indent) + line).rstrip() for i, line in enumerate(lines)]


def _block(b: Block, width: int, sep: str) -> list[str]:
    if isinstance(b, Heading):
        ch = "=" if b.level <= 2 else "-"
        return ["", b.text, ch * min(width, _width(b.text))]
    if isinstance(b, Paragraph):
        return _wrap(b.text, width)
    if isinstance(b, Notice):
        mark = {"info": "i", "warning": "!", "danger": "!!"}[b.tone]
        lines = [f"[{mark}] {b.title}"]
        for p in b.body:
            lines.extend(_wrap(p, width, indent="    ", first="    "))
        return ["", *lines, ""]
    if isinstance(b, Bullets):
        lines = []
        for item in b.items:
            lines.extend(_wrap(item, width, indent="    ", first="  • "))
        return lines
    if isinstance(b, KeyValues):
        lines = []
        for k, v in b.pairs:
            lines.extend(_wrap(v, width, indent="      ", first=f"  {k}{sep}"))
        return lines
    if isinstance(b, Table):
        lines = ["  " + " | ".join(b.headers)]
        for row in b.rows:
            lines.append("  " + " | ".join(row))
        return lines
    if isinstance(b, Image):
        return [f"  [image: {b.caption}]"]
    raise TypeError(f"unknown block {type(b).__name__}")  # pragma: no cover


def render_text(doc: Document, *, width: int = 100) -> str:
    lines = [doc.title]
    if doc.subtitle:
        lines.append(doc.subtitle)
    for b in doc.blocks:
        lines.extend(_block(b, width, translate("common.colon", doc.lang)))
    if doc.footer:
        lines.append("")
        lines.extend(_wrap(doc.footer, width))
    return "\n".join(lines) + "\n"
