"""Bank file formats other tools speak: exact round trips, bad rows by line, all or nothing, fuzzing."""

from __future__ import annotations

import codecs
import csv
import io
import json
import sqlite3
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from takeback.banks import service as banks
from takeback.banks.formats import BankFormat, check_file, guess_format, read_file, stream_file, write_file
from takeback.banks.models import BankContent
from takeback.signals import SignalValue
from takeback.store import Database
from tests.banks.helpers import Cli, cli, rand_bytes
from tests.banks.test_transfer import vpdq_value

__all__ = ["cli"]  # the fixture, re-exported for pytest

ACTOR = "test:bob"
TEXT_FORMATS = [f for f in BankFormat if not f.needs_file]
FOREIGN = [f for f in BankFormat if f not in (BankFormat.JSONL, BankFormat.CSV)]


def entries_for(fmt: BankFormat, rng: np.random.Generator) -> list[banks.NewContent]:
    """Entries carrying what ``fmt`` has room for (a list of md5 sums holds md5s, and so on)."""
    md5 = lambda: SignalValue("md5", rand_bytes(rng, 16))  # noqa: E731
    sha = lambda: SignalValue("sha256", rand_bytes(rng))  # noqa: E731
    pdq = lambda q=90: SignalValue("pdq", rand_bytes(rng), q)  # noqa: E731
    past = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
    if fmt is BankFormat.MD5SUM:
        return [banks.NewContent(signals=(md5(),)) for _ in range(3)]
    if fmt is BankFormat.SHA256SUM:
        return [banks.NewContent(signals=(sha(),)) for _ in range(3)]
    if fmt is BankFormat.NSRL:
        return [banks.NewContent(signals=(md5(), sha())), banks.NewContent(signals=(sha(),))]
    if fmt is BankFormat.TE_CSV:
        video = SignalValue("vpdq", vpdq_value(rng, 5))
        return [
            banks.NewContent(signals=(pdq(None),)),
            banks.NewContent(signals=(md5(), video)),  # two rows: video_md5 and vpdq
            banks.NewContent(signals=(sha(),)),
        ]
    return [
        banks.NewContent(
            signals=(pdq(87), md5(), sha()),
            note='line one\nline two, with "quotes", a comma and 受害者',
            metadata={"case": "HK-42", "nested": {"list": [1, 2.5, None, True]}},
            source="victim submission",
            created_at=past,
            created_by="key:portal",
        ),
        banks.NewContent(signals=(md5(),)),
        banks.NewContent(
            signals=(pdq(None),), enabled=False, disabled_until=datetime.now(UTC) + timedelta(days=3)
        ),
        banks.NewContent(signals=(sha(),), enabled=False, note="off for good"),
        banks.NewContent(signals=(SignalValue("vpdq", vpdq_value(rng, 4, cropped=True, duration=2.5)),)),
    ]


def export(db: Database, bank: str, fmt: BankFormat, tmp: Path) -> Any:
    """The export as something comparable: ids that imports renumber left out."""
    with db.session() as s:
        views = banks.iter_contents(s, bank_name=bank)
        if fmt is BankFormat.NSRL:
            path = tmp / f"{bank}.db"
            write_file(views, path, fmt=fmt, bank=bank)
            with sqlite3.connect(path) as conn:
                return conn.execute("SELECT * FROM FILE ORDER BY rowid").fetchall()
        buf = io.StringIO()
        write_file(views, buf, fmt=fmt, bank=bank)
    text = buf.getvalue()
    if fmt is BankFormat.JSONL:
        return [{k: v for k, v in json.loads(x).items() if k != "content_id"} for x in text.splitlines()]
    if fmt is BankFormat.CSV:
        return [{k: v for k, v in r.items() if k != "content_id"} for r in csv.DictReader(io.StringIO(text))]
    if fmt is BankFormat.HMA_JSON:
        return [{k: v for k, v in r.items() if k not in ("id", "bank")} for r in json.loads(text)]
    if fmt is BankFormat.VICS_13:
        doc = json.loads(text)
        doc["value"][0].pop("CaseNumber")
        return doc
    if fmt is BankFormat.VICS_20:
        return json.loads(text)
    return text


