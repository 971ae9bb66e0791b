"""Render a :class:`Document` as PDF with fpdf2, every font embedded and subset, in every language.

Why: these are the documents a person hands to the police or a privacy regulator, so they must look
the same on any viewer, with or without Asian fonts installed. Nothing is left to the viewer: Latin
text is set in Source Sans Pro (regular, bold), hashes and ids in IBM Plex Mono, Chinese in Noto Sans
TC (the CJK companion of Source Sans); each arrives with ``pip install`` and is OFL-1.1 (see
``FONTS``). Each character goes to the first font that has it, so a Latin run inside Chinese text
keeps Latin spacing. Only the glyphs a document uses are embedded; the Chinese font is not even
loaded for a document without Chinese. Noto Sans TC has no bold: Chinese headings are drawn with a
thin outline stroke. Lines are broken by :mod:`takeback.reports.linebreak` (never inside a number,
date, URL or word), then placed by a small paginator: notices and headings stay with what follows,
table headers repeat on each page, a row taller than a page goes on over the next, and the footer
(legal notice + page number) is on every page.
Output is reproducible: the same document gives the same bytes.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import BinaryIO, Literal

from fpdf import FPDF
from fpdf.enums import TextMode
from fpdf.fonts import TTFFont
from PIL import Image as PILImage

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

__all__ = ["FONTS", "FontFile", "font_path", "pdf_bytes", "render_pdf", "unsupported_characters"]

Weight = Literal["regular", "bold", "mono"]
RGB = tuple[int, int, int]
_Cell = tuple[float, list[str], "_Style"]  # a table cell: left x, its lines, their style


@dataclass(frozen=True)
class FontFile:
    """A font takeback embeds, where it comes from and under which licence."""

    name: str
    package: str  # the PyPI distribution that installs it
    module: str  # its import name
    path: str  # inside the module
    licence: str


#: every font a PDF may embed (the project's dependencies install them; none is copied into takeback)
FONTS: dict[str, FontFile] = {
    "sans": FontFile(
        "Source Sans Pro Regular",
        "font-source-sans-pro",
        "font_source_sans_pro",
        "files/SourceSansPro-Regular.ttf",
        "OFL-1.1",
    ),
    "sans-bold": FontFile(
        "Source Sans Pro Bold",
        "font-source-sans-pro",
        "font_source_sans_pro",
        "files/SourceSansPro-Bold.ttf",
        "OFL-1.1",
    ),
    "mono": FontFile(
        "IBM Plex Mono Regular",
        "fontpkg-ibm-plex-mono",
        "fontpkg_ibm_plex_mono",
        "files/IBMPlexMono-Regular.ttf",
        "OFL-1.1",
    ),
    "cjk": FontFile(
        "Noto Sans TC Regular",
        "pylopdf-fonts-zh-tw",
        "pylopdf_fonts_zh_tw",
        "NotoSansTC-Regular.otf",
        "OFL-1.1",
    ),
}
# fpdf2 family and style per font
_FAMILY = {
    "sans": ("tb-sans", ""),
    "sans-bold": ("tb-sans", "B"),
    "mono": ("tb-mono", ""),
    "cjk": ("tb-cjk", ""),
}
# which fonts a character may come from, in order, for each weight
_CHAIN: dict[Weight, tuple[str, ...]] = {
    "regular": ("sans", "cjk"),
    "bold": ("sans-bold", "sans", "cjk"),
    "mono": ("mono", "sans", "cjk"),
}
_REPLACEMENT = "?"  # drawn for a character no font has (the text keeps its place visibly)


def font_path(key: str) -> Path:
    """The installed file of one of :data:`FONTS`."""
    f = FONTS[key]
    path = Path(str(resources.files(f.module).joinpath(f.path)))
    if not path.is_file():  # pragma: no cover - a broken installation
        raise FileNotFoundError(f"font {f.name} missing: reinstall {f.package}")
    return path


# --- page geometry and styles (points) ---------------------------------------------------------

_MM = 72 / 25.4
_PAGE_W, _PAGE_H = 210 * _MM, 297 * _MM
_MARGIN = 16 * _MM
_TOP = _MARGIN
_BOTTOM = _PAGE_H - _MARGIN - 8 * _MM
_WIDTH = _PAGE_W - 2 * _MARGIN
_BASELINE = 0.86  # of the font size, from the top of the em box (Noto Sans TC's ideographic box is 0.88)

_TEXT: RGB = (26, 26, 26)
_GREY: RGB = (85, 85, 85)
_RULE: RGB = (187, 187, 187)
_HEAD_FILL: RGB = (240, 240, 240)
_TONES: dict[str, tuple[RGB, RGB]] = {
    "info": ((0x3A, 0x6E, 0xA5), (0xEE, 0xF4, 0xFB)),
    "warning": ((0xB8, 0x86, 0x0B), (0xFD, 0xF6, 0xE3)),
    "danger": ((0xB2, 0x22, 0x22), (0xFD, 0xEC, 0xEA)),
}


@dataclass(frozen=True)
class _Style:
    size: float
    leading: float
    weight: Weight = "regular"
    color: RGB = _TEXT


_BODY = _Style(9.5, 13.5)
_MUTED = _Style(9.5, 13.5, color=_GREY)
_SMALL = _Style(8, 10.5, color=_GREY)
_STRONG = _Style(9.5, 13.5, "bold")
_TITLE = _Style(17, 22, "bold")
_SUBTITLE = _Style(9.5, 13.5, color=_GREY)
_HEADINGS = {
    2: (_Style(13, 17, "bold"), 10.0, 4.0),
    3: (_Style(11, 15, "bold"), 7.0, 3.0),
    4: (_Style(10, 14, "bold"), 5.0, 2.0),
}
_CELL = _Style(8.2, 10.5)
_CELL_HEAD = _Style(8.2, 10.5, "bold")
_MONO = _Style(7, 9, "mono")
_FOOTER = _Style(7.5, 9, color=_GREY)


# --- fonts: which font draws each character, and how wide it is --------------------------------


class _Fonts:
    """The fonts of one PDF, each loaded only when a character needs it."""

    def __init__(self, pdf: FPDF, chars: set[str]) -> None:
        self.pdf = pdf
        self.loaded: set[str] = set()
        self._pick: dict[tuple[Weight, str], tuple[str, str]] = {}
        self._widths: dict[Weight, dict[str, float]] = {"regular": {}, "bold": {}, "mono": {}}
        self._load("sans")  # the others when a character needs them (an unused font still costs a subset)
        # the Chinese font is read only for the characters the Latin fonts lack: loading all of
        # its 20,000 code points would cost more than the whole document
        sans = self._ttf("sans").cmap
        needed = {ord(c) for c in chars if ord(c) not in sans and unicodedata.category(c) != "Cc"}
        # keep the space: fpdf2 reserves its code, and without it maps that code to the range's first
        # glyph (MuPDF then reads that glyph back as a space)
        self._cjk_range = sorted({0x20, *needed}) if needed else []

    def _ttf(self, key: str) -> TTFFont:
        family, style = _FAMILY[key]
        font = self.pdf.fonts[family + style]
        assert isinstance(font, TTFFont)
        return font

    def _load(self, key: str) -> None:
        if key not in self.loaded:
            family, style = _FAMILY[key]
            if key == "cjk":
                self.pdf.add_font(family, style, font_path(key), unicode_range=self._cjk_range)
            else:
                self.pdf.add_font(family, style, font_path(key))
            # the subset's bounding box may stay the whole font's (still a valid box): recomputing
            # it draws every glyph outline and was half the time of a Chinese PDF
            self._ttf(key).ttfont.recalcBBoxes = False
            self.loaded.add(key)

    def _covers(self, key: str, ch: str) -> bool:
        if key == "cjk" and not self._cjk_range:
            return False
        self._load(key)
        return ord(ch) in self._ttf(key).cmap

    def pick(self, ch: str, weight: Weight) -> tuple[str, str]:
        """(font key, the character as drawn): the first font of the weight's chain that has it."""
        hit = self._pick.get((weight, ch))
        if hit is None:
            chain = _CHAIN[weight]
            key = next((k for k in chain if self._covers(k, ch)), None)
            if key is not None:
                hit = (key, ch)
            elif unicodedata.category(ch) in ("Cc", "Cf", "Mn"):
                hit = (chain[0], "")  # controls, joiners and marks that no font draws: invisible anyway
            else:
                hit = (chain[0], _REPLACEMENT)
            self._pick[(weight, ch)] = hit
        return hit

    def width(self, ch: str, weight: Weight) -> float:
        """Advance width of ``ch`` in thousandths of the font size."""
        cache = self._widths[weight]
        w = cache.get(ch)
        if w is None:
            key, drawn = self.pick(ch, weight)
            w = cache[ch] = float(self._ttf(key).cw[ord(drawn)]) if drawn else 0.0
        return w

    def measure(self, text: str, style: _Style) -> float:
        cache = self._widths[style.weight]
        total = 0.0
        for c in text:
            w = cache.get(c)
            total += w if w is not None else self.width(c, style.weight)
        return total * style.size / 1000

    def runs(self, text: str, weight: Weight) -> list[tuple[str, str]]:
        """``text`` cut into (font key, drawn text) runs."""
        out: list[tuple[str, str]] = []
        for ch in text:
            key, drawn = self.pick(ch, weight)
            if not drawn:
                continue
            if out and out[-1][0] == key:
                out[-1] = (key, out[-1][1] + drawn)
            else:
                out.append((key, drawn))
        return out


