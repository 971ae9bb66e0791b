"""Render a :class:`Document` as plain text for the terminal (wide characters counted as two columns)."""

from __future__ import annotations

import textwrap
import unicodedata

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


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _wrap(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """Wrap on spaces for Latin text and anywhere for CJK, by display width."""
    lead = indent if first is None else first
    out: list[str] = []
    if not any(unicodedata.east_asian_width(c) in "WF" for c in text):
        return textwrap.wrap(text, width=width, initial_indent=lead, subsequent_indent=indent) or [
            lead.rstrip()
        ]
    line, cur = lead, _width(lead)
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        if cur + w > width:
            out.append(line.rstrip())
            line, cur = indent, _width(indent)
            if ch == " ":
                continue
        line += ch
        cur += w
    out.append(line.rstrip())
    return out


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
        lines.extend(_block(b, width, "：" if doc.lang == "zh-Hant" else ": "))
    if doc.footer:
        lines.append("")
        lines.extend(_wrap(doc.footer, width))
    return "\n".join(lines) + "\n"
