"""``takeback match`` end to end on SQLite and PostgreSQL: files and hashes in, explained matches out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from takeback.matching import Matcher, MatchQuery
from takeback.store import open_database
from tests.banks.helpers import Cli, cli, jsonl
from tests.conftest import encode, synthetic_photo

__all__ = ["cli"]


@pytest.fixture
def banked(cli: Cli, tmp_path: Path) -> dict[str, Path]:
    """A bank holding two photos, an allow-list bank holding a third; copies to match against."""
    # 480 x 360: a_rot's dihedral hash lands on a's (0 bits); at 240 x 180 PDQ's decimation is uneven
    # enough that the reference itself (pdqhash) puts the best orientation 32 bits away, past 31
    photos = {name: synthetic_photo(480, 360, seed=70 + i) for i, name in enumerate(["a", "b", "stock"])}
    src = tmp_path / "src"
    src.mkdir()
    for name, arr in photos.items():
        (src / f"{name}.png").write_bytes(encode(arr, "PNG"))
    assert cli("bank", "create", "ncii").exit_code == 0
    assert cli("bank", "create", "benign", "--allow-list", "--threshold", "20").exit_code == 0
    r = cli("bank", "add", "ncii", str(src / "a.png"), str(src / "b.png"), "--note", "reported", "-j", "1")
    assert r.exit_code == 0, r.stderr
    assert cli("bank", "add", "benign", str(src / "stock.png"), "-j", "1").exit_code == 0
    assert cli("bank", "add", "ncii", str(src / "stock.png"), "-j", "1").exit_code == 0  # also reported
    q = tmp_path / "queries"
    q.mkdir()
    files = {
        "a_copy": q / "a_copy.jpg",  # re-encoded: PDQ only
        "b_exact": q / "b_exact.png",  # byte-identical: PDQ, MD5 and SHA-256
        "a_rot": q / "a_rot.png",  # rotated: matches only with --dihedral
        "stock": q / "stock.jpg",
        "other": q / "other.png",
    }
    files["a_copy"].write_bytes(encode(photos["a"], "JPEG", quality=80))
    files["b_exact"].write_bytes((src / "b.png").read_bytes())
    rotated = np.asarray(Image.fromarray(photos["a"]).transpose(Image.Transpose.ROTATE_270))
    files["a_rot"].write_bytes(encode(rotated, "PNG"))
    files["stock"].write_bytes(encode(photos["stock"], "JPEG", quality=85))
    files["other"].write_bytes(encode(synthetic_photo(240, 180, seed=99), "PNG"))
    return files


def by_input(stdout: str) -> dict[str, dict[str, object]]:
    return {Path(str(r["input"])).stem: r for r in jsonl(stdout)}


def test_matching_files_explains_every_match(cli: Cli, banked: dict[str, Path]) -> None:
    r = cli("match", *(str(p) for p in banked.values()), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 0, r.stderr
    recs = by_input(r.stdout)
    assert {k: v["status"] for k, v in recs.items()} == {
        "a_copy": "match",
        "b_exact": "match",
        "a_rot": "no_match",
        "stock": "allow_listed",
        "other": "no_match",
    }
    (m,) = recs["a_copy"]["matches"]  # type: ignore[misc]
    assert (m["bank"], m["signal_type"], m["threshold"], m["note"], m["suppressed"]) == (
        "ncii",
        "pdq",
        31,
        "reported",
        False,
    )
    assert 0 <= m["distance"] <= 31 and m["explanation"].startswith(
        f"pdq distance {m['distance']} <= threshold 31"
    )
    exact = {x["signal_type"]: x["distance"] for x in recs["b_exact"]["matches"]}  # type: ignore[attr-defined]
    assert exact == {"pdq": 0, "md5": 0, "sha256": 0}
    stock = recs["stock"]["matches"]
    assert {(x["bank"], x["suppressed"]) for x in stock} == {("benign", False), ("ncii", True)}  # type: ignore[attr-defined]
    suppressed = next(x for x in stock if x["bank"] == "ncii")  # type: ignore[attr-defined]
    assert suppressed["suppressed_by"]["bank"] == "benign"

    r = cli("match", str(banked["a_rot"]), "--dihedral", "-f", "jsonl", "-j", "1")
    (rot,) = jsonl(r.stdout)
    assert rot["status"] == "match" and rot["dihedral"] is True
    assert rot["matches"][0]["orientation"].startswith("rotate")

    r = cli("match", str(banked["stock"]), str(banked["a_copy"]), "-f", "table", "-j", "1")
    assert r.exit_code == 0
    assert "allow-listed" in r.stdout and "suppressed by benign #" in r.stdout
    assert "MATCH" in r.stdout and "pdq distance" in r.stdout and "note: reported" in r.stdout
    assert "2 inputs: 1 matched." in r.stderr


def test_hash_inputs_bank_selection_and_exit_codes(cli: Cli, banked: dict[str, Path], tmp_path: Path) -> None:
    added = jsonl(cli("bank", "show", "ncii", "-f", "jsonl").stdout)[0]["newest_entries"]
    pdq = next(e["pdq"] for e in added if e["content_id"] == 1)
    sha = next(e["sha256"] for e in added if e["content_id"] == 2)
    r = cli("match", "--pdq", pdq.upper(), "--sha256", sha, "--md5", "0" * 32, "-f", "jsonl")
    assert r.exit_code == 0
    pdq_rec, md5_rec, sha_rec = jsonl(r.stdout)  # hashes in option order: pdq, md5, sha256
    assert pdq_rec["status"] == "match" and pdq_rec["matches"][0]["content_id"] == 1
    assert md5_rec["status"] == "no_match" and sha_rec["matches"][0]["content_id"] == 2
    r = cli("match", "--pdq", pdq, "--bank", "benign", "-f", "jsonl")
    assert r.exit_code == 0 and jsonl(r.stdout)[0]["status"] == "no_match"  # only the allow-list searched
    r = cli("match", str(banked["a_copy"]), str(tmp_path / "gone.jpg"), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 1  # one input could not be hashed
    gone = by_input(r.stdout)["gone"]
    assert gone["status"] == "error" and gone["error"]["code"] == "not_found"  # type: ignore[index]
    assert "could not be hashed" in r.stderr
    assert cli("match", "--pdq", "12").exit_code == 2
    assert "--pdq: a pdq hash is 64 hex characters" in cli("match", "--pdq", "12").stderr
    assert cli("match").exit_code == 2
    assert cli("match", "--pdq", pdq, "--dihedral").exit_code == 2
    r = cli("match", "--pdq", pdq, "--bank", "nope")
    assert r.exit_code == 1 and "No bank called 'nope'" in r.stderr


def test_damaged_index_file_is_rebuilt_with_a_notice(cli: Cli, banked: dict[str, Path]) -> None:
    args = ("match", str(banked["a_copy"]), "-f", "jsonl", "-j", "1")
    first = cli(*args)
    assert first.exit_code == 0 and "notice" not in first.stderr
    (index_file,) = (Path(cli.env["TAKEBACK_DATA_DIR"]) / "index").glob("pdq-*.idx")
    data = bytearray(index_file.read_bytes())
    index_file.write_bytes(bytes(data[: len(data) - 100]))  # truncated
    second = cli(*args)
    assert second.exit_code == 0
    assert "notice: The match index file was damaged" in second.stderr
    assert jsonl(second.stdout) == jsonl(first.stdout)
    third = cli(*args)
    assert "notice" not in third.stderr  # rewritten whole


def test_a_running_matcher_sees_a_cli_change_from_another_process(cli: Cli) -> None:
    db = open_database(cli.env["TAKEBACK_DATABASE_URL"])
    try:
        assert cli("bank", "create", "b").exit_code == 0
        matcher = Matcher(db, index_dir=None)  # as a server worker holds it
        value = "ab" * 32
        assert matcher.match([MatchQuery.from_hex(pdq=value)])[0].matches == []
        proc = cli.process("bank", "add-hash", "b", "--pdq", value)
        assert proc.returncode == 0, proc.stderr
        (r,) = matcher.match([MatchQuery.from_hex(pdq=value)])
        assert [(m.bank, m.distance) for m in r.matches] == [("b", 0)]
    finally:
        db.dispose()
