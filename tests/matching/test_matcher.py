"""The matcher on SQLite and PostgreSQL: exact range search under per-bank policy, allow-lists,
rotations, freshness across sessions and processes, persistence and recovery of the index file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from takeback.banks import service as banks
from takeback.index import PdqIndex
from takeback.matching import Matcher, MatchQuery
from takeback.signals import SignalValue
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_bytes
from takeback.signals.pdq import hamming
from takeback.store import Database, open_database
from tests.banks.helpers import flip, pdq_entry, rand_bytes
from tests.conftest import encode, synthetic_photo

ACTOR = "test:matcher"


def add(db: Database, bank: str, *entries: banks.NewContent) -> list[int]:
    with db.session() as s:
        outs = banks.add_contents(s, bank_name=bank, entries=list(entries), actor=ACTOR)
    ids = [o.content_id for o in outs]
    assert all(i is not None for i in ids)
    return ids  # type: ignore[return-value]


def make_bank(db: Database, name: str, threshold: int = 31, allow_list: bool = False) -> None:
    with db.session() as s:
        banks.create_bank(s, name=name, actor=ACTOR, pdq_threshold=threshold, allow_list=allow_list)


def q(value: bytes) -> MatchQuery:
    return MatchQuery.of("q", pdq=value)


def hits(m: Matcher, query: MatchQuery, **kw: object) -> set[tuple[str, int, int]]:
    (r,) = m.match([query], **kw)  # type: ignore[arg-type]
    return {(x.bank, x.content_id, x.distance) for x in r.matches}


@pytest.fixture
def matcher(db: Database, tmp_path: Path) -> Iterator[Matcher]:
    m = Matcher(db, index_dir=tmp_path / "index")
    yield m
    m.close()


def test_range_search_equals_brute_force_under_per_bank_thresholds(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(20)
    thresholds = {"strict": 8, "default": 31, "loose": 52}
    for name, t in thresholds.items():
        make_bank(db, name, t)
    queries = [rand_bytes(rng) for _ in range(25)]
    stored: dict[int, tuple[str, bytes]] = {}
    for name in thresholds:
        entries = [pdq_entry(rand_bytes(rng)) for _ in range(120)]
        # planted near-duplicates of the queries at every distance from 0 to 60
        entries += [pdq_entry(flip(queries[i % 25], d, rng)) for i, d in enumerate(range(0, 61, 2))]
        for cid, e in zip(add(db, name, *entries), entries, strict=True):
            stored[cid] = (name, e.signals[0].value)
    m = Matcher(db, index_dir=tmp_path / "idx")
    results = m.match([q(x) for x in queries])
    for query, r in zip(queries, results, strict=True):
        expected = {
            (bank, cid, hamming(query, v))
            for cid, (bank, v) in stored.items()
            if hamming(query, v) <= thresholds[bank]
        }
        assert {(x.bank, x.content_id, x.distance) for x in r.matches} == expected
        assert all(x.threshold == thresholds[x.bank] for x in r.matches)
    assert sum(len(r.matches) for r in results) > 30  # the planted ones really are there
    # --bank narrows the search, and its own threshold still applies
    only = m.match([q(x) for x in queries], banks=["strict"])
    assert all(x.bank == "strict" and x.distance <= 8 for r in only for x in r.matches)


def test_a_single_hash_index_finds_its_hash_at_the_threshold(db: Database, matcher: Matcher) -> None:
    """HMA's FAISS multi-hash index misses here; an exact range search cannot."""
    rng = np.random.default_rng(21)
    make_bank(db, "one")
    value = rand_bytes(rng)
    (cid,) = add(db, "one", pdq_entry(value))
    assert hits(matcher, q(flip(value, 31, rng))) == {("one", cid, 31)}
    assert hits(matcher, q(flip(value, 32, rng))) == set()


