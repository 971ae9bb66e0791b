"""Render a :class:`Document` as one self-contained HTML file (inline CSS, no scripts, works offline)."""

from __future__ import annotations

import base64
from html import escape

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

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans TC","PingFang TC","Microsoft JhengHei",
sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:1.8rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem;margin-top:1.2rem}.subtitle{color:#555;margin-top:0}
.muted{color:#555}.small{font-size:.85rem;color:#555}
.notice{border-left:.35rem solid #3a6ea5;background:#eef4fb;padding:.6rem 1rem;margin:1rem 0}
.notice.warning{border-color:#b8860b;background:#fdf6e3}.notice.danger{border-color:#b22222;background:#fdecea}
.notice p{margin:.3rem 0}.notice strong{display:block}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.8rem;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
footer{margin-top:2rem;border-top:1px solid #ddd;padding-top:.6rem;color:#555;font-size:.85rem}
"""


def _block(b: Block, shift: int = 0) -> str:
    if isinstance(b, Heading):
        level = min(min(max(b.level, 2), 4) + shift, 6)
        return f"<h{level}>{escape(b.text)}</h{level}>"
    if isinstance(b, Paragraph):
        cls = "" if b.style == "normal" else f' class="{b.style}"'
        return f"<p{cls}>{escape(b.text)}</p>"
    if isinstance(b, Notice):
        body = "".join(f"<p>{escape(p)}</p>" for p in b.body)
        return f'<div class="notice {b.tone}" role="note"><strong>{escape(b.title)}</strong>{body}</div>'
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, KeyValues):
        return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in b.pairs) + "</dl>"
    if isinstance(b, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in b.headers)
        rows = []
        for row in b.rows:
            cells = "".join(
                f'<td class="mono">{escape(c)}</td>' if i in b.mono else f"<td>{escape(c)}</td>"
                for i, c in enumerate(row)
            )
            rows.append(f"<tr>{cells}</tr>")
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if isinstance(b, Image):
        data = base64.b64encode(b.png).decode("ascii")
        cap = f"<figcaption>{escape(b.caption)}</figcaption>" if b.caption else ""
        return (
            f'<figure><img alt="{escape(b.caption)}" style="width:{b.width_mm:.0f}mm" '
            f'src="data:image/png;base64,{data}">{cap}</figure>'
        )
    raise TypeError(f"unknown block {type(b).__name__}")  # pragma: no cover


def render_html(doc: Document) -> str:
    """The whole page as a string (UTF-8 when written)."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(doc.lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(doc.title)}</h1>",
    ]
    if doc.subtitle:
        parts.append(f'<p class="subtitle">{escape(doc.subtitle)}</p>')
    parts.extend(_block(b) for b in doc.blocks)
    if doc.footer:
        parts.append(f"<footer>{escape(doc.footer)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_fragment(doc: Document, *, top: int = 2) -> str:
    """The document's body for showing inside another page (a preview): no page, styles or script,
    the title as a heading of level ``top`` and the others below it; every text escaped."""
    shift = max(top - 1, 0)
    parts = [f"<h{top}>{escape(doc.title)}</h{top}>"]
    if doc.subtitle:
        parts.append(f'<p class="subtitle">{escape(doc.subtitle)}</p>')
    parts.extend(_block(b, shift) for b in doc.blocks)
    if doc.footer:
        parts.append(f'<p class="footer">{escape(doc.footer)}</p>')
    return "\n".join(parts)
