"""Every Traditional Chinese PDF takeback makes, made by the real commands and read as a viewer would.

The guide, each notice, the evidence bundle's summary and the scan report: every font embedded
(``pdffonts``), the Chinese text given back by ``pdftotext`` (known phrases, and every paragraph of
the same document's HTML rendering), no line opening with closing punctuation, and the Chinese
characters drawn as distinct glyphs by ``pdftoppm`` on a machine without CJK system fonts. On
today's unembedded ``MSung-Light`` each of these fails.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from tests import pdftools
from tests.banks.helpers import Cli
from tests.conftest import encode, synthetic_photo
from tests.triage import scenes

#: document -> phrases its PDF must give back exactly
PHRASES = {
    "guide": ["你的選擇：香港", "香港警務處", "個人資料私隱專員公署", "平等機會委員會"],
    "notice-take-it-down": ["https://t.example/c/1"],
    "notice-hk-police": ["香港警務處"],
    "notice-hk-pcpd": ["個人資料私隱專員公署"],
    "notice-hk-eoc": ["平等機會委員會"],
    "bundle-summary": ["保管鏈", "takeback evidence verify BUNDLE.zip"],
    "scan-report": ["鑑識分流報告", "保管鏈"],
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[bytes, str]]]:
    """Document name -> (its PDF, its HTML), all in zh-Hant, from one case."""
    pdftools.need_poppler()
    from takeback.config import get_settings

    tmp = tmp_path_factory.mktemp("zh")
    env = {
        "TAKEBACK_DATA_DIR": str(tmp / "data"),
        "TAKEBACK_LOCKER_PASSPHRASE": "correct horse battery staple",
        "TAKEBACK_ACTOR": "caseworker-ana",
        "TZ": "Asia/Hong_Kong",
        "COLUMNS": "200",
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TAKEBACK_DATABASE_URL", raising=False)
        for k, v in env.items():
            mp.setenv(k, v)
        get_settings.cache_clear()
        cli = Cli(env)
        out: dict[str, tuple[bytes, str]] = {}

        def run(*args: str) -> str:
            r = cli(*args)
            assert r.exit_code in (0, 1), r.output
            return r.output

        guide = ("guide", "-j", "HK", "--facts", "created,shared,threatened", "--lang", "zh-Hant")
        run(*guide, "-f", "pdf", "-o", str(tmp / "guide.pdf"))
        run(*guide, "-f", "html", "-o", str(tmp / "guide.html"))
        out["guide"] = ((tmp / "guide.pdf").read_bytes(), (tmp / "guide.html").read_text(encoding="utf-8"))

        r = run(
            *("case", "new", "-j", "HK", "--setting", "university", "--incident-date", "2026-03-01"),
            *("--consent", "hashing,referral", "--alias", "student A"),
        )
        ref = r.split("Case ", 1)[1].split(" ", 1)[0]
        shot = tmp / "screenshot.jpg"
        shot.write_bytes(encode(synthetic_photo(320, 240, seed=5), "JPEG", quality=90))
        run("evidence", "add", "--case", ref, str(shot), "--platform", "Telegram", "--account", "@poster")
        run("case", "takedown", "--case", ref, "--url", "https://t.example/c/1", "--platform", "Telegram")
        sign = ("--name", "陳小文", "--contact", "chan@example.org", "--signature", "/s/ 陳小文")
        for kind in ("take-it-down", "hk-police", "hk-pcpd", "hk-eoc"):
            base = ("case", "notice", "--case", ref, "--kind", kind, "--lang", "zh-Hant", *sign)
            run(*base, "-f", "pdf", "-o", str(tmp / f"{kind}.pdf"))
            run(*base, "-f", "html", "-o", str(tmp / f"{kind}.html"))
            out[f"notice-{kind}"] = (
                (tmp / f"{kind}.pdf").read_bytes(),
                (tmp / f"{kind}.html").read_text(encoding="utf-8"),
            )

        bundle = tmp / "bundle.zip"
        run("evidence", "bundle", "--case", ref, "--out", str(bundle), "--lang", "zh-Hant")
        with zipfile.ZipFile(bundle) as zf:
            out["bundle-summary"] = (zf.read("summary.pdf"), zf.read("summary.html").decode("utf-8"))

        seized = tmp / "seized"
        scenes.write_case(seized, people=1, photos=1, size=(240, 180))
        case = tmp / "case"
        run("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--lang", "zh-Hant")
        out["scan-report"] = (
            (case / "report.pdf").read_bytes(),
            (case / "report.html").read_text(encoding="utf-8"),
        )
        yield out
    get_settings.cache_clear()


class _Blocks(HTMLParser):
    """The text of each heading, paragraph, list item, notice title and key/value of a page."""

    TAGS = frozenset({"h1", "h2", "h3", "h4", "p", "li", "strong", "dt", "dd", "figcaption", "footer"})

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            t, parts = self._open.pop()
            self.blocks.append((t, "".join(parts)))

    def handle_data(self, data: str) -> None:
        for _, parts in self._open:
            parts.append(data)


DOCS = sorted(PHRASES)


@pytest.mark.parametrize("name", DOCS)
def test_every_font_is_embedded(made: dict[str, tuple[bytes, str]], name: str) -> None:
    rows = pdftools.assert_fonts_embedded(made[name][0])
    names = " ".join(r["name"] for r in rows)
    assert "NotoSansTC" in names and "SourceSansPro" in names  # Chinese and Latin each in their own font
    assert all(r["sub"] == "yes" for r in rows)  # subsets, not whole fonts


@pytest.mark.parametrize("name", DOCS)
def test_pdftotext_gives_back_the_chinese_text(made: dict[str, tuple[bytes, str]], name: str) -> None:
    pdf, page = made[name]
    got = pdftools.text(pdf)
    flat = pdftools.squeeze(got)
    for phrase in PHRASES[name]:
        assert pdftools.squeeze(phrase) in flat, phrase
    parser = _Blocks()
    parser.feed(page)
    footer = next((t for tag, t in parser.blocks if tag == "footer"), "")
    if footer:  # each page's footer sits between the halves of a paragraph that runs over a page
        flat = re.sub(re.escape(pdftools.squeeze(footer)) + r"\d+", "", flat)
    missing = [t for tag, t in parser.blocks if tag != "footer" and pdftools.squeeze(t) not in flat]
    assert not missing, f"{len(missing)} blocks not in the PDF text, e.g. {missing[:3]}"
    pdftools.assert_no_line_starts_with_closing_punctuation(pdf)


@pytest.mark.parametrize("name", DOCS)
def test_chinese_glyphs_are_drawn_without_system_fonts(made: dict[str, tuple[bytes, str]], name: str) -> None:
    pdftools.assert_chinese_glyphs_drawn(made[name][0], page=1)
