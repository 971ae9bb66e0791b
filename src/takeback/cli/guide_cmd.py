"""``takeback guide``: what the law says and where to turn in one jurisdiction (information, not advice)."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from takeback.cli import paths
from takeback.cli.app import app, usage_error
from takeback.clock import parse_date
from takeback.errors import TakebackError
from takeback.guidance.kb import load_kb
from takeback.guidance.pathway import Situation, build_pathway, parse_facts
from takeback.guidance.render import pathway_document, pathway_json
from takeback.guidance.situation import Setting, VictimAge
from takeback.reports import render_html, render_pdf
from takeback.reports.text import render_text


class GuideLang(StrEnum):
    EN = "en"
    ZH_HANT = "zh-Hant"


class GuideFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    HTML = "html"
    PDF = "pdf"


@app.command("guide")
def guide_command(
    jurisdiction: Annotated[
        str,
        typer.Option(
            "--jurisdiction",
            "-j",
            help="HK, UK (England & Wales), SG, KR, AU, US (federal) or EU.",
            show_default=False,
        ),
    ],
    facts: Annotated[
        str,
        typer.Option(
            "--facts",
            help="What happened, comma-separated: created, possessed, shared, threatened; also no-image "
            "(a threat about an image that does not exist), not-shared, not-identifiable.",
            show_default=False,
        ),
    ],
    victim_age: Annotated[
        VictimAge,
        typer.Option(
            "--victim-age", help="adult, minor (under 18 now) or was-minor (under 18 in the images)."
        ),
    ] = VictimAge.ADULT,
    setting: Annotated[
        Setting | None,
        typer.Option("--setting", help="Where it happened: university, school, work, online, other."),
    ] = None,
    act_date: Annotated[
        str | None,
        typer.Option(
            "--act-date",
            help="When it happened (YYYY-MM-DD): works out complaint windows.",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        GuideLang, typer.Option("--lang", help="en or zh-Hant (Traditional Chinese).")
    ] = GuideLang.EN,
    fmt: Annotated[
        GuideFormat, typer.Option("--format", "-f", help="text, json, html or pdf.")
    ] = GuideFormat.TEXT,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write to this file (needed for pdf).",
            show_default=False,
            parser=paths.output_file,
        ),
    ] = None,
) -> None:
    """Which acts are crimes in a jurisdiction, which routes fit, their deadlines and what to collect.

    Legal information, not legal advice. The page opens with where to get help now. Points not
    confirmed from a primary legal text are marked UNCONFIRMED. If the person is or was under 18 this
    is said next, the law on images of children applies, no step asks to save or screenshot an image,
    and child-protection routes lead.
    """
    try:
        kb = load_kb()
        code = kb.get(jurisdiction).code
        when: date | None = None
        if act_date:
            when = parse_date(act_date, zone=kb.get(code).timezone, what="date of the act")
        situation = Situation(
            jurisdiction=code, facts=parse_facts(facts), victim_age=victim_age, setting=setting, act_date=when
        )
        pathway = build_pathway(situation, lang=lang.value, kb=kb)
    except TakebackError as exc:
        usage_error(exc.message)
    if fmt is GuideFormat.PDF:
        if out is None:
            usage_error("--format pdf needs --out FILE.pdf")
        render_pdf(pathway_document(pathway), out)
        return
    if fmt is GuideFormat.JSON:
        text = json.dumps(pathway_json(pathway), ensure_ascii=False, indent=2) + "\n"
    elif fmt is GuideFormat.HTML:
        text = render_html(pathway_document(pathway))
    else:
        text = render_text(pathway_document(pathway))
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
