"""A small document model that renders to self-contained HTML and to PDF.

Why a model rather than two templates: guidance, evidence summaries, notices and (later) triage
reports must say exactly the same thing in the browser and on paper, in English and Traditional
Chinese, with the same legal-information notice on every page. Each producer builds a
:class:`Document` once; ``render_html`` and ``render_pdf`` turn it into either format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Tone = Literal["info", "warning", "danger"]


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: Literal["normal", "muted", "small"] = "normal"


@dataclass(frozen=True)
class Notice:
    """A boxed message: the legal-information notice, a child-protection warning, an unconfirmed fact."""

    title: str
    body: list[str]
    tone: Tone = "info"


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class KeyValues:
    pairs: list[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    #: relative column widths (any units); None spreads evenly
    widths: list[float] | None = None
    #: columns shown in a fixed-width font (hashes, ids)
    mono: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Image:
    """A PNG image (e.g. a blurred thumbnail in a triage report)."""

    png: bytes
    caption: str = ""
    width_mm: float = 40.0


Block = Heading | Paragraph | Notice | Bullets | KeyValues | Table | Image


@dataclass
class Document:
    title: str
    lang: str = "en"
    subtitle: str | None = None
    blocks: list[Block] = field(default_factory=list)
    #: printed at the foot of every PDF page and at the end of the HTML (e.g. "legal information, not advice")
    footer: str | None = None

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self
