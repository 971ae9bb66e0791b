"""Feedback on bank entries (issue 17, part 4): one opinion per giver and entry, replaced when given
again; python-threatexchange's aggregate (disputed when a negative meets any other); past the
bank's dispute threshold an entry is held for review and stops matching; every change audited."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from takeback.banks import feedback as fb
from takeback.banks import service as banks
from takeback.banks.service import BankError
from takeback.matching import Matcher, MatchQuery
from takeback.store import AuditEvent, Database
from tests.banks.helpers import Cli, cli, jsonl, pdq_entry, rand_bytes

__all__ = ["cli"]

ACTOR = "test:feedback"


def setup(db: Database, n: int = 2) -> tuple[list[int], list[bytes]]:
    rng = np.random.default_rng(23)
    values = [rand_bytes(rng) for _ in range(n)]
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
        outs = banks.add_contents(s, bank_name="b", entries=[pdq_entry(v) for v in values], actor=ACTOR)
    return [o.content_id for o in outs if o.content_id is not None], values


def give(db: Database, cid: int, giver: str, opinion: str, note: str | None = None) -> fb.OpinionOutcome:
    with db.session() as s:
        bank = banks.get_bank(s, name="b")
        return fb.record_opinion(
            s, bank=bank, content_id=cid, giver=giver, opinion=opinion, note=note, actor=giver
        )


def actions(db: Database, prefix: str = "feedback.") -> list[str]:
    with db.session() as s:
        return [
            a for a in s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)) if a.startswith(prefix)
        ]


def test_one_opinion_per_giver_replaced_and_a_resend_changes_nothing(db: Database) -> None:
    (cid, _), _ = setup(db)
    first = give(db, cid, "key:a", "positive", "confirmed by a moderator")
    assert first.changed and first.counts == fb.OpinionCounts(positive=1)
    again = give(db, cid, "key:a", "positive", "confirmed by a moderator")
    assert not again.changed and again.counts == first.counts
    assert actions(db) == ["feedback.opinion"]  # the resend wrote nothing
    changed = give(db, cid, "key:a", "investigation_seed")  # the same giver changes its mind
    assert changed.changed and changed.counts == fb.OpinionCounts(investigation_seed=1)
    give(db, cid, "key:b", "POSITIVE ")  # case and spaces forgiven
    with db.session() as s:
        opinions = fb.opinions_of(s, bank_name="b", content_id=cid)
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "feedback.opinion")).all()
    assert [(o["giver"], o["opinion"], o["note"]) for o in opinions] == [
        ("key:a", "investigation_seed", None),
        ("key:b", "positive", None),
    ]
    assert [a.details["was"] for a in audit] == [None, "positive", None]
    assert all("note" not in a.details for a in audit)  # the audit says a note was given, not what


@pytest.mark.parametrize(
    ("counts", "aggregate"),
    [
        ({}, None),
        ({"positive": 2}, "positive"),
        ({"investigation_seed": 1}, "investigation_seed"),
        ({"positive": 1, "investigation_seed": 1}, "positive"),
        ({"negative": 1}, "negative"),
        ({"negative": 1, "positive": 1}, "disputed"),
        ({"negative": 3, "investigation_seed": 1}, "disputed"),
    ],
)
def test_the_aggregate_follows_threatexchange(counts: dict[str, int], aggregate: str | None) -> None:
    assert fb.OpinionCounts(**counts).aggregate == aggregate


def test_past_the_threshold_an_entry_is_held_and_stops_matching(db: Database, tmp_path: Path) -> None:
    (cid, other), values = setup(db)
    with db.session() as s:
        fb.set_dispute_threshold(s, bank_name="b", threshold=2, actor=ACTOR)
    m = Matcher(db, index_dir=tmp_path / "idx")

    def matched(value: bytes) -> set[int]:
        (r,) = m.match([MatchQuery.of("q", pdq=value)])
        return {x.content_id for x in r.matches}

    assert give(db, cid, "key:p1", "positive").counts.aggregate == "positive"
    assert not give(db, cid, "key:n1", "negative").quarantined  # disputed, but under the threshold
    out = give(db, cid, "key:n2", "negative")  # 2 negatives, but not more than... 1 positive: held
    assert out.quarantined and out.counts == fb.OpinionCounts(positive=1, negative=2)
    assert matched(values[0]) == set() and matched(values[1]) == {other}
    with db.session() as s:
        summary = fb.bank_feedback(s, bank_name="b")
        (held,) = banks.list_held(s, bank_name="b", reason="disputed")
    assert held.id == cid
    assert (summary.disputed, summary.positives, summary.negatives, summary.quarantined) == (1, 1, 2, 1)
    assert summary.dispute_threshold == 2
    assert actions(db)[-1] == "feedback.quarantine"
    # a curator accepts it after review: it matches again, and the opinions stay
    with db.session() as s:
        banks.release_entries(
            s, bank_name="b", accept=True, actor=ACTOR, content_ids=[cid], reason="disputed"
        )
    assert matched(values[0]) == {cid}
    assert not give(db, cid, "key:n2", "negative").quarantined  # a resend does not hold it again
    assert give(db, cid, "key:n3", "negative").quarantined  # a new negative does


def test_negatives_that_do_not_outweigh_positives_do_not_hold(db: Database) -> None:
    (cid, _), _ = setup(db)
    for i in range(3):
        give(db, cid, f"key:p{i}", "positive")
    for i in range(3):
        assert not give(db, cid, f"key:n{i}", "negative").quarantined  # 3 vs 3
    assert give(db, cid, "key:n3", "negative").quarantined  # 4 vs 3, past the default of 3


def test_bad_input_is_refused_with_its_reason(db: Database) -> None:
    (cid, _), _ = setup(db)
    with pytest.raises(BankError, match="Unknown opinion 'maybe'") as err:
        give(db, cid, "key:a", "maybe")
    assert err.value.code == "invalid_opinion"
    with pytest.raises(BankError, match="at most 2,000 characters") as err:
        give(db, cid, "key:a", "negative", "x" * 2_001)
    assert err.value.code == "invalid_note"
    with pytest.raises(BankError, match="no entry with id 999999") as err:
        give(db, 999_999, "key:a", "negative")
    assert err.value.code == "unknown_content"
    with pytest.raises(BankError, match="no entry with id") as err:
        give(db, 2**70, "key:a", "negative")  # an id no column holds is simply unknown
    with db.session() as s, pytest.raises(BankError, match="dispute threshold"):
        fb.set_dispute_threshold(s, bank_name="b", threshold=0, actor=ACTOR)
    with db.session() as s:
        assert fb.counts_of(s, content_ids=[cid]) == {}  # nothing of it was written
    assert actions(db) == []


def test_an_entry_is_found_by_its_fingerprint_key(db: Database) -> None:
    (cid, other), values = setup(db)
    with db.session() as s:
        bank = banks.get_bank(s, name="b")
        assert fb.entry_by_key(s, bank=bank, key=f"pdq:{values[0].hex()}") == cid
        assert fb.entry_by_key(s, bank=bank, key=f"pdq:{values[1].hex()}") == other
        assert fb.entry_by_key(s, bank=bank, key="pdq:" + "00" * 32) is None
        assert fb.entry_by_key(s, bank=bank, key="nonsense") is None
        assert fb.entry_by_key(s, bank=bank, key="pdq:zz") is None


def test_opinions_go_with_their_entry(db: Database) -> None:
    (cid, _), _ = setup(db)
    give(db, cid, "key:a", "negative")
    with db.session() as s:
        banks.remove_contents(s, bank_name="b", content_ids=[cid], actor=ACTOR)
    with db.session() as s:
        assert fb.counts_of(s, content_ids=[cid]) == {}
        assert fb.bank_feedback(s, bank_name="b").negatives == 0


def test_the_cli_gives_and_lists_in_either_language(db: Database, cli: Cli) -> None:
    (cid, other), values = setup(db)
    done = cli("bank", "set", "b", "--dispute-threshold", "1")
    assert done.exit_code == 0 and "at least 1 negative" in done.output
    done = cli("feedback", "add", f"b/{cid}", "--opinion", "negative", "--note", "not her")
    assert done.exit_code == 0, done.output
    assert "recorded your opinion, negative" in done.output and "held for a curator's review" in done.output
    done = cli(
        "feedback", "add", f"b/{cid}", "--opinion", "negative", "--note", "not her", "--lang", "zh-Hant"
    )
    assert "你早前已給過相同意見" in done.output  # the resend, in Traditional Chinese
    done = cli("feedback", "add", "--hash", f"pdq:{values[1].hex()}", "--opinion", "positive")
    assert done.exit_code == 0 and f"b #{other}" in done.output
    rows = jsonl(cli("feedback", "list", "b").output)
    assert [(r["content_id"], r["opinion"], r["held"]) for r in rows] == [
        (cid, "negative", "disputed"),
        (other, "positive", None),
    ]
    (given,) = jsonl(cli("feedback", "list", "b", str(cid)).output)
    assert given["opinion"] == "negative" and given["note"] == "not her"
    shown = json.loads(cli("bank", "show", "b", "--format", "json").output)
    assert shown["feedback"]["quarantined"] == 1 and shown["feedback"]["confirmed"] == 1
    assert {e["content_id"]: e["feedback"]["negative"] for e in shown["newest_entries"]} == {cid: 1, other: 0}
    done = cli("bank", "accept", "b", str(cid), "--reason", "disputed")  # the curator's review
    assert done.exit_code == 0, done.output
    with db.session() as s:
        assert banks.list_held(s, bank_name="b") == []
    # bad input: each says what was wrong, exit status non-zero
    assert cli("feedback", "add", "b-no-id", "--opinion", "negative").exit_code == 2
    assert cli("feedback", "add", "--hash", "nothex", "--opinion", "negative").exit_code == 2
    bad = cli("feedback", "add", f"b/{cid}", "--opinion", "maybe")
    assert bad.exit_code == 2 and "maybe" in bad.output
    long = cli("feedback", "add", f"b/{cid}", "--opinion", "positive", "--note", "x" * 2_001)
    assert long.exit_code == 1 and "at most 2,000 characters" in long.output
    assert "no entry with id 999" in cli("feedback", "add", "b/999", "--opinion", "positive").output