def test_allow_list_suppresses_and_says_which_entry(db: Database, matcher: Matcher) -> None:
    rng = np.random.default_rng(22)
    make_bank(db, "ncii")
    make_bank(db, "benign", threshold=13, allow_list=True)
    value = rand_bytes(rng)
    (blocked,) = add(db, "ncii", pdq_entry(value, note="reported 2026-11"))
    (allowed,) = add(db, "benign", pdq_entry(flip(value, 10, rng), note="stock photo"))
    (r,) = matcher.match([q(flip(value, 3, rng))])
    assert r.status == "allow_listed"
    by_bank = {x.bank: x for x in r.matches}
    assert by_bank["benign"].allow_list and not by_bank["benign"].suppressed
    sup = by_bank["ncii"].suppressed_by
    assert sup is not None and (sup.bank, sup.content_id, sup.signal_type) == ("benign", allowed, "pdq")
    assert by_bank["ncii"].content_id == blocked and by_bank["ncii"].note == "reported 2026-11"
    assert "suppressed by allow-list entry" in by_bank["ncii"].explain()
    record = r.to_record()
    assert [x["suppressed_by"] is not None for x in record["matches"]] == [
        not x["allow_list"] for x in record["matches"]
    ]
    # allow-lists apply even when the search is limited to other banks
    (limited,) = matcher.match([q(flip(value, 3, rng))], banks=["ncii"])
    assert limited.status == "allow_listed"
    # beyond the allow-list bank's own threshold (the query is 10 bits from its entry) it does not suppress
    with db.session() as s:
        banks.update_bank(s, name="benign", pdq_threshold=2, actor=ACTOR)
    (r2,) = matcher.match([q(value)])
    assert r2.status == "match" and [x.bank for x in r2.matches] == ["ncii"]


def test_exact_hashes_and_low_quality_flags(db: Database, matcher: Matcher) -> None:
    rng = np.random.default_rng(23)
    make_bank(db, "b")
    md5, sha, pdq = rand_bytes(rng, 16), rand_bytes(rng), rand_bytes(rng)
    (cid,) = add(
        db,
        "b",
        banks.NewContent(
            signals=(SignalValue("pdq", pdq, 30), SignalValue("md5", md5), SignalValue("sha256", sha)),
            metadata={"case": 7},
        ),
    )
    r_md5, r_sha, r_pdq, r_none = matcher.match(
        [
            MatchQuery.of("a", md5=md5),
            MatchQuery.of("b", sha256=sha),
            MatchQuery(label="c", signals={"pdq": SignalValue("pdq", flip(pdq, 5, rng), 40)}),
            MatchQuery.of("d", md5=rand_bytes(rng, 16), sha256=rand_bytes(rng)),
        ]
    )
    (m,) = r_md5.matches
    assert (m.signal_type, m.distance, m.threshold, m.content_id, m.metadata) == (
        "md5",
        0,
        0,
        cid,
        {"case": 7},
    )
    assert [x.signal_type for x in r_sha.matches] == ["sha256"]
    (p,) = r_pdq.matches
    assert p.low_quality and r_pdq.to_record()["low_quality"] and "low-quality" in p.explain()
    assert r_none.status == "no_match" and r_none.matches == []


def test_disabled_entries_banks_and_expiry(db: Database, matcher: Matcher) -> None:
    rng = np.random.default_rng(24)
    make_bank(db, "b")
    value = rand_bytes(rng)
    (cid,) = add(db, "b", pdq_entry(value))
    until = datetime.now(UTC) + timedelta(hours=1)
    with db.session() as s:
        banks.set_contents_enabled(
            s, bank_name="b", content_ids=[cid], enabled=False, until=until, actor=ACTOR
        )
    assert hits(matcher, q(value)) == set()
    # once the expiry passes the entry matches again, with no job having run
    assert hits(matcher, q(value), now=until + timedelta(seconds=1)) == {("b", cid, 0)}
    with db.session() as s:
        banks.set_contents_enabled(s, bank_name="b", content_ids=[cid], enabled=True, actor=ACTOR)
        banks.set_bank_enabled(s, name="b", enabled=False, actor=ACTOR)
    assert hits(matcher, q(value)) == set()
    with db.session() as s:
        banks.set_bank_enabled(s, name="b", enabled=True, actor=ACTOR)
    assert hits(matcher, q(value)) == {("b", cid, 0)}
    with db.session() as s:
        banks.delete_bank(s, name="b", actor=ACTOR)
    assert hits(matcher, q(value)) == set()
    assert len(matcher) == 0  # deleted banks leave the index
    with pytest.raises(banks.BankError) as err:
        matcher.match([q(value)], banks=["b"])
    assert err.value.code == "unknown_bank"