def source_file(db: Database, bank: str, fmt: BankFormat, tmp: Path) -> io.BytesIO | Path:
    with db.session() as s:
        views = banks.iter_contents(s, bank_name=bank)
        if fmt is BankFormat.NSRL:
            path = tmp / "export.db"
            write_file(views, path, fmt=fmt, bank=bank)
            return path
        buf = io.StringIO()
        write_file(views, buf, fmt=fmt, bank=bank)
    return io.BytesIO(buf.getvalue().encode())


@pytest.mark.parametrize("fmt", list(BankFormat))
def test_every_format_round_trips_exactly(db: Database, fmt: BankFormat, tmp_path: Path) -> None:
    """Export, import into another bank, export again: the same file (less renumbered ids)."""
    rng = np.random.default_rng(20)
    with db.session() as s:
        banks.create_bank(s, name="src", actor=ACTOR)
        banks.create_bank(s, name="dst", actor=ACTOR)
        banks.add_contents(s, bank_name="src", entries=entries_for(fmt, rng), actor=ACTOR)
    first = export(db, "src", fmt, tmp_path)
    entries = read_file(source_file(db, "src", fmt, tmp_path), fmt=fmt, source="f")
    with db.session() as s:
        report = banks.import_contents(s, bank_name="dst", entries=entries, actor=ACTOR, source="f")
    assert report.added == len(entries) and report.duplicates == 0
    assert export(db, "dst", fmt, tmp_path) == first
    with db.session() as s:  # once more: everything is a duplicate now
        again = banks.import_contents(s, bank_name="dst", entries=entries, actor=ACTOR, source="f")
    assert again.added == 0


@pytest.mark.parametrize("fmt", [BankFormat.VICS_13, BankFormat.VICS_20, BankFormat.HMA_JSON])
def test_rich_formats_carry_every_takeback_field(db: Database, fmt: BankFormat, tmp_path: Path) -> None:
    """Through VICS (takeback's extensions) or HMA JSON and back, the entries read as takeback's own
    export did: hashes (a video's whole vPDQ value in VICS), note, metadata, state, provenance."""
    rng = np.random.default_rng(21)
    with db.session() as s:
        banks.create_bank(s, name="src", actor=ACTOR)
        banks.create_bank(s, name="dst", actor=ACTOR)
        banks.add_contents(s, bank_name="src", entries=entries_for(fmt, rng), actor=ACTOR)
    entries = read_file(source_file(db, "src", fmt, tmp_path), fmt=fmt, source="f")
    with db.session() as s:
        banks.import_contents(s, bank_name="dst", entries=entries, actor=ACTOR, source="f")
    src, dst = export(db, "src", BankFormat.JSONL, tmp_path), export(db, "dst", BankFormat.JSONL, tmp_path)
    for a, b in zip(src, dst, strict=True):
        b["metadata"].pop("vics", None)
        if fmt is BankFormat.HMA_JSON:  # HMA has no provenance or quality, a vPDQ list no frame numbers
            for k in ("source", "created_at", "created_by", "vpdq", "pdq_quality"):
                a.pop(k), b.pop(k)
            a["disabled_until"] = a["disabled_until"] and a["disabled_until"][:19]
            b["disabled_until"] = b["disabled_until"] and b["disabled_until"][:19]
        assert a == b


