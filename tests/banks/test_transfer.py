"""Export and import: exact round trips in JSON Lines and CSV; broken files import nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from takeback.banks import service as banks
from takeback.banks.models import EXPORT_FIELDS, BankContent
from takeback.banks.transfer import TransferFormat, guess_format, read_import, write_export
from takeback.signals import SignalValue
from takeback.store import Database
from tests.banks.helpers import rand_bytes

ACTOR = "test:bob"


def tricky_entries(rng: np.random.Generator) -> list[banks.NewContent]:
    """Entries exercising every exported field, including text that CSV and JSON must escape."""
    past = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    return [
        banks.NewContent(
            signals=(
                SignalValue("pdq", rand_bytes(rng), 87),
                SignalValue("md5", rand_bytes(rng, 16)),
                SignalValue("sha256", rand_bytes(rng)),
            ),
            note='line one\nline two, with "quotes" and a comma',
            metadata={"case": "HK-42", "nested": {"list": [1, 2.5, None, True]}, "zh": "受害者的圖片"},
            source="victim submission",
            created_at=past,
            created_by="key:portal",
        ),
        banks.NewContent(signals=(SignalValue("md5", rand_bytes(rng, 16)),)),  # exact only, no note/meta
        banks.NewContent(
            signals=(SignalValue("pdq", rand_bytes(rng), None),),  # quality unknown
            note="",  # stored as no note
            enabled=False,
            disabled_until=datetime.now(UTC) + timedelta(days=3),
            source=None,
        ),
        banks.NewContent(
            signals=(SignalValue("sha256", rand_bytes(rng)),), enabled=False, note="off for good"
        ),
    ]


def export_records(db: Database, bank: str, fmt: TransferFormat) -> str:
    buf = io.StringIO()
    with db.session() as s:
        write_export(banks.iter_contents(s, bank_name=bank), buf, fmt)
    return buf.getvalue()


def without_ids(text: str, fmt: TransferFormat) -> list[dict[str, object]]:
    if fmt is TransferFormat.JSONL:
        recs = [json.loads(line) for line in text.splitlines()]
    else:
        import csv

        recs = list(csv.DictReader(io.StringIO(text)))
    for r in recs:
        r.pop("content_id")
    return recs


@pytest.mark.parametrize("fmt", list(TransferFormat))
def test_export_import_round_trip_is_exact(db: Database, fmt: TransferFormat) -> None:
    rng = np.random.default_rng(10)
    with db.session() as s:
        banks.create_bank(s, name="src", actor=ACTOR)
        banks.create_bank(s, name="dst", actor=ACTOR)
        banks.add_contents(s, bank_name="src", entries=tricky_entries(rng), actor=ACTOR)
    first = export_records(db, "src", fmt)
    entries = read_import(io.BytesIO(first.encode()), fmt=fmt, source="src.export")
    with db.session() as s:
        report = banks.import_contents(
            s, bank_name="dst", entries=entries, actor="test:carol", source="src.export"
        )
    assert report == banks.ImportReport(rows=4, added=4, duplicates=0)
    second = export_records(db, "dst", fmt)
    assert without_ids(second, fmt) == without_ids(first, fmt)
    if fmt is TransferFormat.JSONL:
        rec = json.loads(first.splitlines()[0])
        assert list(rec) == list(EXPORT_FIELDS)
        assert rec["metadata"]["zh"] == "受害者的圖片" and rec["created_by"] == "key:portal"
        assert rec["created_at"] == "2025-03-04T05:06:07.123456+00:00"
        assert json.loads(first.splitlines()[2])["note"] is None
    # importing the same file again adds nothing: every entry is a duplicate
    with db.session() as s:
        again = banks.import_contents(s, bank_name="dst", entries=entries, actor=ACTOR, source="src.export")
    assert again == banks.ImportReport(rows=4, added=0, duplicates=4)


def test_mixed_case_hex_is_normalised_and_missing_source_defaults() -> None:
    pdq = "F8F8F0CEE0F4A84F06370A22038F63F0b36e2ed596621e1d33e6b39c4e9c9b22"
    data = json.dumps({"pdq": f"  {pdq} ", "pdq_quality": 99}).encode() + b"\n\n"
    (entry,) = read_import(io.BytesIO(b"\xef\xbb\xbf" + data), fmt=TransferFormat.JSONL, source="f.jsonl")
    assert entry.signals == (SignalValue("pdq", bytes.fromhex(pdq.lower()), 99),)
    assert entry.source == "import:f.jsonl"  # absent field: where it came from
    (kept,) = read_import(
        io.BytesIO(json.dumps({"md5": "D41D8CD98F00B204E9800998ECF8427E", "source": None}).encode()),
        fmt=TransferFormat.JSONL,
        source="f.jsonl",
    )
    assert kept.source is None  # present but empty: kept as it was exported
    assert kept.signals[0].value.hex() == "d41d8cd98f00b204e9800998ecf8427e"


def test_broken_jsonl_reports_every_bad_line() -> None:
    good = {"pdq": "ab" * 32}
    lines = [
        json.dumps(good),  # 1 ok
        json.dumps({"pdq": "ab" * 31}),  # 2 wrong length
        json.dumps({"md5": "zz" * 16}),  # 3 not hex
        "{not json",  # 4
        "[1, 2]",  # 5 not an object
        "",  # 6 blank: skipped
        json.dumps({"note": "no hash"}),  # 7
        json.dumps({**good, "pqd": "typo"}),  # 8 unknown field
        json.dumps({**good, "pdq_quality": 140}),  # 9
        json.dumps({**good, "metadata": ["not", "an", "object"]}),  # 10
        json.dumps({**good, "created_at": "yesterday"}),  # 11
        json.dumps({**good, "enabled": "yes"}),  # 12
        json.dumps({"sha256": "cd" * 32, "pdq_quality": 50}),  # 13 quality without pdq
        json.dumps(good),  # 14 ok
    ]
    with pytest.raises(banks.ImportFileError) as err:
        read_import(io.BytesIO("\n".join(lines).encode()), fmt=TransferFormat.JSONL, source="bad.jsonl")
    problems = dict(err.value.problems)
    assert sorted(problems) == [2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13]
    assert problems[2] == "pdq: a pdq hash is 64 hex characters; got 62."
    assert problems[3] == "md5: an md5 hash may contain only 0-9 and a-f."
    assert "pqd" in problems[8] and "140" not in problems[9] and "0-100" in problems[9]
    assert err.value.code == "import_invalid"
    assert "11 invalid rows; nothing was imported" in err.value.message


def test_broken_csv_reports_rows_by_line() -> None:
    text = (
        "pdq,note,metadata\n"
        f"{'ab' * 32},fine,\n"  # line 2
        f'{"ab" * 32},"two\nlines",{{}}\n'  # lines 3-4: one record
        f"{'ab' * 32},short\n"  # line 5: too few cells
        f"{'ab' * 32},x,not-json\n"  # line 6
        f"{'ab' * 30},x,\n"  # line 7
    )
    with pytest.raises(banks.ImportFileError) as err:
        read_import(io.BytesIO(text.encode()), fmt=TransferFormat.CSV, source="bad.csv")
    assert [line for line, _ in err.value.problems] == [5, 6, 7]
    with pytest.raises(banks.ImportFileError) as err:
        read_import(io.BytesIO(b"a,b\n1,2\n"), fmt=TransferFormat.CSV, source="other.csv")
    assert err.value.problems[0][0] == 1 and "header" in err.value.problems[0][1]


def test_a_failing_import_leaves_the_bank_as_it_was(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after some chunks were written rolls the whole file back (one transaction)."""
    rng = np.random.default_rng(11)
    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
        banks.add_contents(s, bank_name="b", entries=tricky_entries(rng)[:2], actor=ACTOR)
        before = banks.change_watermark(s)
    n = 2 * banks._INSERT_CHUNK + 100  # three insert rounds
    entries = [banks.NewContent(signals=(SignalValue("pdq", rand_bytes(rng), 90),)) for _ in range(n)]
    real = banks._insert_many
    calls = []

    def failing(*args: object, **kwargs: object) -> list[int]:
        calls.append(1)
        if len(calls) == 5:  # third chunk's content rows, after two chunks were fully written
            raise RuntimeError("disk full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(banks, "_insert_many", failing)
    with pytest.raises(RuntimeError), db.session() as s:
        banks.import_contents(s, bank_name="b", entries=entries, actor=ACTOR, source="x")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankContent)) == 2
        assert banks.change_watermark(s) == before


