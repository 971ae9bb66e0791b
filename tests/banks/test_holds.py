"""Entry holds (issue 17, part 5): a held entry matches nowhere until a curator accepts it or its
hold's time runs out; rejecting disables it for good; every step audited and in the bank's feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from takeback.banks import service as banks
from takeback.banks.models import BankFeedChange, iso
from takeback.clock import advance, frozen
from takeback.matching import Matcher, MatchQuery
from takeback.store import AuditEvent, Database
from tests.banks.helpers import pdq_entry, rand_bytes

ACTOR = "test:holds"
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def setup(db: Database, n: int = 3, bank: str = "b") -> tuple[list[int], list[bytes]]:
    rng = np.random.default_rng(17)
    values = [rand_bytes(rng) for _ in range(n)]
    with db.session() as s:
        banks.create_bank(s, name=bank, actor=ACTOR)
        outs = banks.add_contents(s, bank_name=bank, entries=[pdq_entry(v) for v in values], actor=ACTOR)
    return [o.content_id for o in outs if o.content_id is not None], values


def matched(m: Matcher, value: bytes, **kw: object) -> set[int]:
    (r,) = m.match([MatchQuery.of("q", pdq=value)], **kw)  # type: ignore[arg-type]
    return {x.content_id for x in r.matches}


def actions(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def feed_ops(db: Database) -> list[tuple[str, int | None]]:
    with db.session() as s:
        return [(r.op, r.content_id) for r in s.scalars(select(BankFeedChange).order_by(BankFeedChange.seq))]


def test_held_entry_does_not_match_until_accepted(db: Database, tmp_path: Path) -> None:
    ids, values = setup(db)
    m = Matcher(db, index_dir=tmp_path / "idx")
    assert matched(m, values[0]) == {ids[0]}
    with db.session() as s:
        assert banks.hold_entries(s, bank_name="b", content_ids=[ids[0]], reason="disputed", actor=ACTOR) == 1
    assert matched(m, values[0]) == set()
    assert matched(m, values[0], inactive=True) == set()  # raw lookups do not see it either
    assert matched(m, values[1]) == {ids[1]}
    # a fresh matcher (index rebuilt from the store) agrees
    assert matched(Matcher(db, index_dir=tmp_path / "idx2"), values[0]) == set()
    with db.session() as s:
        info = banks.bank_info(s, name="b")
        assert (info.entries, info.held_entries, info.disabled_entries) == (3, 1, 0)
        assert info.to_record()["held_entries"] == 1
        (held,) = banks.list_held(s, bank_name="b")
        assert held.id == ids[0] and held.hold_reason == "disputed" and held.held_by == ACTOR
        assert held.hold_record() is not None and not held.active(datetime.now(UTC))
        # published as disabled (for good: the hold has no end) so mirrors and files never carry it active
        rec = held.to_record()
        assert (rec["enabled"], rec["disabled_until"]) == (False, None)
        assert banks.list_held(s, bank_name="b", reason="pending_review") == []
        report = banks.release_entries(s, bank_name="b", content_ids=[ids[0]], accept=True, actor=ACTOR)
        assert report.accepted == 1
    assert matched(m, values[0]) == {ids[0]}
    with db.session() as s:
        assert banks.list_held(s, bank_name="b") == []
        assert banks.bank_info(s, name="b").held_entries == 0
        assert banks.get_content(s, bank_name="b", content_id=ids[0]).to_record()["enabled"] is True
    assert actions(db)[-2:] == ["bank.content.hold", "bank.content.accept"]
    assert feed_ops(db)[-2:] == [("disable", ids[0]), ("enable", ids[0])]


def test_hold_lapses_after_held_until(db: Database, tmp_path: Path) -> None:
    ids, values = setup(db)
    m = Matcher(db, index_dir=tmp_path / "idx")
    with frozen(T0):
        with db.session() as s:
            banks.hold_entries(
                s,
                bank_name="b",
                content_ids=ids[:2],
                reason="pending_review",
                until=T0 + timedelta(hours=2),
                actor=ACTOR,
            )
            rec = banks.get_content(s, bank_name="b", content_id=ids[0]).to_record()
            assert (rec["enabled"], rec["disabled_until"]) == (False, iso(T0 + timedelta(hours=2)))
        assert matched(m, values[0]) == set()
        advance(3600)
        assert matched(m, values[0]) == set()
        advance(3601)
        assert matched(m, values[0]) == {ids[0]}  # lapsed by itself: nothing ran
        with db.session() as s:
            assert banks.bank_info(s, name="b").held_entries == 0
            assert banks.list_held(s, bank_name="b") == []
            # still waiting for a curator's word, who can reject it after all
            assert [v.id for v in banks.list_held(s, bank_name="b", include_lapsed=True)] == ids[:2]
            banks.release_entries(s, bank_name="b", content_ids=[ids[1]], accept=False, actor=ACTOR)
        assert matched(m, values[1]) == set()


def test_reject_disables_and_sticks_through_a_mirror_update(db: Database, tmp_path: Path) -> None:
    ids, values = setup(db)
    m = Matcher(db, index_dir=tmp_path / "idx")
    with db.session() as s:
        banks.hold_entries(s, bank_name="b", content_ids=ids, reason="pending_review", actor=ACTOR)
        report = banks.release_entries(s, bank_name="b", all_held=True, accept=False, actor=ACTOR)
        assert report.rejected == 3
    assert matched(m, values[0]) == set()
    with db.session() as s:
        view = banks.get_content(s, bank_name="b", content_id=ids[0])
        assert (view.enabled, view.hold_reason, view.rejected_at is not None) == (False, None, True)
        # a publisher's later update (enabled, new note) keeps the rejection; the note follows
        banks.update_contents_state(
            s, bank_name="b", updates=[(ids[0], pdq_entry(values[0], note="new"))], actor=ACTOR, source="x"
        )
        view = banks.get_content(s, bank_name="b", content_id=ids[0])
        assert (view.enabled, view.note) == (False, "new")
        # an explicit enable undoes it
        banks.set_contents_enabled(s, bank_name="b", content_ids=[ids[0]], enabled=True, actor=ACTOR)
    assert matched(m, values[0]) == {ids[0]}
    assert "bank.content.reject" in actions(db)


def test_hold_on_new_entries_and_removal_of_held(db: Database, tmp_path: Path) -> None:
    setup(db, n=1)
    rng = np.random.default_rng(3)
    v = rand_bytes(rng)
    m = Matcher(db, index_dir=tmp_path / "idx")
    with db.session() as s:
        (out,) = banks.add_contents(
            s, bank_name="b", entries=[pdq_entry(v)], actor=ACTOR, hold=banks.Hold("pending_review")
        )
        assert out.content_id is not None
    assert matched(m, v) == set()
    with db.session() as s:
        assert [x.id for x in banks.list_held(s, bank_name="b")] == [out.content_id]
        assert banks.remove_contents(s, bank_name="b", content_ids=[out.content_id], actor=ACTOR) == 1
        assert banks.list_held(s, bank_name="b") == []


def test_bad_input_is_named_item_by_item(db: Database) -> None:
    ids, _ = setup(db)
    other, _ = setup(db, n=1, bank="other")
    with db.session() as s:
        banks.hold_entries(s, bank_name="b", content_ids=[ids[0]], reason="disputed", actor=ACTOR)
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"content_ids": [ids[0], 999_999]}, "unknown_content", "999999"),
        ({"content_ids": other}, "unknown_content", str(other[0])),  # another bank's entry
        ({"content_ids": [ids[0], ids[1], ids[2]]}, "not_held", f"{ids[1]}, {ids[2]}"),
        ({"content_ids": [ids[0]], "reason": "pending_review"}, "not_held", str(ids[0])),
        ({"content_ids": [ids[0]], "all_held": True}, "invalid_request", "not both"),
        ({}, "invalid_request", "Name the entries"),
    ]
    for kw, code, text in cases:
        with db.session() as s, pytest.raises(banks.BankError) as err:
            banks.release_entries(s, bank_name="b", accept=True, actor=ACTOR, **kw)  # type: ignore[arg-type]
        assert err.value.code == code and text in err.value.message, (kw, err.value.message)
    with db.session() as s, pytest.raises(banks.BankError) as err:
        banks.hold_entries(s, bank_name="b", content_ids=[ids[1]], reason="spam", actor=ACTOR)  # type: ignore[arg-type]
    assert err.value.code == "invalid_hold_reason"
    with db.session() as s, pytest.raises(banks.BankError) as err:
        banks.hold_entries(
            s,
            bank_name="b",
            content_ids=[ids[1]],
            reason="disputed",
            until=datetime.now(UTC) - timedelta(hours=1),
            actor=ACTOR,
        )
    assert err.value.code == "invalid_until"
    with db.session() as s, pytest.raises(banks.BankError) as err:
        banks.list_held(s, bank_name="b", reason="spam")  # type: ignore[arg-type]
    assert err.value.code == "invalid_hold_reason"
    with db.session() as s:  # nothing changed
        assert [v.id for v in banks.list_held(s, bank_name="b")] == [ids[0]]