# --- files as other tools write them --------------------------------------------------------------

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_python_threatexchange_csv(tmp_path: Path) -> None:
    vpdq = json.dumps([f"{PDQ},100,0.000", f"{PDQ[::-1]},88,1.001"])
    text = (
        "signal_type,signal_str,collab,category,tags\r\n"
        f"pdq,{PDQ},Sample Data,POSITIVE_CLASS,media_type_photo nsfw\r\n"
        f"video_md5,{MD5.upper()},Sample Data,NEGATIVE_CLASS,\r\n"
        f'vpdq,"{vpdq.replace(chr(34), chr(34) * 2)}",Other,INVESTIGATION_SEED,a\r\n'
    )
    first, second, third = read_file(io.BytesIO(text.encode()), fmt=BankFormat.TE_CSV, source="te.csv")
    assert first.signals == (SignalValue("pdq", bytes.fromhex(PDQ)),) and first.enabled
    assert first.metadata["threatexchange"] == {
        "signal_type": "pdq",
        "category": "POSITIVE_CLASS",
        "collab": "Sample Data",
        "tags": ["media_type_photo", "nsfw"],
    }
    assert second.signals[0].signal_type == "md5" and not second.enabled  # a known false positive
    assert third.signals[0].signal_type == "vpdq" and third.source == "import:te.csv"
    bad = (
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{PDQ[:-2]},c,POSITIVE_CLASS,\n"  # 2
        "url,https://example.org/x,c,POSITIVE_CLASS,\n"  # 3 a type takeback does not match
        f"pdq,{PDQ},c,MAYBE,\n"  # 4
        'vpdq,"[""nonsense""]",c,,\n'  # 5
        f"pdq,{PDQ},c\n"  # 6 short
        f"md5,{MD5},c,,\n"  # 7 ok
    )
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO(bad.encode()), fmt=BankFormat.TE_CSV, source="te.csv")
    problems = dict(err.value.problems)
    assert sorted(problems) == [2, 3, 4, 5, 6]
    assert "'url'" in problems[3] and "MAYBE" in problems[4] and "frame 1" in problems[5]
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO(b"signal,collab\nx,y\n"), fmt=BankFormat.TE_CSV, source="te.csv")
    assert err.value.problems[0][0] == 1 and "signal_type" in err.value.problems[0][1]


def test_hma_bank_content_json() -> None:
    later = int((datetime.now(UTC) + timedelta(days=2)).timestamp())
    records = [
        {"id": 7, "bank": {"name": "X", "matching_enabled_ratio": 1.0}, "disable_until_ts": 0,
         "original_media_uri": "https://example.org/a.jpg", "signals": {"pdq": PDQ, "video_md5": MD5},
         "metadata": {"content_id": "abc"}, "note": "hi"},
        {"id": 8, "signals": {"pdq": PDQ[::-1]}, "disable_until_ts": later},
        {"id": 9, "signals": {"pdq": PDQ[::-1].replace("f", "0")}, "disable_until_ts": 2**31 - 1},
    ]  # fmt: skip
    text = "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]"
    a, b, c = read_file(io.BytesIO(text.encode()), fmt=BankFormat.HMA_JSON, source="h.json")
    assert [s.signal_type for s in a.signals] == ["pdq", "md5"] and a.note == "hi"
    assert a.metadata == {"content_id": "abc", "hma": {"original_media_uri": "https://example.org/a.jpg"}}
    assert not b.enabled and b.disabled_until == datetime.fromtimestamp(later, UTC)
    assert not c.enabled and c.disabled_until is None
    lines = "\n".join(json.dumps(r) for r in records)  # JSON Lines of the same objects
    assert len(read_file(io.BytesIO(lines.encode()), fmt=BankFormat.HMA_JSON, source="h")) == 3
    bad = [
        json.dumps({"signals": {"pdq": PDQ}}),  # 2 ok
        json.dumps({"signals": {}}),  # 3
        json.dumps({"signals": {"pdq": PDQ}, "colour": 1}),  # 4
        '{"signals": {"pdq": "' + PDQ + '"}, "note": "a", "note": "b"}',  # 5 duplicate key
        json.dumps({"signals": {"tmk": "00"}}),  # 6
        json.dumps({"signals": {"pdq": PDQ}, "disable_until_ts": "soon"}),  # 7
    ]
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO(("[\n" + ",\n".join(bad) + "\n]").encode()), fmt=BankFormat.HMA_JSON, source="h")
    problems = dict(err.value.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7]
    assert problems[5] == "the key 'note' appears twice in one object."


def vics13(media: list[dict[str, Any]]) -> bytes:
    doc = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/$metadata#Cases",
        "value": [{"CaseNumber": "C-1", "Media": media[:1]}, {"CaseNumber": "C-2", "Media": media[1:]}],
    }
    return json.dumps(doc, indent=2).encode()