def test_rotated_copies_match_only_with_dihedral(db: Database, matcher: Matcher) -> None:
    make_bank(db, "b")
    photo = synthetic_photo(320, 240, seed=5)
    original = fingerprint_bytes(encode(photo, "PNG"))
    assert original.hex("pdq")
    (cid,) = add(db, "b", pdq_entry(original.signals["pdq"].value, quality=original.quality("pdq")))
    rotated = encode(np.asarray(Image.fromarray(photo).transpose(Image.Transpose.ROTATE_90)), "PNG")
    plain = MatchQuery.from_fingerprint(fingerprint_bytes(rotated))
    turned = MatchQuery.from_fingerprint(
        fingerprint_bytes(rotated, options=FingerprintOptions(dihedral=True))
    )
    (r_plain, r_turned) = matcher.match([plain, turned])
    assert r_plain.matches == []
    (m,) = r_turned.matches
    assert m.content_id == cid and m.distance <= 8
    assert m.orientation is not None and m.orientation.startswith("rotate")
    assert "query rotate" in m.explain()


def test_every_change_is_visible_to_the_next_lookup_without_rebuilding(
    db: Database, matcher: Matcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(25)
    make_bank(db, "b", threshold=10)
    monkeypatch.setattr(Matcher, "rebuild", lambda self: pytest.fail("rebuilt instead of catching up"))
    value = rand_bytes(rng)
    near = flip(value, 20, rng)
    assert hits(matcher, q(value)) == set()
    (cid,) = add(db, "b", pdq_entry(value))
    assert hits(matcher, q(value)) == {("b", cid, 0)}
    assert hits(matcher, q(near)) == set()
    with db.session() as s:
        banks.update_bank(s, name="b", pdq_threshold=25, actor=ACTOR)
    assert hits(matcher, q(near)) == {("b", cid, 20)}
    make_bank(db, "later")  # a bank created after the matcher opened
    (cid2,) = add(db, "later", pdq_entry(near))
    assert hits(matcher, q(near), banks=["later"]) == {("later", cid2, 0)}
    with db.session() as s:
        banks.remove_contents(s, bank_name="b", content_ids=[cid], actor=ACTOR)
    assert hits(matcher, q(value), banks=["b"]) == set()
    assert hits(matcher, q(value)) == {("later", cid2, 20)}


def test_check_interval_and_mark_stale(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(26)
    make_bank(db, "b")
    m = Matcher(db, index_dir=None, check_interval=3600)
    value = rand_bytes(rng)
    (cid,) = add(db, "b", pdq_entry(value))
    assert hits(m, q(value)) == set()  # within the interval: not checked yet
    m.mark_stale()  # what a writer in the same process calls after committing
    assert hits(m, q(value)) == {("b", cid, 0)}


def test_two_workers_see_each_others_changes(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(27)
    make_bank(db, "b")
    other_db = open_database(db.url)  # a second engine, as a second worker process would have
    try:
        w1 = Matcher(db, index_dir=tmp_path / "index")
        w2 = Matcher(other_db, index_dir=tmp_path / "index")
        value = rand_bytes(rng)
        (cid,) = add(other_db, "b", pdq_entry(value))
        assert hits(w1, q(value)) == hits(w2, q(value)) == {("b", cid, 0)}
        with other_db.session() as s:
            banks.set_bank_enabled(s, name="b", enabled=False, actor=ACTOR)
        assert hits(w1, q(value)) == set()
    finally:
        other_db.dispose()


def test_concurrent_writers_never_hide_a_change(db: Database, tmp_path: Path) -> None:
    """Change-log numbers commit in order: a reader between two overlapping writers misses nothing."""
    rng = np.random.default_rng(28)
    make_bank(db, "b")
    m = Matcher(db, index_dir=None)
    first, second = rand_bytes(rng), rand_bytes(rng)
    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with db.session() as s:
                banks.add_contents(s, bank_name="b", entries=[pdq_entry(first)], actor=ACTOR)
                holding.set()
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def quick_writer() -> None:
        try:
            add(db, "b", pdq_entry(second))
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    t1 = threading.Thread(target=slow_writer)
    t1.start()
    assert holding.wait(10)
    t2 = threading.Thread(target=quick_writer)
    t2.start()
    time.sleep(0.3)
    m.refresh(force=True)  # reads the log while the first writer is still open
    release.set()
    t1.join(10)
    t2.join(10)
    assert not errors
    (r1, r2) = m.match([q(first), q(second)])
    assert len(r1.matches) == 1 and len(r2.matches) == 1


def test_lookups_run_safely_beside_writes(db: Database, matcher: Matcher) -> None:
    rng = np.random.default_rng(29)
    make_bank(db, "b")
    values = [rand_bytes(rng) for _ in range(40)]
    add(db, "b", *(pdq_entry(v) for v in values[:20]))
    failures: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                results = matcher.match([q(v) for v in values[:20]])
                assert all(len(r.matches) == 1 for r in results)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for v in values[20:]:
        add(db, "b", pdq_entry(v))
    stop.set()
    for t in threads:
        t.join(10)
    assert not failures
    assert all(len(r.matches) == 1 for r in matcher.match([q(v) for v in values]))


def test_index_file_is_reused_and_caught_up(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(30)
    make_bank(db, "b")
    values = [rand_bytes(rng) for _ in range(30)]
    add(db, "b", *(pdq_entry(v) for v in values[:20]))
    first = Matcher(db, index_dir=tmp_path / "index")
    path = first.index_path
    assert path is not None and path.exists()
    saved_at = first.watermark
    first.close()
    # changes made while no matcher runs (a CLI import, another worker)
    ids = add(db, "b", *(pdq_entry(v) for v in values[20:]))
    with db.session() as s:
        banks.remove_contents(s, bank_name="b", content_ids=ids[:2], actor=ACTOR)
    monkeypatch.setattr(Matcher, "rebuild", lambda self: pytest.fail("rebuilt a good index file"))
    second = Matcher(db, index_dir=tmp_path / "index")
    assert second.notices == []
    assert second.watermark > saved_at
    assert len(second) == 28
    found = [len(r.matches) for r in second.match([q(v) for v in values])]
    assert found == [1] * 20 + [0, 0] + [1] * 8


def test_damaged_index_file_is_rebuilt_with_a_notice(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(31)
    make_bank(db, "b")
    values = [rand_bytes(rng) for _ in range(10)]
    add(db, "b", *(pdq_entry(v) for v in values))
    Matcher(db, index_dir=tmp_path / "index").close()
    (path,) = (tmp_path / "index").glob("*.idx")
    for damage in ("flip-header", "flip-data", "truncate", "garbage"):
        data = bytearray(path.read_bytes())
        if damage == "flip-header":
            data[16] ^= 0x01  # the watermark
        elif damage == "flip-data":
            data[-3] ^= 0x40  # inside the last section
        elif damage == "truncate":
            data = data[: len(data) // 2]
        else:
            data = bytearray(b"not an index at all")
        path.write_bytes(bytes(data))
        m = Matcher(db, index_dir=tmp_path / "index")
        assert len(m.notices) == 1 and "damaged" in m.notices[0] and "rebuilding" in m.notices[0], damage
        assert all(len(r.matches) == 1 for r in m.match([q(v) for v in values]))
        PdqIndex.load(path)  # the rebuilt file is whole again


def test_index_newer_than_the_database_is_rebuilt(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(32)
    make_bank(db, "b")
    value = rand_bytes(rng)
    add(db, "b", pdq_entry(value))
    m = Matcher(db, index_dir=tmp_path / "index")
    assert m.index_path is not None
    ghost = PdqIndex.load(m.index_path)
    ghost.add(
        np.array([987654], dtype=np.int64), np.frombuffer(rand_bytes(rng), dtype=np.uint8).reshape(1, 32)
    )
    ghost.watermark = m.watermark + 100  # as if the database had been restored from an older backup
    ghost.save(m.index_path)
    again = Matcher(db, index_dir=tmp_path / "index")
    assert any("newer than the database" in n for n in again.notices)
    assert 987654 not in again._index
    assert len(again.match([q(value)])[0].matches) == 1


def test_match_batch_answers_as_match_does_under_every_policy(db: Database, matcher: Matcher) -> None:
    """The batch path (no object per input) gives the same matches, statuses and suppressions as
    ``match`` for the same hashes: per-bank thresholds, an allow-list, a disabled entry, a disabled
    bank, bank scope, repeated inputs, and MD5 / SHA-256 batches."""
    rng = np.random.default_rng(33)
    make_bank(db, "strict", threshold=6)
    make_bank(db, "loose", threshold=40)
    make_bank(db, "benign", threshold=12, allow_list=True)
    make_bank(db, "off")
    sources = [rand_bytes(rng) for _ in range(40)]
    md5s = [rand_bytes(rng, 16) for _ in range(40)]
    sha = [rand_bytes(rng, 32) for _ in range(40)]
    for i, src in enumerate(sources):
        sigs = (SignalValue("pdq", flip(src, i % 9, rng), 90), SignalValue("md5", md5s[i], None))
        add(db, "strict", banks.NewContent(signals=sigs, enabled=i % 7 != 3, note=f"s{i}"))
        add(db, "loose", pdq_entry(flip(src, (5 * i) % 45, rng), metadata={"i": i}))
        if i % 5 == 0:
            add(db, "benign", banks.NewContent(signals=(SignalValue("sha256", sha[i], None),)))
            add(db, "benign", pdq_entry(flip(src, 4, rng)))
        if i % 4 == 0:
            add(db, "off", pdq_entry(src))
    with db.session() as s:
        banks.set_bank_enabled(s, name="off", enabled=False, actor=ACTOR)
    queries = [flip(src, int(rng.integers(0, 8)), rng) for src in sources]
    queries += [rand_bytes(rng) for _ in range(30)] + queries[:5]  # misses, and repeated inputs
    for scope in (None, ["loose"], ["strict", "loose"]):
        want = matcher.match([q(v) for v in queries], banks=scope)
        got = matcher.match_batch("pdq", queries, banks=scope)
        assert set(got) == {i for i, r in enumerate(want) if r.matches}
        for i, r in got.items():
            assert r.status == want[i].status and r.matches == want[i].matches, (scope, i)
        assert any(r.status == "allow_listed" for r in got.values())
        assert any(r.status == "match" for r in got.values())
    for kind, values in (("md5", md5s), ("sha256", sha)):
        asked = [*values[:20], rand_bytes(rng, len(values[0]))]
        want = matcher.match([MatchQuery.of("q", **{kind: v}) for v in asked])
        got = matcher.match_batch(kind, asked)
        assert set(got) == {i for i, r in enumerate(want) if r.matches} and got
        assert all(r.matches == want[i].matches for i, r in got.items())
    assert matcher.match_batch("pdq", []) == {}
