"""``takeback bank`` as a person uses it, on SQLite and PostgreSQL: curation, bad input, round trips,
a killed import and a locked database."""

from __future__ import annotations

import csv
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.banks.helpers import Cli, cli, jsonl, rand_bytes
from tests.conftest import encode, synthetic_photo

__all__ = ["cli"]  # the fixture, re-exported for pytest

PDQ_UPPER = "F8F8F0CEE0F4A84F06370A22038F63F0B36E2ED596621E1D33E6B39C4E9C9B22"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Three benign synthetic photos, a truncated JPEG and a text file."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        (folder / f"photo{i}.png").write_bytes(encode(synthetic_photo(200, 150, seed=40 + i), "PNG"))
    full = encode(synthetic_photo(300, 200, seed=50), "JPEG")
    (folder / "broken.jpg").write_bytes(full[: len(full) // 3])
    (folder / "notes.txt").write_text("not an image\n")
    return folder


def test_curating_a_bank_end_to_end(cli: Cli, images: Path) -> None:
    r = cli("bank", "create", "ncii", "--threshold", "24")
    assert r.exit_code == 0 and "Created bank ncii (PDQ threshold 24)" in r.stdout
    r = cli("bank", "create", "NCII")
    assert r.exit_code == 1 and "already exists" in r.stderr
    assert cli("bank", "create", "benign", "--allow-list").exit_code == 0

    r = cli(
        "bank",
        "add",
        "ncii",
        str(images),
        "--note",
        "reported",
        "--meta",
        "case=HK-1",
        "-j",
        "1",
        "-f",
        "jsonl",
    )
    assert r.exit_code == 1  # two files could not be fingerprinted; the rest were added
    recs = {Path(x["path"]).name: x for x in jsonl(r.stdout)}
    assert sorted(n for n, x in recs.items() if x["status"] == "added") == [
        "photo0.png",
        "photo1.png",
        "photo2.png",
    ]
    assert recs["broken.jpg"]["error"]["code"] == "truncated_image"
    assert recs["notes.txt"]["error"]["code"] == "unsupported_type"
    assert "3 added, 0 already in the bank, 2 failed" in r.stderr

    again = cli("bank", "add", "ncii", str(images / "photo1.png"), "-j", "1", "-f", "jsonl")
    assert again.exit_code == 0
    (dup,) = jsonl(again.stdout)
    assert dup["status"] == "duplicate" and dup["duplicate_of"] == recs["photo1.png"]["content_id"]

    r = cli(
        "bank",
        "add-hash",
        "ncii",
        "--pdq",
        PDQ_UPPER,
        "--pdq-quality",
        "80",
        "--md5",
        "D41D8CD98F00B204E9800998ECF8427E",
    )
    assert r.exit_code == 0 and "Added entry #4" in r.stdout
    r = cli("bank", "add-hash", "ncii", "--pdq", PDQ_UPPER.lower())
    assert r.exit_code == 0 and "Already in the bank as entry #4" in r.stdout
    for bad, message in [
        (["--pdq", "abc"], "--pdq: a pdq hash is 64 hex characters; got 3."),
        (["--sha256", "g" * 64], "--sha256: a sha256 hash may contain only 0-9 and a-f."),
        ([], "Give at least one of --pdq, --md5, --sha256."),
    ]:
        r = cli("bank", "add-hash", "ncii", *bad)
        assert r.exit_code == 2 and message in r.stderr, r.stderr

    r = cli("bank", "show", "ncii", "-f", "jsonl")
    (info,) = jsonl(r.stdout)
    assert (info["entries"], info["signals"]) == (4, {"md5": 4, "pdq": 4, "sha256": 3})
    assert info["newest_entries"][0]["pdq"] == PDQ_UPPER.lower()
    assert info["newest_entries"][1]["note"] == "reported" and info["newest_entries"][1]["metadata"] == {
        "case": "HK-1"
    }
    assert info["newest_entries"][1]["source"] == "takeback bank add"
    assert "photo" not in r.stdout  # file names are not stored

    r = cli("bank", "disable", "ncii", "1", "2", "--until", "2d")
    assert r.exit_code == 0 and "Disabled 2 entries until" in r.stdout
    assert jsonl(cli("bank", "list", "-f", "jsonl").stdout)[1]["disabled_entries"] == 2
    assert cli("bank", "disable", "ncii", "1", "--until", "2001-01-01").exit_code == 1
    assert cli("bank", "disable", "ncii", "--until", "soon").exit_code == 2
    assert cli("bank", "enable", "ncii", "1", "2").exit_code == 0
    r = cli("bank", "remove", "ncii", "3", "99")
    assert r.exit_code == 1 and "no entry with id 99; nothing was changed" in r.stderr
    assert cli("bank", "remove", "ncii", "3").exit_code == 0
    assert cli("bank", "set", "ncii", "--threshold", "70").exit_code == 1
    r = cli("bank", "set", "ncii", "--threshold", "40", "--description", "victim reports")
    assert r.exit_code == 0 and "PDQ threshold 40" in r.stdout
    assert cli("bank", "rename", "ncii", "reports").exit_code == 0

    table = cli("bank", "list", "-f", "table").stdout
    assert "reports" in table and "allow-list" in table and "40" in table
    r = cli("bank", "show", "ncii")
    assert r.exit_code == 1 and "No bank called 'ncii'. Banks: benign, reports." in r.stderr
    assert cli("bank", "delete", "reports").exit_code == 2  # not interactive: needs --yes
    assert cli("bank", "delete", "reports", "--yes").exit_code == 0
    assert [b["name"] for b in jsonl(cli("bank", "list", "-f", "jsonl").stdout)] == ["benign"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_import_round_trip(cli: Cli, tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(60)
    cli("bank", "create", "src")
    cli("bank", "create", "dst")
    for i in range(5):
        args = [
            "--pdq",
            rand_bytes(rng).hex(),
            "--note",
            f"entry {i}, with a comma\nand a newline",
            "--meta",
            f"n={i}",
        ]
        assert cli("bank", "add-hash", "src", *args).exit_code == 0
    cli("bank", "disable", "src", "2", "--until", "30d")
    out = tmp_path / f"src.{fmt}"
    r = cli("bank", "export", "src", "--format", fmt, "--output", str(out))
    assert r.exit_code == 0 and "Exported 5 entries" in r.stderr
    r = cli("bank", "import", "dst", str(out))
    assert r.exit_code == 0 and "Imported 5 of 5 entries" in r.stdout
    second = cli("bank", "export", "dst", "--format", fmt).stdout

    def rows(text: str) -> list[dict[str, str]]:
        recs = jsonl(text) if fmt == "jsonl" else list(csv.DictReader(io.StringIO(text)))
        return [{k: v for k, v in r.items() if k != "content_id"} for r in recs]

    assert rows(second) == rows(out.read_text())
    r = cli("bank", "import", "dst", str(out))
    assert r.exit_code == 0 and "Imported 0 of 5 entries; 5 were already in the bank (skipped)" in r.stdout


def test_a_broken_import_file_names_every_bad_line_and_imports_nothing(cli: Cli, tmp_path: Path) -> None:
    cli("bank", "create", "b")
    good = json.dumps({"pdq": "ab" * 32})
    bad = tmp_path / "exchange.jsonl"
    bad.write_text(
        "\n".join([good, '{"pdq": "xyz"}', good.replace("ab", "cd"), "oops", '{"md5": "' + "A" * 31 + '"}'])
    )
    r = cli("bank", "import", "b", str(bad))
    assert r.exit_code == 1
    assert "exchange.jsonl: line 2: pdq: a pdq hash is 64 hex characters; got 3." in r.stderr
    assert "exchange.jsonl: line 4: not valid JSON" in r.stderr
    assert "exchange.jsonl: line 5: md5: an md5 hash is 32 hex characters; got 31." in r.stderr
    assert "3 invalid rows; nothing was imported" in r.stderr
    assert jsonl(cli("bank", "list", "-f", "jsonl").stdout)[0]["entries"] == 0
    r = cli("bank", "import", "b", str(tmp_path / "missing.jsonl"))
    assert r.exit_code == 2 and "No such file or folder" in r.stderr  # before anything is opened
    (tmp_path / "x.txt").write_text(good)
    assert cli("bank", "import", "b", str(tmp_path / "x.txt")).exit_code == 2  # format unknown
    r = cli("bank", "import", "b", "-", "--format", "jsonl", input=good + "\n")
    assert r.exit_code == 0 and "Imported 1 of 1" in r.stdout


def test_video_entries_export_and_import_with_every_frame(
    cli: Cli, tmp_path: Path, shared_data: Path
) -> None:
    """A video added with ``bank add`` exports its whole vPDQ (every distinct frame, the frames inside
    its border, the duration) and imports back exactly, in JSON Lines and CSV; the imported entry
    still matches a copy of the video that only its border-cropped frames can match."""
    from takeback.signals.vpdq import unpack_result

    video = shared_data / "video" / "pattern-sd-grey-bar.mp4"
    cli("bank", "create", "src")
    r = cli("bank", "add", "src", str(video), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 0 and jsonl(r.stdout)[0]["status"] == "added", r.stderr
    exported: dict[str, str] = {}
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"src.{fmt}"
        assert cli("bank", "export", "src", "--format", fmt, "--output", str(out)).exit_code == 0
        cli("bank", "create", f"dst-{fmt}")
        r = cli("bank", "import", f"dst-{fmt}", str(out))
        assert r.exit_code == 0 and "Imported 1 of 1 entries" in r.stdout, r.stdout + r.stderr
        again = cli("bank", "export", f"dst-{fmt}", "--format", fmt).stdout
        first = out.read_text()

        def rows(text: str, fmt: str = fmt) -> list[dict[str, str]]:
            recs = jsonl(text) if fmt == "jsonl" else list(csv.DictReader(io.StringIO(text)))
            return [{k: v for k, v in r.items() if k != "content_id"} for r in recs]

        assert rows(again) == rows(first)
        (rec,) = rows(first)
        exported[fmt] = rec["vpdq"]
        assert rec["sha256"] and rec["md5"] and not rec["pdq"]
    assert exported["jsonl"] == exported["csv"]
    frames, cropped, duration = unpack_result(bytes.fromhex(exported["csv"]))
    assert len(frames) > 100 and len(cropped) == len(frames) and duration == pytest.approx(6.867, abs=0.05)
    # The HD copy without bars matches only through the frames hashed inside the SD copy's border.
    query = shared_data / "video" / "pattern-hd-no-bar.mp4"
    r = cli("match", str(query), "--bank", "dst-csv", "-f", "jsonl", "-j", "1")
    (rec,) = jsonl(r.stdout)
    assert rec["status"] == "match" and rec["matches"] == [], r.stdout + r.stderr
    (vm,) = rec["video"]["matches"]
    assert vm["bank"] == "dst-csv" and vm["kind"] == "match" and vm["query_share"] >= 0.9
    # An entry holding only a vpdq (e.g. from another system) imports and shows without its hashes.
    only = tmp_path / "only.jsonl"
    only.write_text(json.dumps({"vpdq": exported["jsonl"], "note": "frames only"}) + "\n")
    cli("bank", "create", "only")
    assert cli("bank", "import", "only", str(only)).exit_code == 0
    r = cli("bank", "show", "only", "-f", "table")
    assert r.exit_code == 0 and f"vpdq {len(frames) + len(cropped)} frames" not in r.stdout
    assert f"vpdq {len(frames)} frames" in r.stdout, r.stdout


def test_import_from_a_scan_case_carries_videos_vpdq(cli: Cli, tmp_path: Path, shared_data: Path) -> None:
    """``bank import --from-case``: a scanned video enters the bank with the scan's vPDQ, so a
    re-encoded, resized copy (other bytes: no MD5/SHA-256 match) is still found."""
    from tests.video.conftest import cut_clip

    seized = tmp_path / "seized"
    seized.mkdir()
    original = seized / "VID_0001.mp4"
    original.write_bytes((shared_data / "video" / "doorknob-hd-no-bar.mp4").read_bytes())
    (seized / "IMG_0001.png").write_bytes(encode(synthetic_photo(200, 150, seed=70), "PNG"))
    case = tmp_path / "case"
    r = cli("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks")
    assert r.exit_code == 0, r.stdout + r.stderr
    cli("bank", "create", "seized")
    r = cli("bank", "import", "seized", "--from-case", str(case), "--all-items")  # nothing is flagged
    assert r.exit_code == 0 and "Imported 2 of 2 fingerprints" in r.stdout, r.stdout + r.stderr
    recs = jsonl(cli("bank", "export", "seized").stdout)
    (vid,) = [x for x in recs if x["vpdq"]]
    assert vid["sha256"] and vid["metadata"]["scan_case"] and "VID_0001" not in json.dumps(recs)
    copy = cut_clip(original, tmp_path / "shared.mp4", start=0.0, seconds=4.0, width=480, height=270, crf=30)
    r = cli("match", str(copy), "-f", "jsonl", "-j", "1")
    (rec,) = jsonl(r.stdout)
    assert rec["status"] == "match" and rec["matches"] == [], r.stdout + r.stderr
    assert [m["content_id"] for m in rec["video"]["matches"]] == [vid["content_id"]]


def test_errors_reach_a_person_without_a_traceback(tmp_path: Path) -> None:
    env = {"TAKEBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'tb.db'}", "TAKEBACK_DATA_DIR": str(tmp_path)}
    proc = Cli(env).process("bank", "show", "nope")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: No bank called 'nope'.") and "Traceback" not in proc.stderr


def test_killing_a_large_import_leaves_the_old_content(cli: Cli, tmp_path: Path) -> None:
    """SIGKILL in the middle of the write: the bank holds exactly what it held before."""
    rng = np.random.default_rng(61)
    cli("bank", "create", "big")
    assert cli("bank", "add-hash", "big", "--pdq", rand_bytes(rng).hex()).exit_code == 0
    big = tmp_path / "big.jsonl"
    n = 30_000
    values = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    with big.open("w") as fh:
        for row in values:
            fh.write(json.dumps({"pdq": row.tobytes().hex(), "pdq_quality": 90, "note": "bulk"}) + "\n")
    proc = cli.popen("bank", "import", "big", str(big))
    assert proc.stderr is not None
    line = proc.stderr.readline()  # printed just before the transaction starts writing
    assert "Importing 30,000 entries in one transaction" in line, line
    time.sleep(0.4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL  # it really was killed mid-import
    (info,) = jsonl(cli("bank", "list", "-f", "jsonl").stdout)
    assert info["entries"] == 1
    # the database is healthy: nothing is left locked and a new import lands whole
    small = tmp_path / "small.jsonl"
    small.write_text("".join(big.read_text().splitlines(keepends=True)[:700]))
    r = cli("bank", "import", "big", str(small))
    assert r.exit_code == 0 and "Imported 700 of 700" in r.stdout


def test_a_locked_database_is_waited_for_then_reported(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    url = cli.env["TAKEBACK_DATABASE_URL"]
    if not url.startswith("sqlite"):
        pytest.skip("SQLite's whole-database write lock; PostgreSQL locks rows")
    path = url.removeprefix("sqlite:///")
    assert cli("bank", "create", "b").exit_code == 0
    holder_code = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "c.execute('COMMIT')\n"
    )

    def hold(seconds: float) -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", holder_code, path, str(seconds)], stdout=subprocess.PIPE, text=True
        )
        assert p.stdout is not None and p.stdout.readline().strip() == "locked"
        return p

    # held briefly by another process: the command waits and succeeds
    holder = hold(1.5)
    started = time.monotonic()
    r = cli("bank", "add-hash", "b", "--md5", "d41d8cd98f00b204e9800998ecf8427e")
    assert r.exit_code == 0, r.stderr
    assert time.monotonic() - started > 1.0
    holder.wait(10)
    # held for longer than the retries last: a clear error, nothing half-written
    import takeback.store.db as store_db

    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    holder = hold(20)
    try:
        r = cli("bank", "add-hash", "b", "--md5", "0" * 32)
        assert r.exit_code == 1
        assert "locked by another takeback process" in r.stderr
    finally:
        holder.kill()
        holder.wait(10)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM bank_content").fetchone() == (1,)


def test_a_large_import_leaves_the_match_index_file_current(cli: Cli, tmp_path: Path) -> None:
    """The first ``match`` after importing a bank loads the index file instead of rebuilding it
    (issue 11 §3: seconds at a million hashes)."""
    from takeback.banks.service import change_watermark
    from takeback.index import PdqIndex
    from takeback.store import open_database

    rng = np.random.default_rng(61)
    hashes = [rand_bytes(rng).hex() for _ in range(1200)]
    path = tmp_path / "big.csv"
    path.write_text("pdq,pdq_quality\n" + "".join(f"{h},90\n" for h in hashes))
    cli("bank", "create", "big")
    r = cli("bank", "import", "big", str(path))
    assert r.exit_code == 0 and "Imported 1,200 of 1,200" in r.stdout
    data = Path(cli.env["TAKEBACK_DATA_DIR"])
    files = list((data / "index").glob("pdq-*.idx"))
    assert len(files) == 1  # written by the import, before any match
    saved = PdqIndex.load(files[0])
    db = open_database(cli.env["TAKEBACK_DATABASE_URL"])
    try:
        with db.session() as s:
            head = change_watermark(s)
    finally:
        db.dispose()
    assert len(saved) == 1200 and saved.watermark == head  # nothing left to replay or rebuild
