"""Rendering shared by guidance, evidence, cases and triage: one document model, HTML and PDF."""

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
from takeback.reports.html import render_html
from takeback.reports.pdf import pdf_bytes, render_pdf

__all__ = [
    "Block",
    "Bullets",
    "Document",
    "Heading",
    "Image",
    "KeyValues",
    "Notice",
    "Paragraph",
    "Table",
    "pdf_bytes",
    "render_html",
    "render_pdf",
]