def test_vics_13_and_20_from_other_tools(tmp_path: Path) -> None:
    media = [
        {"MediaID": 1, "Category": 3, "MD5": MD5.upper(), "SHA1": "A" * 40, "Series": "S",
         "Tags": ["t"], "VictimIdentified": True, "IsDistributed": False},
        {"MediaID": 2, "Category": 0, "MD5": SHA[:32], "@takeback.PDQ": PDQ, "@takeback.PDQQuality": 70,
         "@takeback.AIProvenance": {"tier": "strong", "generator": "sd"}},
    ]  # fmt: skip
    one, two = read_file(io.BytesIO(vics13(media)), fmt=BankFormat.VICS_13, source="v13.json")
    assert one.metadata["vics"]["VictimIdentified"] is True and one.metadata["vics"]["Series"] == "S"
    assert [s.signal_type for s in two.signals] == ["pdq", "md5"] and two.signals[0].quality == 70
    assert two.metadata["ai_provenance"]["tier"] == "strong"
    doc20 = {"@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/$metadata#Media", "value": media}
    raw = codecs.BOM_UTF16_LE + json.dumps(doc20, indent=1).encode("utf-16-le")  # as Windows tools save it
    assert len(read_file(io.BytesIO(raw), fmt=BankFormat.VICS_20, source="v20.json")) == 2
    with pytest.raises(banks.ImportFileError) as err:  # the wrong version is said so
        read_file(io.BytesIO(json.dumps(doc20).encode()), fmt=BankFormat.VICS_13, source="v.json")
    assert "looks like VICS 2.0" in err.value.problems[0][1]
    bad = [
        *media,
        {"MediaID": 3, "SHA1": "B" * 40},  # SHA1 only
        {"MediaID": 4, "MD5": "xyz"},
        {"MediaID": 5, "MD5": MD5, "@takeback.PDQQuality": 50},
    ]
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO(vics13(bad)), fmt=BankFormat.VICS_13, source="v13.json")
    lines = vics13(bad).decode().splitlines()
    expected = [next(i for i, t in enumerate(lines, 1) if f'"MediaID": {n},' in t) - 1 for n in (3, 4, 5)]
    assert [line for line, _ in err.value.problems] == expected  # the line each bad Media opens on
    assert "SHA1" in err.value.problems[0][1]


def test_md5sum_and_sha256sum_lists() -> None:
    text = (
        f"{MD5}  plain.jpg\n"
        f"{MD5[::-1]} *binary mode.png\n"
        f"\\{MD5.replace('d', 'e')}  back\\\\slash\\nnewline.jpg\n"
        f"MD5 (tagged.gif) = {MD5.replace('d', '0')}\n"
        "# a comment\n\n"
    )
    entries = read_file(io.BytesIO(text.encode()), fmt=BankFormat.MD5SUM, source="l.md5")
    names = [e.metadata["file_name"] for e in entries]
    assert names == ["plain.jpg", "binary mode.png", "back\\slash\nnewline.jpg", "tagged.gif"]
    out = io.StringIO()
    from takeback.banks.formats.coreutils import write_sums
    from tests.banks.test_formats_views import views_of

    write_sums(views_of(entries), out, algorithm="md5")
    assert out.getvalue().splitlines()[2] == f"\\{MD5.replace('d', 'e')}  back\\\\slash\\nnewline.jpg"
    bad = f"{MD5}  ok\n{MD5[:-1]}  short\n{SHA}  wrong algorithm\nSHA256 (x) = {SHA}\n{MD5}  " + "n" * 5000
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO(bad.encode()), fmt=BankFormat.MD5SUM, source="l.md5")
    assert [line for line, _ in err.value.problems] == [2, 3, 4, 5]
    (e,) = read_file(io.BytesIO(f"{SHA.upper()}  x\n".encode()), fmt=BankFormat.SHA256SUM, source="s")
    assert e.signals[0].value.hex() == SHA


