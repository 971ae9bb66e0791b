"""Check PDFs as a reader's viewer sees them: poppler's pdffonts, pdftotext and pdftoppm.

Why poppler and not pypdf: pypdf reads Type0 fonts with an embedded CMap (how fpdf2 writes the
subset Noto Sans TC) one byte at a time and returns wrong characters; poppler is what Linux viewers,
and many converters, use. The machine the tests run on must have no CJK system fonts for the render
checks to mean anything: then a font that is not embedded shows as boxes or nothing.

Every helper skips the test, with the reason, when poppler-utils is missing.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

POPPLER_MISSING = (
    "poppler-utils (pdffonts, pdftotext, pdftoppm) is not installed: `apt-get install -y poppler-utils`"
)
#: what never starts a line in Chinese typesetting
CLOSING = "，。、；：？！）」』》〉】"


def need_poppler() -> None:
    if any(shutil.which(t) is None for t in ("pdffonts", "pdftotext", "pdftoppm")):
        pytest.skip(POPPLER_MISSING)


def _run(args: list[str], pdf: bytes | Path) -> bytes:
    need_poppler()
    if isinstance(pdf, Path):
        return subprocess.run([*args, str(pdf), "-"], capture_output=True, check=True, timeout=120).stdout
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        return subprocess.run([*args, f.name, "-"], capture_output=True, check=True, timeout=120).stdout


def fonts(pdf: bytes | Path) -> list[dict[str, str]]:
    """``pdffonts``' table: one dict per font (name, type, encoding, emb, sub, uni)."""
    need_poppler()
    if isinstance(pdf, Path):
        out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, check=True, text=True).stdout
    else:
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(pdf)
            f.flush()
            out = subprocess.run(["pdffonts", f.name], capture_output=True, check=True, text=True).stdout
    lines = out.splitlines()
    dashes = lines[1]
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]
    names = ["name", "type", "encoding", "emb", "sub", "uni", "object", "id"]
    rows = []
    for line in lines[2:]:
        cells = [
            line[a:b].strip() if i < len(spans) - 1 else line[a:].strip() for i, (a, b) in enumerate(spans)
        ]
        # the type column can hold spaces ("CID Type 0C"): cut by the header's dash columns
        rows.append(dict(zip(names, cells, strict=False)))
    return rows


def assert_fonts_embedded(pdf: bytes | Path) -> list[dict[str, str]]:
    rows = fonts(pdf)
    assert rows, "the PDF names no font"
    not_embedded = [r["name"] for r in rows if r["emb"] != "yes"]
    assert not not_embedded, f"fonts not embedded: {not_embedded}"
    return rows


def text(pdf: bytes | Path) -> str:
    """The text as pdftotext reads it (pages separated by form feeds)."""
    return _run(["pdftotext", "-enc", "UTF-8"], pdf).decode("utf-8")


def squeeze(s: str) -> str:
    """``s`` without any whitespace (line breaks in a PDF fall anywhere a line was full)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", s))


def assert_no_line_starts_with_closing_punctuation(pdf: bytes | Path) -> None:
    bad = [ln for ln in text(pdf).splitlines() if ln and ln[0] in CLOSING]
    assert not bad, f"lines starting with closing punctuation: {bad[:5]}"


def words(pdf: bytes | Path, page: int = 1) -> list[tuple[str, float, float, float, float]]:
    """Words of one page with their boxes in points: (text, x0, y0, x1, y1)."""
    out = _run(["pdftotext", "-bbox", "-f", str(page), "-l", str(page)], pdf).decode("utf-8")
    rx = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
    return [
        (html.unescape(m[5]), float(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in rx.finditer(out)
    ]


def render(pdf: bytes | Path, page: int = 1, dpi: int = 100) -> np.ndarray:
    """One page rendered by pdftoppm, as a greyscale array (0 = black)."""
    need_poppler()
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.pdf"
        if isinstance(pdf, Path):
            shutil.copyfile(pdf, src)
        else:
            src.write_bytes(pdf)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-f",
                str(page),
                "-l",
                str(page),
                "-png",
                "-gray",
                str(src),
                f"{d}/p",
            ],
            check=True,
            timeout=120,
        )
        (png,) = Path(d).glob("p*.png")
        return np.asarray(Image.open(png).convert("L"), dtype=np.float32)


def _all_cjk(s: str) -> bool:
    return all(unicodedata.east_asian_width(c) in "WF" for c in s)


def assert_chinese_glyphs_drawn(pdf: bytes | Path, page: int = 1, dpi: int = 100, min_words: int = 2) -> None:
    """Each Chinese character on the page is inked, and different characters look different.

    A font the viewer lacks draws nothing or the same empty box for every character: both fail.
    Words made only of full-width characters are cut into equal cells, one per character.
    """
    scale = dpi / 72
    img = render(pdf, page, dpi)
    checked = 0
    for word, x0, y0, x1, y1 in words(pdf, page):
        if len({c for c in word if unicodedata.category(c) == "Lo"}) < 4 or not _all_cjk(word):
            continue
        cw = (x1 - x0) / len(word)
        cells: dict[str, np.ndarray] = {}
        for i, ch in enumerate(word):
            if unicodedata.category(ch) != "Lo":
                continue  # punctuation has too little ink to judge
            a, b = round((x0 + i * cw) * scale), round((x0 + (i + 1) * cw) * scale)
            crop = img[round(y0 * scale) : round(y1 * scale), a:b]
            ink = float((255 - crop).sum()) / 255  # in fully black pixels
            assert ink >= 2, f"no ink where {ch!r} of {word!r} should be (page {page})"
            cells.setdefault(ch, crop)
        shapes = [c for c in cells.values()]
        h = min(c.shape[0] for c in shapes)
        w = min(c.shape[1] for c in shapes)
        flat = [c[:h, :w] for c in shapes]
        same = sum(
            1
            for i in range(len(flat))
            for j in range(i + 1, len(flat))
            if np.abs(flat[i] - flat[j]).mean() < 4
        )
        pairs = len(flat) * (len(flat) - 1) // 2
        assert same < pairs / 4, f"the characters of {word!r} all look alike: boxes, not glyphs"
        checked += 1
    assert checked >= min_words, f"found only {checked} all-Chinese words on page {page}"
