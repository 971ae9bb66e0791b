"""Bank rules on SQLite and PostgreSQL: names, thresholds, entries, duplicates, audit, change log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from takeback.banks import service as banks
from takeback.banks.models import BankChange, BankContent, ContentSignal
from takeback.signals import SignalValue
from takeback.store import AuditEvent, Database
from tests.banks.helpers import pdq_entry, rand_bytes

ACTOR = "test:alice"


def audit_actions(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_create_rename_delete_with_audit(db: Database) -> None:
    with db.session() as s:
        bank = banks.create_bank(s, name="NCII-2026", actor=ACTOR, pdq_threshold=20, description="victims")
        assert (bank.name, bank.pdq_threshold, bank.is_allow_list, bank.enabled) == (
            "NCII-2026",
            20,
            False,
            True,
        )
    with db.session() as s:
        # names are case-insensitive and unique among live banks
        with pytest.raises(banks.BankError) as err:
            banks.create_bank(s, name="ncii-2026", actor=ACTOR)
        assert err.value.code == "bank_exists"
    with db.session() as s:
        assert banks.get_bank(s, name="ncii-2026").name == "NCII-2026"
        banks.update_bank(
            s, name="ncii-2026", new_name="ncii", pdq_threshold=40, allow_list=False, actor=ACTOR
        )
    with db.session() as s:
        info = banks.bank_info(s, name="NCII")
        assert (info.name, info.pdq_threshold, info.description) == ("ncii", 40, "victims")
        banks.delete_bank(s, name="ncii", actor=ACTOR)
    with db.session() as s:
        with pytest.raises(banks.BankError) as err:
            banks.get_bank(s, name="ncii")
        assert err.value.code == "unknown_bank"
        assert "no banks yet" in err.value.message.lower()
        assert banks.list_banks(s) == []
        # a deleted bank's name is free again; the old row stays for the record
        banks.create_bank(s, name="ncii", actor=ACTOR)
    assert audit_actions(db) == ["bank.create", "bank.update", "bank.delete", "bank.create"]
    with db.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "bank.update")).one()
        assert ev.actor == ACTOR
        assert ev.details == {"name": ["NCII-2026", "ncii"], "pdq_threshold": [20, 40]}


def test_bad_bank_settings_are_refused(db: Database) -> None:
    cases = [
        ("", 31, "invalid_bank_name"),
        ("has space", 31, "invalid_bank_name"),
        ("-leading", 31, "invalid_bank_name"),
        ("x" * 101, 31, "invalid_bank_name"),
        ("ok", -1, "invalid_threshold"),
        ("ok", 65, "invalid_threshold"),
    ]
    for name, threshold, code in cases:
        with pytest.raises(banks.BankError) as err, db.session() as s:
            banks.create_bank(s, name=name, actor=ACTOR, pdq_threshold=threshold)
        assert err.value.code == code, (name, threshold)
    with db.session() as s:
        assert banks.list_banks(s) == []


def test_thresholds_at_the_edges_are_accepted(db: Database) -> None:
    with db.session() as s:
        assert banks.create_bank(s, name="exact", actor=ACTOR, pdq_threshold=0).pdq_threshold == 0
        assert banks.create_bank(s, name="loose", actor=ACTOR, pdq_threshold=64).pdq_threshold == 64


def test_duplicates_are_skipped_and_named(db: Database) -> None:
    rng = np.random.default_rng(1)
    a, b, c = (rand_bytes(rng) for _ in range(3))
    md5 = rand_bytes(rng, 16)
    with db.session() as s:
        banks.create_bank(s, name="one", actor=ACTOR)
        banks.create_bank(s, name="two", actor=ACTOR)
        first = banks.add_contents(
            s,
            bank_name="one",
            entries=[
                banks.NewContent(signals=(SignalValue("pdq", a, 90), SignalValue("md5", md5))),
                pdq_entry(b),
                pdq_entry(b),  # same value twice in one call
            ],
            actor=ACTOR,
        )
    assert first[0].added and first[1].added
    assert first[2] == banks.AddOutcome(None, duplicate_of=first[1].content_id)
    with db.session() as s:
        again = banks.add_contents(
            s,
            bank_name="one",
            entries=[
                pdq_entry(c),
                banks.NewContent(signals=(SignalValue("md5", md5),)),  # md5 already there with pdq a
            ],
            actor=ACTOR,
        )
        # the same value in another bank is not a duplicate
        (other,) = banks.add_contents(s, bank_name="two", entries=[pdq_entry(a)], actor=ACTOR)
    assert again[0].added
    assert again[1].duplicate_of == first[0].content_id
    assert other.added
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankContent)) == 4
        info = banks.bank_info(s, name="one")
        assert (info.entries, info.signals) == (3, {"md5": 1, "pdq": 3})
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "bank.content.add")).first()
        assert ev is not None and ev.details["added"] == 2 and ev.details["duplicates"] == 1


def test_entries_validate_their_fields(db: Database) -> None:
    rng = np.random.default_rng(2)
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
    bad = [
        (banks.NewContent(signals=()), "no_signals"),
        (banks.NewContent(signals=(SignalValue("pdq", b"\x00" * 31),)), "invalid_signal"),
        (pdq_entry(rand_bytes(rng), quality=101), "invalid_quality"),
        (pdq_entry(rand_bytes(rng), note="x" * 10_001), "invalid_note"),
        (banks.NewContent(signals=(SignalValue("md5", bytes(16)),), metadata={"": 1}), "invalid_metadata"),
        (
            banks.NewContent(signals=(SignalValue("md5", bytes(16)),), metadata={"k": "v" * 20_000}),
            "invalid_metadata",
        ),
    ]
    for entry, code in bad:
        with pytest.raises(banks.BankError) as err, db.session() as s:
            banks.add_contents(s, bank_name="b", entries=[pdq_entry(rand_bytes(rng)), entry], actor=ACTOR)
        assert err.value.code == code, entry
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankContent)) == 0  # all or nothing


def test_unknown_bank_and_unknown_entries(db: Database) -> None:
    rng = np.random.default_rng(3)
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
        banks.create_bank(s, name="c", actor=ACTOR)
        (o,) = banks.add_contents(s, bank_name="b", entries=[pdq_entry(rand_bytes(rng))], actor=ACTOR)
        (other,) = banks.add_contents(s, bank_name="c", entries=[pdq_entry(rand_bytes(rng))], actor=ACTOR)
    assert o.content_id is not None and other.content_id is not None
    with pytest.raises(banks.BankError) as err, db.session() as s:
        banks.add_contents(s, bank_name="nope", entries=[pdq_entry(rand_bytes(rng))], actor=ACTOR)
    assert err.value.code == "unknown_bank" and "Banks: b, c" in err.value.message
    # an id from another bank, or one that does not exist, changes nothing
    for ids in ([o.content_id, other.content_id], [o.content_id, 999_999]):
        with pytest.raises(banks.BankError) as err, db.session() as s:
            banks.remove_contents(s, bank_name="b", content_ids=ids, actor=ACTOR)
        assert err.value.code == "unknown_content"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankContent)) == 2
    # an id no 64-bit column can hold is an unknown entry, not a driver overflow
    for ids in ([2**63], [-(2**63) - 1], [10**40]):
        with pytest.raises(banks.BankError) as err, db.session() as s:
            banks.get_content(s, bank_name="b", content_id=ids[0])
        assert err.value.code == "unknown_content"


def test_unknown_bank_errors_name_only_the_banks_the_caller_may_see(db: Database) -> None:
    with db.session() as s:
        mine = banks.create_bank(s, name="mine", actor=ACTOR).id
        banks.create_bank(s, name="secret-victim", actor=ACTOR)
    with db.session() as s:

        def message(name: str, **kw: object) -> str:
            with pytest.raises(banks.UnknownBankError) as err:
                banks.get_bank(s, name=name, **kw)  # type: ignore[arg-type]
            assert err.value.code == "unknown_bank" and err.value.name == name
            return err.value.message

        # the operator (CLI) is told every bank
        assert message("nope") == "No bank called 'nope'. Banks: mine, secret-victim."
        # a caller scoped to "mine": the bank outside reads exactly as a missing one
        scoped = {"scope": {mine}, "named": {mine}}
        assert message("nope", **scoped) == "No bank called 'nope'. Banks: mine."
        assert message("secret-victim", **scoped) == "No bank called 'secret-victim'. Banks: mine."
        # a caller who may be told no names
        assert message("nope", named=()) == "No bank called 'nope'."
        assert banks.get_bank(s, name="MINE", scope={mine}).id == mine


def test_remove_and_delete_log_index_changes(db: Database) -> None:
    rng = np.random.default_rng(4)
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
        start = banks.change_watermark(s)
        outs = banks.add_contents(
            s,
            bank_name="b",
            entries=[
                pdq_entry(rand_bytes(rng)),
                banks.NewContent(
                    signals=(SignalValue("pdq", rand_bytes(rng), 80), SignalValue("md5", bytes(16)))
                ),
                banks.NewContent(signals=(SignalValue("sha256", bytes(32)),)),  # exact only: not logged
            ],
            actor=ACTOR,
        )
    ids = [o.content_id for o in outs]
    with db.session() as s:
        after_add = banks.change_watermark(s)
        assert after_add == start + 2
        signal_ids, bank_changed = banks.changes_after(s, after=start, upto=after_add)
        assert not bank_changed and len(signal_ids) == 2
        assert len(banks.live_signals(s, signal_type="pdq", ids=sorted(signal_ids))) == 2
        banks.remove_contents(s, bank_name="b", content_ids=[ids[0]], actor=ACTOR)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentSignal)) == 3  # its signal went with it
        ops = s.execute(select(BankChange.op).where(BankChange.seq > after_add)).scalars().all()
        assert ops == ["signal_remove"]
        banks.delete_bank(s, name="b", actor=ACTOR)
    with db.session() as s:
        top = banks.change_watermark(s)
        rows = s.execute(
            select(BankChange.op, BankChange.content_signal_id).where(BankChange.seq > after_add + 1)
        ).all()
        assert sorted(op for op, _ in rows) == ["bank", "signal_remove"]
        changed, bank_changed = banks.changes_after(s, after=start, upto=top)
        assert bank_changed
        assert banks.live_signals(s, signal_type="pdq", ids=sorted(changed)) == []  # deleted bank: not live


def test_disable_with_expiry(db: Database) -> None:
    rng = np.random.default_rng(5)
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
        (o,) = banks.add_contents(s, bank_name="b", entries=[pdq_entry(rand_bytes(rng))], actor=ACTOR)
    assert o.content_id is not None
    until = datetime.now(UTC) + timedelta(hours=2)
    with db.session() as s:
        with pytest.raises(banks.BankError) as err:
            banks.set_contents_enabled(
                s,
                bank_name="b",
                content_ids=[o.content_id],
                enabled=False,
                until=until - timedelta(days=1),
                actor=ACTOR,
            )
        assert err.value.code == "invalid_until"
        banks.set_contents_enabled(
            s, bank_name="b", content_ids=[o.content_id], enabled=False, until=until, actor=ACTOR
        )
        banks.set_bank_enabled(s, name="b", enabled=False, actor=ACTOR)
    with db.session() as s:
        view = banks.get_content(s, bank_name="b", content_id=o.content_id)
        assert not view.active(datetime.now(UTC))
        assert view.active(until + timedelta(seconds=1))  # expired disables lapse by themselves
        assert view.disabled_until is not None and abs((view.disabled_until - until).total_seconds()) < 1e-3
        (info,) = banks.list_banks(s)
        assert (info.enabled, info.active, info.disabled_entries) == (False, False, 1)
        (later,) = banks.list_banks(s, now=until + timedelta(seconds=1))
        assert later.disabled_entries == 0
        banks.set_bank_enabled(s, name="b", enabled=True, actor=ACTOR)
        banks.set_contents_enabled(s, bank_name="b", content_ids=[o.content_id], enabled=True, actor=ACTOR)
    with db.session() as s:
        assert banks.get_content(s, bank_name="b", content_id=o.content_id).active(datetime.now(UTC))
    assert audit_actions(db)[-4:] == [
        "bank.content.disable",
        "bank.disable",
        "bank.enable",
        "bank.content.enable",
    ]


def test_large_batch_ids_line_up(db: Database) -> None:
    """Thousands of entries in one call: every entry gets its own signals (ids assigned in order)."""
    rng = np.random.default_rng(6)
    values = [rand_bytes(rng) for _ in range(2_600)]
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
        outs = banks.add_contents(
            s, bank_name="b", entries=[pdq_entry(v, note=str(i)) for i, v in enumerate(values)], actor=ACTOR
        )
    assert all(o.added for o in outs)
    with db.session() as s:
        views = list(banks.iter_contents(s, bank_name="b"))
    assert [v.id for v in views] == [o.content_id for o in outs]
    assert [v.signals["pdq"][0] for v in views] == values
    assert [v.note for v in views] == [str(i) for i in range(len(values))]