def make_nsrl(path: Path, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, "
            "crc32 VARCHAR NOT NULL, file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL, "
            "package_id INTEGER NOT NULL)"
        )
        conn.execute("CREATE TABLE PKG (package_id INTEGER, name VARCHAR)")
        conn.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def test_nsrl_is_streamed_in_batches_into_one_transaction(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(22)
    hexes = [(rand_bytes(rng).hex().upper(), rand_bytes(rng, 16).hex().upper()) for _ in range(25)]
    rows = [(sha, "A" * 40, md5, "0A0B0C0D", f"f{i}.dll", i, 7) for i, (sha, md5) in enumerate(hexes)]
    rows.append((*rows[3][:4], "copy.dll", 1, 8))  # the same file in another package: a duplicate
    path = tmp_path / "rds.db"
    make_nsrl(path, rows)
    assert check_file(path, fmt=BankFormat.NSRL, source="rds.db") == 26
    batches = list(stream_file(path, fmt=BankFormat.NSRL, source="rds.db", batch=10))
    assert [len(b) for b in batches] == [10, 10, 6]
    assert batches[0][0].metadata["nsrl"] == {
        "sha1": "A" * 40, "crc32": "0A0B0C0D", "file_name": "f0.dll", "file_size": 0, "package_id": 7,
    }  # fmt: skip
    with db.session() as s:
        banks.create_bank(s, name="nsrl", actor=ACTOR, allow_list=True)
        report = banks.import_batches(
            s, bank_name="nsrl", batches=stream_file(path, fmt=BankFormat.NSRL, source="r", batch=10),
            actor=ACTOR, source="r",
        )  # fmt: skip
    assert report == banks.ImportReport(rows=26, added=25, duplicates=1)
    make_nsrl(
        bad := tmp_path / "bad.db", [*rows[:2], ("zz", "", "", "", "x", 0, 0), ("", "", "", "", "y", 0, 0)]
    )
    with pytest.raises(banks.ImportFileError) as err:
        check_file(bad, fmt=BankFormat.NSRL, source="bad.db")
    assert [line for line, _ in err.value.problems] == [3, 4]  # rowids
    (tmp_path / "not.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(banks.ImportFileError):
        check_file(tmp_path / "not.db", fmt=BankFormat.NSRL, source="not.db")


def test_cli_imports_and_exports_every_format(cli: Cli, tmp_path: Path) -> None:
    rds = tmp_path / "rds.db"
    make_nsrl(rds, [(SHA.upper(), "A" * 40, MD5.upper(), "00", "a.dll", 1, 1)])
    assert cli("bank", "create", "known", "--allow-list").exit_code == 0
    r = cli("bank", "import", "known", str(rds))
    assert r.exit_code == 0, r.output
    assert "Imported 1 of 1 entries" in r.output
    for fmt in BankFormat:
        out = tmp_path / f"out.{fmt.value}"
        r = cli("bank", "export", "known", "--format", fmt.value, "-o", str(out))
        assert r.exit_code == 0, (fmt, r.output)
        assert cli("bank", "create", f"copy-{fmt.value}").exit_code == 0
        r = cli("bank", "import", f"copy-{fmt.value}", str(out), "--format", fmt.value)
        rows = 2 if fmt is BankFormat.TE_CSV else 1  # one row a signal (md5 and sha256)
        assert r.exit_code == 0 and f"Imported {rows} of {rows}" in r.output, (fmt, r.output)
    r = cli("bank", "export", "known", "--format", "nsrl")
    assert r.exit_code != 0 and "--output" in r.output
    (tmp_path / "bad.md5").write_text(f"{MD5}  a\nnot a line\n{MD5[:5]}  b\n")
    r = cli("bank", "import", "known", str(tmp_path / "bad.md5"))
    assert r.exit_code != 0 and "line 2:" in r.output and "line 3:" in r.output
    assert "2 invalid rows; nothing was imported" in r.output


def test_format_guessing() -> None:
    assert guess_format("x.te.csv") is BankFormat.TE_CSV
    assert guess_format("x.CSV") is BankFormat.CSV
    assert guess_format("RDS_2024.03.1_modern_minimal.db") is BankFormat.NSRL
    assert guess_format("list.sha256") is BankFormat.SHA256SUM
    assert guess_format("case.vics.json") is BankFormat.VICS_20
    assert guess_format("x.txt") is None


# --- fuzzing ------------------------------------------------------------------------------------------


def sample(fmt: BankFormat, rng: np.random.Generator) -> bytes:
    from tests.banks.test_formats_views import views_of

    buf = io.StringIO()
    write_file(views_of(entries_for(fmt, rng)), buf, fmt=fmt, bank="b")
    return buf.getvalue().encode()


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        op = int(rng.integers(0, 6))
        at = int(rng.integers(0, max(1, len(b))))
        if op == 0 and b:
            b[at] = int(rng.integers(0, 256))  # a random byte (often not UTF-8)
        elif op == 1:
            del b[at : at + int(rng.integers(1, 40))]
        elif op == 2:
            b[at:at] = b[at : at + int(rng.integers(1, 80))]  # a repeated piece
        elif op == 3:
            b[at:at] = rng.choice([b'"', b",", b"\n", b"\r", b"[", b"}", b"\\", b"\x00", b"\xff\xfe"])
        elif op == 4:
            b = bytearray(rng.choice([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b""])) + b
        else:
            b[at:at] = b"x" * 1_048_576  # a 1-MB line
    return bytes(b)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_fuzzed_files_import_whole_or_report_problems(fmt: BankFormat) -> None:
    """Broken rows, stray bytes, BOMs, 1-MB lines: every mutated file either reads (every row valid)
    or raises ImportFileError with lines inside the file, never any other error."""
    rng = np.random.default_rng(zlib.crc32(fmt.value.encode()))  # the same every run (hash() is not)
    good = sample(fmt, rng)
    for _ in range(60):
        data = mutate(good, rng)
        # a lone CR ends a line too, as in the CSV reader and in editors
        lines = data.count(b"\n") + data.count(b"\r") + 1
        try:
            read_file(io.BytesIO(data), fmt=fmt, source="fuzz")
        except banks.ImportFileError as exc:
            assert exc.problems and exc.total >= len(exc.problems)
            assert all(0 <= line <= lines for line, _ in exc.problems), exc.problems
            assert all(isinstance(p, str) and p for _, p in exc.problems)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_boms_and_wrong_encodings(fmt: BankFormat) -> None:
    rng = np.random.default_rng(23)
    good = sample(fmt, rng)
    n = len(read_file(io.BytesIO(good), fmt=fmt, source="x"))
    assert len(read_file(io.BytesIO(codecs.BOM_UTF8 + good), fmt=fmt, source="x")) == n
    utf16 = codecs.BOM_UTF16_LE + good.decode().encode("utf-16-le")
    if fmt in (BankFormat.HMA_JSON, BankFormat.VICS_13, BankFormat.VICS_20):
        assert len(read_file(io.BytesIO(utf16), fmt=fmt, source="x")) == n
    else:
        with pytest.raises(banks.ImportFileError) as err:
            read_file(io.BytesIO(utf16), fmt=fmt, source="x")
        assert err.value.problems[0][0] == 1


def test_duplicate_keys_in_jsonl_are_bad_rows() -> None:
    lines = [json.dumps({"pdq": PDQ}), f'{{"md5": "{MD5}", "md5": "{MD5[::-1]}"}}']
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO("\n".join(lines).encode()), fmt=BankFormat.JSONL, source="d")
    assert err.value.problems == [(2, "the key 'md5' appears twice in one object.")]
    with pytest.raises(banks.ImportFileError) as err:
        read_file(io.BytesIO(f"pdq,note,pdq\n{PDQ},a,{PDQ}\n".encode()), fmt=BankFormat.CSV, source="d")
    assert err.value.problems[0][0] == 1 and "twice" in err.value.problems[0][1]


def test_a_failing_stream_import_leaves_the_bank_as_it_was(db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(24)
    path = tmp_path / "rds.db"
    make_nsrl(
        path, [(rand_bytes(rng).hex(), "", rand_bytes(rng, 16).hex(), "", "f", 1, 1) for _ in range(30)]
    )

    def failing() -> Any:
        yield from stream_file(path, fmt=BankFormat.NSRL, source="r", batch=10)
        raise RuntimeError("disk full")

    with db.session() as s:
        banks.create_bank(s, name="b", actor=ACTOR)
    with pytest.raises(RuntimeError), db.session() as s:
        banks.import_batches(s, bank_name="b", batches=failing(), actor=ACTOR, source="r")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(BankContent)) == 0