# --- bands: what the paginator places ----------------------------------------------------------


@dataclass(eq=False)
class _Band:
    """A horizontal strip of a page: its height and how to draw it with its top at ``y``."""

    height: float
    draw: Callable[[float], None] | None = None  # None: vertical space, dropped at the top of a page
    keep_next: bool = False  # goes to a new page with the band after it
    header: _Band | None = None  # drawn first when this band starts a page (a table's header row)
    #: for a row taller than a page: the part that fits a height and the rest (None: nothing fits)
    split: Callable[[float], tuple[_Band, _Band] | None] | None = None


@dataclass
class _Renderer:
    doc: Document
    pdf: FPDF = field(init=False)
    fonts: _Fonts = field(init=False)
    y: float = field(init=False, default=_TOP)  # where the next band goes on the current page

    def __post_init__(self) -> None:
        pdf = FPDF(unit="pt", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(_MARGIN, _TOP, _MARGIN)
        pdf.set_title(self.doc.title)
        pdf.set_author("takeback")
        pdf.set_creator("takeback")
        pdf.set_lang(self.doc.lang)
        # reproducible output, as before: no creation time of its own (the date is in the text)
        pdf.set_creation_date(datetime(2000, 1, 1, tzinfo=UTC))
        self.pdf = pdf
        self.fonts = _Fonts(pdf, _characters(self.doc))

    # text ------------------------------------------------------------------------------------

    def lines(self, text: str, style: _Style, width: float) -> list[str]:
        # NFC: an accent typed as a separate mark is drawn with the precomposed glyph the font has
        return wrap(unicodedata.normalize("NFC", text), width, lambda s: self.fonts.measure(s, style))

    def draw_text(self, x: float, top: float, text: str, style: _Style) -> None:
        """One line of text with its line box's top at ``top``."""
        pdf = self.pdf
        baseline = top + (style.leading - style.size) / 2 + _BASELINE * style.size
        pdf.set_text_color(*style.color)
        for key, run in self.fonts.runs(text, style.weight):
            family, fstyle = _FAMILY[key]
            pdf.set_font(family, fstyle, style.size)
            if key == "cjk" and style.weight == "bold":
                # no bold Chinese face: fill and stroke the outline (extraction is unaffected)
                with pdf.local_context(
                    text_mode=TextMode.FILL_STROKE, line_width=style.size * 0.035, draw_color=style.color
                ):
                    pdf.text(x, baseline, run)
            else:
                pdf.text(x, baseline, run)
            x += self.fonts.measure(run, style)

    def text_bands(
        self, text: str, style: _Style, x: float, width: float, *, keep_lines: bool = True
    ) -> list[_Band]:
        """A paragraph as one band per line; a first or last line is never left alone on a page."""
        lines = self.lines(text, style, width)
        bands = [_Band(style.leading, self._liner(x, line, style)) for line in lines]
        if keep_lines and len(bands) >= 2:
            bands[0].keep_next = True
            bands[-2].keep_next = True
        return bands

    def _liner(self, x: float, line: str, style: _Style) -> Callable[[float], None]:
        return lambda y: self.draw_text(x, y, line, style)

    # pages -----------------------------------------------------------------------------------

    def new_page(self, header: _Band | None = None) -> None:
        """A fresh page with its footer (and a table's header row when a table goes on)."""
        pdf = self.pdf
        pdf.add_page()
        footer = self.doc.footer
        text = f"{footer}   {pdf.page_no()}" if footer else str(pdf.page_no())
        lines = self.lines(text, _FOOTER, _WIDTH)
        centre = _PAGE_H - (10 * _MM + 9)
        y = centre - len(lines) * _FOOTER.leading / 2
        for line in lines:
            self.draw_text(_MARGIN, y, line, _FOOTER)
            y += _FOOTER.leading
        self.y = _TOP
        if header is not None:
            self.place(header)

    def paginate(self, bands: Sequence[_Band]) -> None:
        self.new_page()
        body = _BOTTOM - _TOP
        for i, band in enumerate(bands):
            if band.draw is None:
                if self.y > _TOP:
                    self.y = min(self.y + band.height, _BOTTOM)
                continue
            need = band.height
            j = i
            while bands[j].keep_next and j + 1 < len(bands):
                j += 1
                need += bands[j].height
            if need > body:  # a chain longer than a page cannot stay together
                need = band.height
            header = band.header
            top = _TOP + (header.height if header is not None else 0.0)
            # a row taller than a page fills what is left of this one and goes on over the next
            while band.split is not None and band.height > _BOTTOM - top and self.y + band.height > _BOTTOM:
                cut = band.split(_BOTTOM - self.y)
                if cut is not None:
                    self.place(cut[0])
                    band = cut[1]
                elif self.y <= top:
                    break  # not one line fits a page: let it run over rather than loop
                self.new_page(header)
                need = band.height
            if self.y + need > _BOTTOM + 0.01 and self.y > top:
                self.new_page(header)
            self.place(band)

    def place(self, band: _Band) -> None:
        if band.draw is not None:
            band.draw(self.y)
        self.y += band.height

    # blocks ----------------------------------------------------------------------------------

    def bands(self, b: Block) -> list[_Band]:
        if isinstance(b, Heading):
            style, before, after = _HEADINGS[min(max(b.level, 2), 4)]
            lines = self.text_bands(b.text, style, _MARGIN, _WIDTH, keep_lines=False)
            for band in lines:
                band.keep_next = True  # a heading is never the last thing on a page
            return [_Band(before), *lines, _Band(after, keep_next=True)]
        if isinstance(b, Paragraph):
            style = {"normal": _BODY, "muted": _MUTED, "small": _SMALL}[b.style]
            return [*self.text_bands(b.text, style, _MARGIN, _WIDTH), _Band(3)]
        if isinstance(b, Notice):
            return [_Band(4), *self.notice(b), _Band(6)]
        if isinstance(b, Bullets):
            return [*self.bullets(b.items), _Band(3)]
        if isinstance(b, KeyValues):
            return [*self.key_values(b.pairs), _Band(4)]
        if isinstance(b, Table):
            return [*self.table(b), _Band(6)]
        if isinstance(b, Image):
            return [*self.image(b), _Band(4)]
        raise TypeError(f"unknown block {type(b).__name__}")  # pragma: no cover

    def notice(self, b: Notice) -> list[_Band]:
        """A tinted box with a coloured edge; kept on one page when it fits on one."""
        edge, fill = _TONES[b.tone]
        bar, pad = 3.0, 8.0
        x, width = _MARGIN + bar + pad, _WIDTH - bar - 2 * pad
        inner: list[_Band] = [_Band(4)]
        inner.extend(self.text_bands(b.title, _STRONG, x, width, keep_lines=False))
        for text in b.body:
            inner.append(_Band(2))
            inner.extend(self.text_bands(text, _BODY, x, width, keep_lines=False))
        inner.append(_Band(4))
        out: list[_Band] = []
        for band in inner:
            out.append(_Band(band.height, self._boxed(band, edge, fill, bar), keep_next=True))
        out[-1].keep_next = False
        return out

    def _boxed(self, band: _Band, edge: RGB, fill: RGB, bar: float) -> Callable[[float], None]:
        def draw(y: float) -> None:
            pdf = self.pdf
            pdf.set_fill_color(*fill)
            pdf.rect(_MARGIN, y, _WIDTH, band.height, style="F")
            pdf.set_fill_color(*edge)
            pdf.rect(_MARGIN, y, bar, band.height, style="F")
            if band.draw is not None:
                band.draw(y)

        return draw

    def bullets(self, items: list[str]) -> list[_Band]:
        indent = 14.0
        out: list[_Band] = []
        for n, item in enumerate(items):
            lines = self.text_bands(item, _BODY, _MARGIN + indent, _WIDTH - indent)
            if not lines:  # pragma: no cover - wrap always gives a line
                continue
            first = lines[0]
            lines[0] = _Band(first.height, self._bulleted(first), first.keep_next)
            if n:
                out.append(_Band(1.5))
            out.extend(lines)
        return out

    def _bulleted(self, band: _Band) -> Callable[[float], None]:
        def draw(y: float) -> None:
            self.draw_text(_MARGIN + 4, y, "•", _BODY)
            if band.draw is not None:
                band.draw(y)

        return draw

    def key_values(self, pairs: list[tuple[str, str]]) -> list[_Band]:
        key_w = _WIDTH * 0.28
        gap = 6.0
        return [
            self._row(
                [
                    (_MARGIN, self.lines(k, _CELL_HEAD, key_w - gap), _CELL_HEAD),
                    (_MARGIN + key_w, self.lines(v, _CELL, _WIDTH - key_w), _CELL),
                ],
                1.0,
                self._kv_drawer,
            )
            for k, v in pairs
        ]

    def _kv_drawer(self, cells: list[_Cell], height: float) -> Callable[[float], None]:
        def draw(y: float) -> None:
            for x, lines, style in cells:
                for n, line in enumerate(lines):
                    self.draw_text(x, y + 1 + n * style.leading, line, style)

        return draw

    def _row(
        self, cells: list[_Cell], pad: float, drawer: Callable[[list[_Cell], float], Callable[[float], None]]
    ) -> _Band:
        """A row of cells side by side; a row taller than a page can be cut between lines."""
        height = max((len(lines) * style.leading for _, lines, style in cells), default=0.0) + 2 * pad
        band = _Band(height, drawer(cells, height))

        def split(avail: float) -> tuple[_Band, _Band] | None:
            fit = [int((avail - 2 * pad) // style.leading) for _, _, style in cells]
            if min(fit) < 1:
                return None
            head = [(x, lines[:n], st) for (x, lines, st), n in zip(cells, fit, strict=True)]
            rest = [(x, lines[n:], st) for (x, lines, st), n in zip(cells, fit, strict=True)]
            return self._row(head, pad, drawer), self._row(rest, pad, drawer)

        band.split = split
        return band

    def table(self, b: Table) -> list[_Band]:
        pad_x, pad_y = 4.0, 2.5
        rel = b.widths or [1.0] * len(b.headers)
        total = sum(rel)
        widths = [_WIDTH * r / total for r in rel]
        xs = [_MARGIN + sum(widths[:i]) for i in range(len(widths))]

        def row(texts: Sequence[str], head: bool) -> _Band:
            cells = []
            for i, text in enumerate(texts):
                style = _CELL_HEAD if head else (_MONO if i in b.mono else _CELL)
                cells.append((xs[i] + pad_x, self.lines(text, style, widths[i] - 2 * pad_x), style))
            return self._row(cells, pad_y, lambda c, h: self._cell_drawer(c, xs, widths, h, pad_y, head))

        header = row(b.headers, True)
        header.keep_next = True
        header.split = None  # a header row is drawn whole (again on each page the table goes on)
        out = [header]
        for r in b.rows:
            band = row(r, False)
            band.header = header
            out.append(band)
        return out

    def _cell_drawer(
        self,
        cells: list[_Cell],
        xs: list[float],
        widths: list[float],
        height: float,
        pad_y: float,
        head: bool,
    ) -> Callable[[float], None]:
        def draw(y: float) -> None:
            pdf = self.pdf
            if head:
                pdf.set_fill_color(*_HEAD_FILL)
                pdf.rect(xs[0], y, sum(widths), height, style="F")
            for x, lines, style in cells:
                for n, line in enumerate(lines):
                    self.draw_text(x, y + pad_y + n * style.leading, line, style)
            pdf.set_draw_color(*_RULE)
            pdf.set_line_width(0.4)
            right = xs[0] + sum(widths)
            pdf.line(xs[0], y, right, y)
            pdf.line(xs[0], y + height, right, y + height)
            for x in [*xs, right]:
                pdf.line(x, y, x, y + height)

        return draw

    def image(self, b: Image) -> list[_Band]:
        with PILImage.open(io.BytesIO(b.png)) as im:
            px_w, px_h = im.size
        w = min(b.width_mm * _MM, _WIDTH)
        h = w * px_h / max(px_w, 1)
        limit = (_BOTTOM - _TOP) * 0.9
        if h > limit:
            w, h = w * limit / h, limit
        out = [_Band(h, self._imager(b.png, w, h), keep_next=bool(b.caption))]
        if b.caption:
            out.append(_Band(2, keep_next=True))
            out.extend(self.text_bands(b.caption, _SMALL, _MARGIN, _WIDTH))
        return out

    def _imager(self, png: bytes, w: float, h: float) -> Callable[[float], None]:
        def draw(y: float) -> None:
            self.pdf.image(io.BytesIO(png), _MARGIN, y, w, h)

        return draw

    # the whole document ---------------------------------------------------------------------

    def render(self) -> bytes:
        doc = self.doc
        bands = self.text_bands(doc.title, _TITLE, _MARGIN, _WIDTH)
        bands.append(_Band(4))
        if doc.subtitle:
            bands.extend(self.text_bands(doc.subtitle, _SUBTITLE, _MARGIN, _WIDTH))
            bands.append(_Band(8))
        for block in doc.blocks:
            bands.extend(self.bands(block))
        self.paginate(bands)
        return bytes(self.pdf.output())


def render_pdf(doc: Document, out: BinaryIO | Path) -> None:
    """Write the PDF to a path or a binary file object."""
    data = _Renderer(doc).render()
    if isinstance(out, Path):
        out.write_bytes(data)
    else:
        out.write(data)


def pdf_bytes(doc: Document) -> bytes:
    buf = io.BytesIO()
    render_pdf(doc, buf)
    return buf.getvalue()


def _texts(b: Block) -> list[str]:
    if isinstance(b, Heading | Paragraph):
        return [b.text]
    if isinstance(b, Notice):
        return [b.title, *b.body]
    if isinstance(b, Bullets):
        return b.items
    if isinstance(b, KeyValues):
        return [t for kv in b.pairs for t in kv]
    if isinstance(b, Table):
        return [*b.headers, *(c for r in b.rows for c in r)]
    if isinstance(b, Image):
        return [b.caption]
    raise TypeError(f"unknown block {type(b).__name__}")  # pragma: no cover


def _characters(doc: Document) -> set[str]:
    """Every character the PDF may draw: the document's text, bullets and page numbers."""
    texts = [doc.title, doc.subtitle or "", doc.footer or "", "•0123456789 "]
    for b in doc.blocks:
        texts.extend(_texts(b))
    return {c for t in texts for c in unicodedata.normalize("NFC", t)}


def unsupported_characters(doc: Document) -> set[str]:
    """Characters of ``doc`` that no embedded font can draw (they print as ``?``)."""
    chars = _characters(doc)
    fonts = _Fonts(FPDF(unit="pt"), chars)
    return {c for c in chars if not c.isspace() and fonts.pick(c, "regular")[1] == _REPLACEMENT}