def test_format_guessing() -> None:
    assert guess_format("x.JSONL") is TransferFormat.JSONL
    assert guess_format("bank.csv") is TransferFormat.CSV
    assert guess_format("bank.txt") is None


def vpdq_value(
    rng: np.random.Generator, frames: int, *, cropped: bool = False, duration: float | None = None
) -> bytes:
    """A packed vPDQ value (as ``bank add`` stores a video): frames, optionally border-cropped frames
    at the same times, optionally the trailing duration record."""
    from takeback.signals.vpdq import VpdqFrame, pack_value

    fs = [
        VpdqFrame(3 * i, int(rng.integers(0, 101)), rand_bytes(rng), round(0.12 * i, 3))
        for i in range(frames)
    ]
    inner = [VpdqFrame(f.number, 90, rand_bytes(rng), f.timestamp) for f in fs] if cropped else []
    return pack_value(fs, inner, duration_s=duration)


@pytest.mark.parametrize("fmt", list(TransferFormat))
def test_video_entries_round_trip_with_every_frame(db: Database, fmt: TransferFormat) -> None:
    """A video's vpdq survives export and import byte for byte: frames, border-cropped frames and the
    duration; in CSV too, where a long video's cell is far over the csv module's default 128 kB."""
    rng = np.random.default_rng(12)
    values = [
        vpdq_value(rng, 40, cropped=True, duration=4.9),
        vpdq_value(rng, 2_000, duration=240.0),  # 164 kB of hex in one cell
        vpdq_value(rng, 1),  # no duration record (reference text form imported earlier)
    ]
    entries = [
        banks.NewContent(
            signals=(SignalValue("sha256", rand_bytes(rng)), SignalValue("vpdq", values[0])), note="clip"
        ),
        banks.NewContent(signals=(SignalValue("vpdq", values[1]),), enabled=False),
        banks.NewContent(signals=(SignalValue("vpdq", values[2]), SignalValue("md5", rand_bytes(rng, 16)))),
    ]
    with db.session() as s:
        banks.create_bank(s, name="src", actor=ACTOR)
        banks.create_bank(s, name="dst", actor=ACTOR)
        banks.add_contents(s, bank_name="src", entries=entries, actor=ACTOR)
    first = export_records(db, "src", fmt)
    assert [r["vpdq"] for r in without_ids(first, fmt)] == [v.hex() for v in values]
    imported = read_import(io.BytesIO(first.encode()), fmt=fmt, source="src.export")
    assert [dict((s.signal_type, s.value) for s in e.signals)["vpdq"] for e in imported] == values
    with db.session() as s:
        report = banks.import_contents(s, bank_name="dst", entries=imported, actor=ACTOR, source="x")
    assert report == banks.ImportReport(rows=3, added=3, duplicates=0)
    second = export_records(db, "dst", fmt)
    assert without_ids(second, fmt) == without_ids(first, fmt)
    with db.session() as s:  # the same videos again are duplicates, found by their vpdq value
        again = banks.import_contents(s, bank_name="dst", entries=imported, actor=ACTOR, source="x")
    assert again == banks.ImportReport(rows=3, added=0, duplicates=3)


