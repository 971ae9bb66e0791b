"""THE catalogue of takeback's words: one gettext catalogue per language, one lookup for every surface.

Every sentence a person reads in a report, guide, notice, bundle summary, CLI or web page comes from
``locales/<locale>/LC_MESSAGES/takeback.po`` through :func:`translate` (or :func:`translate_plural`).
Messages are keyed (``report.title``, ``notice.tid.title``): both languages are translations of the
key, so an English wording change never orphans the Chinese one, and a missing key is a ``KeyError``
instead of English leaking into a Chinese page. Placeholders are ``str.format`` fields (``{case}``),
flagged ``python-brace-format`` for translator tools.

The ``.po`` files are read once per process with Babel (no compile step, no binary in the tree) and
turned into ``gettext`` translations in memory, so plural forms follow each language's own rule
(``nplurals=2`` for English, one form for Chinese). The fixed terms every message must use are in
``glossary.yaml`` (docs/GLOSSARY.md).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

#: the gettext domain (the ``.po`` file name)
DOMAIN = "takeback"
#: the languages takeback speaks, as BCP 47 tags (the ``--lang`` values and the documents' ``lang``)
LANGS = ("en", "zh-Hant")
DEFAULT_LANG = "en"
#: BCP 47 tag -> gettext/CLDR locale folder
LOCALE_DIR = {"en": "en", "zh-Hant": "zh_Hant"}


def normalise(lang: str | None) -> str:
    """The language takeback will speak for a tag: one of :data:`LANGS` (unknown tags read English,
    as every surface did before the catalogue)."""
    if not lang:
        return DEFAULT_LANG
    tag = lang.strip().replace("_", "-")
    low = tag.lower()
    if low == "en" or low.startswith("en-"):
        return "en"
    if _is_traditional_chinese(low):
        return "zh-Hant"
    return DEFAULT_LANG


def _is_traditional_chinese(low: str) -> bool:
    """zh-Hant (any region), zh-HK, zh-TW, zh-MO, and bare zh (the people takeback serves first read
    Hong Kong Chinese; Simplified is not offered, so zh-Hans/zh-CN/zh-SG are not taken as zh-Hant)."""
    parts = low.split("-")
    if parts[0] != "zh":
        return False
    rest = parts[1:]
    if "hant" in rest:
        return True
    if "hans" in rest:
        return False
    return not rest or rest[0] in ("hk", "tw", "mo")


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGS` for an HTTP ``Accept-Language`` header (q-values honoured, ties in
    header order; ``*`` or nothing that fits reads English)."""
    if not accept_language:
        return DEFAULT_LANG
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")[:32]):
        fields = part.strip().split(";")
        tag = fields[0].strip()
        if not tag:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        ranked.append((-q, i, tag))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            return DEFAULT_LANG
        low = tag.lower().replace("_", "-")
        if low == "en" or low.startswith("en-"):
            return "en"
        if _is_traditional_chinese(low):
            return "zh-Hant"
    return DEFAULT_LANG


@functools.cache
def catalog(lang: str) -> Catalog:
    """The parsed ``.po`` catalogue of a language (what the tests and translator tools read)."""
    folder = LOCALE_DIR[normalise(lang)]
    ref = resources.files(__package__).joinpath("locales", folder, "LC_MESSAGES", f"{DOMAIN}.po")
    with ref.open("rb") as fh:
        return read_po(fh, locale=folder, domain=DOMAIN)


@functools.cache
def _translations(lang: str) -> Translations:
    buf = io.BytesIO()
    write_mo(buf, catalog(lang))
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


@dataclass(frozen=True)
class Translator:
    """One language's view of the catalogue, for code that says many things in one language."""

    lang: str

    def __call__(self, key: str, **params: Any) -> str:
        return translate(key, self.lang, **params)

    def plural(self, key: str, n: int, **params: Any) -> str:
        return translate_plural(key, n, self.lang, **params)

    def has(self, key: str) -> bool:
        return has(key)


def has(key: str) -> bool:
    """Whether the catalogue has a message (for lookups keyed by data, such as a status value)."""
    return catalog(DEFAULT_LANG).get(key) is not None


def translate(key: str, lang: str, **params: Any) -> str:
    """The message ``key`` in ``lang`` (normalised), with ``params`` filled in. ``KeyError`` if the
    catalogue has no such message: a missing translation is a bug, not an English fallback."""
    lang = normalise(lang)
    msg = catalog(lang).get(key)
    if msg is None or not msg.string or isinstance(msg.id, tuple):
        raise KeyError(f"no message {key!r} in the {lang} catalogue")
    text = _translations(lang).gettext(key)
    return text.format(**params) if params else text


def translate_plural(key: str, n: int, lang: str, **params: Any) -> str:
    """A message with plural forms, chosen by the language's plural rule for ``n`` (``{n}`` is
    filled in with ``n``)."""
    lang = normalise(lang)
    msg = catalog(lang).get(key)
    if msg is None or not isinstance(msg.id, tuple):
        raise KeyError(f"no plural message {key!r} in the {lang} catalogue")
    text = _translations(lang).ngettext(key, key, n)
    return text.format(n=n, **params)


def series(prefix: str, lang: str, **params: Any) -> list[str]:
    """The numbered messages ``prefix.1``, ``prefix.2``, ... in order (paragraphs of one section)."""
    out: list[str] = []
    while has(f"{prefix}.{len(out) + 1}"):
        out.append(translate(f"{prefix}.{len(out) + 1}", lang, **params))
    return out


def text_for(key: str, lang: str, default: str) -> str:
    """The message for a key made from data (a status, an action), or ``default`` when the catalogue
    has none (a value newer than the catalogue reads as itself)."""
    return translate(key, lang) if has(key) else default


__all__ = [
    "DEFAULT_LANG",
    "DOMAIN",
    "LANGS",
    "Translator",
    "catalog",
    "has",
    "negotiate",
    "normalise",
    "series",
    "text_for",
    "translate",
    "translate_plural",
]
