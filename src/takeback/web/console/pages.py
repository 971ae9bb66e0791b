"""Rendering the staff pages (console and review grid): one Jinja environment, every word from
the i18n catalogue, language in the URL (``?lang=``) as on the portal.

Templates live in ``web/console/templates`` and ``web/review/templates``; both extend
``staff_base.html`` (navigation by role, the language switch, sign-out).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from takeback.clock import as_utc, format_local
from takeback.i18n import translate
from takeback.web.portal.pages import HTML_LANG, page_lang, url_for_lang
from takeback.web.staffauth import Staff

HERE = Path(__file__).parent
ENV = Environment(
    loader=ChoiceLoader(
        [FileSystemLoader(HERE / "templates"), FileSystemLoader(HERE.parent / "review" / "templates")]
    ),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

__all__ = ["page_lang", "render"]


def render(
    request: Request,
    template: str,
    *,
    staff: Staff | None,
    lang: str,
    title_key: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A staff page. ``zone=`` (an IANA name) makes ``when()`` show times in that zone, labelled."""

    def t(key: str, **params: Any) -> str:
        return translate(key, lang, **params)

    def url(path: str, **params: Any) -> str:
        return url_for_lang(path, lang, **params)

    zone = context.pop("zone", None) or "UTC"
    context.setdefault("error", None)
    context.setdefault("notice", None)

    def when(value: datetime | date | None, in_zone: str | None = None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return format_local(as_utc(value) or value, in_zone or zone)
        return value.isoformat()

    other = "zh-Hant" if lang == "en" else "en"
    if request.method == "GET":
        keep = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        switch = f"{request.url.path}?{urlencode([*keep, ('lang', other)])}"
    else:  # the answer to a form: switching must not send the form again
        switch = url_for_lang("/console", other)
    html = ENV.get_template(template).render(
        t=t,
        url=url,
        when=when,
        lang=lang,
        html_lang=HTML_LANG[lang],
        other_lang=other,
        other_lang_name=translate("portal.lang_name", other),
        switch_url=switch,
        title=t(title_key),
        staff=staff,
        csrf=staff.csrf if staff is not None else "",
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status)