def test_broken_vpdq_cells_are_reported_by_line() -> None:
    rng = np.random.default_rng(13)
    good = vpdq_value(rng, 3, cropped=True, duration=1.0).hex()
    frame = f"0,100,{'ab' * 32},0.000"
    lines = [
        json.dumps({"vpdq": good}),  # 1 ok: packed hex
        json.dumps({"vpdq": good[:-2]}),  # 2 truncated
        json.dumps({"vpdq": "zz" * 41}),  # 3 not hex
        json.dumps({"vpdq": "ab" * 41}),  # 4 hex, but not a frame record (quality 0xab)
        json.dumps({"vpdq": f"{frame}\n30,100,{'ab' * 31},1.000"}),  # 5 text form, short hash
        json.dumps({"vpdq": 12}),  # 6 not text
        json.dumps({"vpdq": f"{frame}\n{frame.replace('0.000', '1.000')}"}),  # 7 ok: reference text form
        json.dumps({"vpdq": ""}),  # 8 empty
    ]
    with pytest.raises(banks.ImportFileError) as err:
        read_import(io.BytesIO("\n".join(lines).encode()), fmt=TransferFormat.JSONL, source="v.jsonl")
    problems = dict(err.value.problems)
    assert sorted(problems) == [2, 3, 4, 5, 6, 8]
    assert problems[2] == f"vpdq: a packed vPDQ value is a multiple of 41 bytes; got {len(good) // 2 - 1}."
    assert problems[3].startswith("vpdq: give frame,quality,hash,timestamp lines or the packed value in hex")
    assert problems[4].startswith("vpdq: not a packed vPDQ value")
    assert problems[5].startswith("vpdq: Malformed vPDQ line")
    assert problems[6] == "vpdq: must be a hex string."
    text = f"sha256,vpdq\n{'cd' * 32},{good}\n{'ef' * 32},{good[:-1]}\n"
    with pytest.raises(banks.ImportFileError) as err:
        read_import(io.BytesIO(text.encode()), fmt=TransferFormat.CSV, source="v.csv")
    assert [line for line, _ in err.value.problems] == [3]
    (entry,) = read_import(io.BytesIO(f"vpdq\n{good.upper()}\n".encode()), fmt=TransferFormat.CSV, source="c")
    assert entry.signals == (SignalValue("vpdq", bytes.fromhex(good)),)
