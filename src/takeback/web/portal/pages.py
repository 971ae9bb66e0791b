"""Rendering the portal's pages: one Jinja environment, every word from the i18n catalogue.

Why Jinja with autoescape: every value a page shows that came from outside (what she typed in her
log, a URL) is escaped by default, and the templates stay readable HTML a translator or designer can
work in. Language travels in the URL (``?lang=zh-Hant``) rather than a cookie, so the portal keeps
no cookie but the sign-in one; ``url()`` carries it onto every link.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from takeback.clock import as_utc, format_local
from takeback.i18n import LANGS, negotiate, normalise, translate

HERE = Path(__file__).parent
ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
HTML_LANG = {"en": "en", "zh-Hant": "zh-Hant-HK"}


def page_lang(request: Request) -> str:
    """``?lang=`` when given (any tag ``normalise`` knows), else the browser's Accept-Language."""
    asked = request.query_params.get("lang")
    if asked:
        lang = normalise(asked)
        return lang if lang in LANGS else "en"
    return negotiate(request.headers.get("accept-language"))


def url_for_lang(path: str, lang: str, **params: Any) -> str:
    query = {k: v for k, v in params.items() if v is not None}
    query["lang"] = lang
    return f"{path}?{urlencode(query, doseq=True)}"


def render(
    request: Request, template: str, *, lang: str, status: int = 200, title_key: str, **context: Any
) -> HTMLResponse:
    def t(key: str, **params: Any) -> str:
        return translate(key, lang, **params)

    def url(path: str, **params: Any) -> str:
        return url_for_lang(path, lang, **params)

    zone = context.pop("zone", None) or "UTC"
    context.setdefault("error", None)

    def when(value: datetime | date | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return format_local(as_utc(value) or value, zone)
        return value.isoformat()

    other = "zh-Hant" if lang == "en" else "en"
    if request.method == "GET":
        keep = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        switch = f"{request.url.path}?{urlencode([*keep, ('lang', other)])}"
    else:  # the answer to a form: switching must not send the form again
        switch = url_for_lang("/", other)
    html = ENV.get_template(template).render(
        t=t,
        url=url,
        when=when,
        lang=lang,
        html_lang=HTML_LANG[lang],
        other_lang=other,
        other_lang_name=translate("portal.lang_name", other),  # each language by its own name
        switch_url=switch,
        title=t(title_key),
        exit_url=request.app.state.takeback.settings.portal_exit_url,
        **context,
    )
    return HTMLResponse(html, status_code=status)
