"""``takeback feedback``: opinions of bank entries after a match, as a platform gives them over
``POST /v1/feedback``: ``add`` (positive, negative or investigation_seed, one per giver, replaced
when given again), and ``list`` (per-entry counts, or one entry's opinions). An entry held as disputed is
reviewed as every held entry is: ``takeback bank held|accept|reject --reason disputed``. An opinion of an
entry a mirror brought in is queued for the entry's source (``takeback exchange push-feedback``).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from takeback.cli.app import app, usage_error
from takeback.cli.bank_cmd import actor, handled, in_store
from takeback.cli.output import JsonlWriter, shown
from takeback.i18n import translate

feedback_app = typer.Typer(
    name="feedback",
    no_args_is_help=True,
    help="Opinions of bank entries: a true positive, a false positive, or a lead.",
)
app.add_typer(feedback_app)

out = Console(soft_wrap=True, highlight=False)


class OpinionChoice(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INVESTIGATION_SEED = "investigation_seed"


class Lang(StrEnum):
    EN = "en"
    ZH_HANT = "zh-Hant"


LangOption = Annotated[Lang, typer.Option("--lang", help="Language of the messages: en or zh-Hant.")]


def _entry(text: str) -> tuple[str, int]:
    bank, sep, cid = text.rpartition("/")
    if not sep or not bank or not cid.isdigit():
        usage_error(
            f"Name the entry as BANK/ID (as a match names it), not {text!r}; or give --hash TYPE:HEX."
        )
    return bank, int(cid)


def _hash(text: str) -> tuple[str, bytes]:
    from takeback.signals import REGISTRY, SignalError

    stype, sep, value = text.partition(":")
    if not sep or stype not in REGISTRY:
        usage_error(f"--hash is TYPE:HEX, with TYPE one of {', '.join(REGISTRY)}; not {text!r}.")
    try:
        return stype, REGISTRY[stype].validate(value, field="--hash")
    except SignalError as exc:
        usage_error(exc.message)


@feedback_app.command("add")
def add_command(
    opinion: Annotated[
        OpinionChoice,
        typer.Option(
            "--opinion", help="positive (true positive), negative (false positive) or investigation_seed."
        ),
    ],
    entry: Annotated[str | None, typer.Argument(help="The entry, BANK/ID (as a match names it).")] = None,
    hash_: Annotated[
        str | None,
        typer.Option("--hash", help="Or every entry holding this hash: TYPE:HEX (pdq:..., md5:...)."),
    ] = None,
    bank: Annotated[str | None, typer.Option("--bank", help="With --hash: only this bank's entries.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (at most 2,000 characters).")] = None,
    lang: LangOption = Lang.EN,
) -> None:
    """Give an opinion of an entry (replacing the one you gave before)."""
    from takeback.banks import service as banks
    from takeback.banks.service import BankError
    from takeback.exchanges.feedback import FeedbackResult, entries_with_hash, give_feedback

    if (entry is None) == (hash_ is None):
        usage_error("Name one entry as BANK/ID, or give --hash TYPE:HEX.")
    if bank is not None and hash_ is None:
        usage_error("--bank narrows --hash; with BANK/ID the bank is already named.")
    who = actor()
    named = _entry(entry) if entry is not None else None
    hashed = _hash(hash_) if hash_ is not None else None

    def work(s: Session) -> list[FeedbackResult]:
        if named is not None:
            targets = [(banks.get_bank(s, name=named[0]), named[1])]
        else:
            assert hashed is not None
            scope = None if bank is None else frozenset({banks.get_bank(s, name=bank).id})
            targets = entries_with_hash(s, signal_type=hashed[0], value=hashed[1], bank_ids=scope)
            if not targets:
                raise BankError("No entry holds this hash.", code="unknown_content")
        return [
            give_feedback(s, bank=b, content_id=c, giver=who, opinion=opinion.value, note=note, actor=who)
            for b, c in targets
        ]

    with handled():
        results = in_store(work)
    for r in results:
        o = r.outcome
        params = {
            "bank": shown(o.bank),
            "id": o.content_id,
            "opinion": translate(f"feedback.opinion.{o.opinion}", lang.value),
            "positive": o.counts.positive,
            "negative": o.counts.negative,
            "seeds": o.counts.investigation_seed,
        }
        out.print(
            translate(
                "feedback.cli.recorded" if o.changed else "feedback.cli.unchanged", lang.value, **params
            )
        )
        if r.queued_for is not None:
            out.print(translate("feedback.cli.queued", lang.value, exchange=shown(r.queued_for)))
        if o.quarantined:
            out.print(translate("feedback.cli.quarantined", lang.value, bank=shown(o.bank), id=o.content_id))


@feedback_app.command("list")
def list_command(
    bank: Annotated[str, typer.Argument(help="The bank.")],
    content_id: Annotated[int | None, typer.Argument(help="One entry: its opinions, who gave them.")] = None,
) -> None:
    """Per-entry opinion counts of a bank (JSON lines), or one entry's opinions."""
    from takeback.banks import feedback as fb

    with handled():
        if content_id is None:
            rows = in_store(lambda s: fb.entries_with_opinions(s, bank_name=bank))
        else:
            rows = in_store(lambda s: fb.opinions_of(s, bank_name=bank, content_id=content_id))
    writer = JsonlWriter(sys.stdout)
    for rec in rows:
        writer.write(rec)
