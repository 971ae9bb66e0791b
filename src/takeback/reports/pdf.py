"""Render a :class:`Document` as PDF with reportlab (pure Python, no system fonts needed).

Fonts. English uses the PDF base fonts (Helvetica, Courier), which every viewer has. Traditional
Chinese uses Adobe's standard CID font ``MSung-Light`` (Adobe-CNS1): the PDF names the font and
carries Unicode text, and viewers draw it with their own CJK font (Acrobat, macOS Preview, Chrome
and Firefox do), so nothing has to be embedded and no font file ships with takeback. The text stays
extractable and searchable. Note: reportlab declares ``MSung-Light`` with the simplified-Chinese
CMap ``UniGB-UCS2-H``; that maps code points to the wrong CIDs in the CNS1 collection, so we declare
``UniCNS-UCS2-H``, the correct Unicode CMap for Traditional Chinese.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    ListFlowable,
    ListItem,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Image as RLImage
from reportlab.platypus import Paragraph as RLParagraph
from reportlab.platypus import Table as RLTable

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

CJK_FONT = "MSung-Light"
_TONES = {
    "info": (colors.HexColor("#3a6ea5"), colors.HexColor("#eef4fb")),
    "warning": (colors.HexColor("#b8860b"), colors.HexColor("#fdf6e3")),
    "danger": (colors.HexColor("#b22222"), colors.HexColor("#fdecea")),
}


def _register_cjk() -> None:
    if CJK_FONT in pdfmetrics.getRegisteredFontNames():
        return
    font = UnicodeCIDFont(CJK_FONT)
    font.encodingName = "UniCNS-UCS2-H"  # see module docstring: reportlab's default is the GB CMap
    pdfmetrics.registerFont(font)


class _Styles:
    def __init__(self, lang: str) -> None:
        cjk = lang == "zh-Hant"
        if cjk:
            _register_cjk()
        body = CJK_FONT if cjk else "Helvetica"
        bold = CJK_FONT if cjk else "Helvetica-Bold"
        wrap = "CJK" if cjk else None
        base: dict[str, Any] = {"fontName": body, "fontSize": 9.5, "leading": 13.5, "wordWrap": wrap}
        self.body = ParagraphStyle("body", **base)
        self.muted = ParagraphStyle("muted", **{**base, "textColor": colors.HexColor("#555555")})
        self.small = ParagraphStyle(
            "small", **{**base, "fontSize": 8, "leading": 10.5, "textColor": colors.HexColor("#555555")}
        )
        self.title = ParagraphStyle(
            "title", **{**base, "fontName": bold, "fontSize": 17, "leading": 22, "spaceAfter": 4}
        )
        self.subtitle = ParagraphStyle(
            "subtitle", **{**base, "textColor": colors.HexColor("#555555"), "spaceAfter": 8}
        )
        self.h = {
            2: ParagraphStyle(
                "h2",
                **{
                    **base,
                    "fontName": bold,
                    "fontSize": 13,
                    "leading": 17,
                    "spaceBefore": 10,
                    "spaceAfter": 4,
                },
            ),
            3: ParagraphStyle(
                "h3",
                **{
                    **base,
                    "fontName": bold,
                    "fontSize": 11,
                    "leading": 15,
                    "spaceBefore": 7,
                    "spaceAfter": 3,
                },
            ),
            4: ParagraphStyle(
                "h4",
                **{
                    **base,
                    "fontName": bold,
                    "fontSize": 10,
                    "leading": 14,
                    "spaceBefore": 5,
                    "spaceAfter": 2,
                },
            ),
        }
        self.cell = ParagraphStyle("cell", **{**base, "fontSize": 8.2, "leading": 10.5})
        self.cell_head = ParagraphStyle(
            "cellh", **{**base, "fontName": bold, "fontSize": 8.2, "leading": 10.5}
        )
        self.mono = ParagraphStyle(
            "mono", **{**base, "fontName": "Courier", "fontSize": 7, "leading": 9, "wordWrap": "CJK"}
        )
        self.footer_font = body


def _p(text: str, style: ParagraphStyle) -> RLParagraph:
    return RLParagraph(escape(text).replace("\n", "<br/>"), style)


def _flowables(b: Block, s: _Styles, width: float) -> list[Flowable]:
    if isinstance(b, Heading):
        return [_p(b.text, s.h[min(max(b.level, 2), 4)])]
    if isinstance(b, Paragraph):
        style = {"normal": s.body, "muted": s.muted, "small": s.small}[b.style]
        return [_p(b.text, style), Spacer(1, 3)]
    if isinstance(b, Notice):
        edge, fill = _TONES[b.tone]
        inner = [[_p(b.title, s.cell_head)], *[[_p(t, s.body)] for t in b.body]]
        t = RLTable(inner, colWidths=[width - 4])
        t.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), fill),
                    ("LINEBEFORE", (0, 0), (0, -1), 3, edge),
                    ("LEFTPADDING", (0, 0), (-1, -1), 8),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return [Spacer(1, 4), KeepTogether([t]), Spacer(1, 6)]
    if isinstance(b, Bullets):
        items = [ListItem(_p(i, s.body), leftIndent=10) for i in b.items]
        return [
            ListFlowable(items, bulletType="bullet", start="•", leftIndent=10, bulletFontSize=7),
            Spacer(1, 3),
        ]
    if isinstance(b, KeyValues):
        rows = [[_p(k, s.cell_head), _p(v, s.cell)] for k, v in b.pairs]
        t = RLTable(rows, colWidths=[width * 0.28, width * 0.72])
        t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
        return [t, Spacer(1, 4)]
    if isinstance(b, Table):
        n = len(b.headers)
        rel = b.widths or [1.0] * n
        total = sum(rel)
        widths = [width * r / total for r in rel]
        head = [_p(h, s.cell_head) for h in b.headers]
        body = [[_p(c, s.mono if i in b.mono else s.cell) for i, c in enumerate(row)] for row in b.rows]
        t = RLTable([head, *body], colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return [t, Spacer(1, 6)]
    if isinstance(b, Image):
        img = RLImage(io.BytesIO(b.png))
        scale = (b.width_mm * mm) / img.imageWidth
        img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
        out: list[Flowable] = [img]
        if b.caption:
            out.append(_p(b.caption, s.small))
        return out
    raise TypeError(f"unknown block {type(b).__name__}")  # pragma: no cover


def render_pdf(doc: Document, out: BinaryIO | Path) -> None:
    """Write the PDF to a path or a binary file object."""
    s = _Styles(doc.lang)
    buf = io.BytesIO()
    margin = 16 * mm
    template = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 8 * mm,
        title=doc.title,
        author="takeback",
        lang=doc.lang,
        invariant=1,
    )
    width = A4[0] - 2 * margin
    story: list[Flowable] = [_p(doc.title, s.title)]
    if doc.subtitle:
        story.append(_p(doc.subtitle, s.subtitle))
    for block in doc.blocks:
        story.extend(_flowables(block, s, width))

    footer = doc.footer or ""

    def on_page(canvas: Any, d: Any) -> None:
        canvas.saveState()
        canvas.setFont(s.footer_font, 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        y = 10 * mm
        text = f"{footer}   {d.page}" if footer else str(d.page)
        # long footers wrap onto two lines rather than running off the page
        para = RLParagraph(
            escape(text),
            ParagraphStyle(
                "f",
                fontName=s.footer_font,
                fontSize=7.5,
                leading=9,
                wordWrap="CJK" if doc.lang == "zh-Hant" else None,
                textColor=colors.HexColor("#555555"),
            ),
        )
        _, h = para.wrap(width, 20 * mm)
        para.drawOn(canvas, margin, y + 9 - h / 2)
        canvas.restoreState()

    template.build(story, onFirstPage=on_page, onLaterPages=on_page)
    data = buf.getvalue()
    if isinstance(out, Path):
        out.write_bytes(data)
    else:
        out.write(data)


def pdf_bytes(doc: Document) -> bytes:
    buf = io.BytesIO()
    render_pdf(doc, buf)
    return buf.getvalue()
