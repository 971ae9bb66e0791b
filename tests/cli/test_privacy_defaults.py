"""Privacy defaults and what a new user reads (issue 11, sections 7 and 8), as each person runs takeback.

The victim here is on her own laptop: her operating-system account is her real name, and she sets no
``TAKEBACK_ACTOR``. Nothing takeback writes or hands over may carry that name unless she gives it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from takeback.config import get_settings
from tests.banks.helpers import Cli, cli, jsonl
from tests.conftest import encode, synthetic_photo
from tests.triage import scenes

__all__ = ["cli"]

REAL_NAME = "chanwingyan"  # her account name (getpass.getuser() reads LOGNAME first)
PASS = "correct horse battery staple"


@pytest.fixture
def person(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.delenv("TAKEBACK_ACTOR", raising=False)
    for k in ("LOGNAME", "USER", "USERNAME"):
        monkeypatch.setenv(k, REAL_NAME)
    get_settings.cache_clear()
    env = {
        **cli.env,
        "LOGNAME": REAL_NAME,
        "USER": REAL_NAME,
        "TAKEBACK_LOCKER_PASSPHRASE": PASS,
        "TZ": "Europe/London",  # she is abroad; the case is in Hong Kong
    }
    return Cli(env)


def new_case(tb: Cli, *extra: str) -> str:
    r = tb("case", "new", "-j", "HK", *extra)
    assert r.exit_code == 0, r.stdout + r.stderr
    return r.stdout.split("Case ", 1)[1].split(" ", 1)[0]


def photo(tmp_path: Path, name: str = "shot.jpg", seed: int = 5) -> Path:
    p = tmp_path / name
    p.write_bytes(encode(synthetic_photo(320, 240, seed=seed), "JPEG", quality=90))
    return p


def flat(tmp_path: Path, name: str = "flat.png") -> Path:
    """A nearly uniform picture: its PDQ has quality 0."""
    p = tmp_path / name
    p.write_bytes(encode(np.full((200, 200, 3), 30, np.uint8), "PNG"))
    return p


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


# --- 7. who is recorded --------------------------------------------------------------------------


def test_evidence_and_bundles_record_self_never_the_account_name(person: Cli, tmp_path: Path) -> None:
    ref = new_case(person, "--consent", "hashing")
    r = person("evidence", "add", "--case", ref, str(photo(tmp_path)))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "by self" in r.stdout and REAL_NAME not in r.stdout
    r = person("evidence", "add", "--case", ref, str(photo(tmp_path, "b.jpg", 6)), "--by", "caseworker-3")
    assert r.exit_code == 0, r.stdout + r.stderr
    items = jsonl(person("evidence", "list", "--case", ref, "-f", "jsonl").stdout)
    assert [i["captured_by"] for i in items] == ["self", "caseworker-3"]
    for extra in ([], ["--with-originals"]):
        out = tmp_path / f"bundle{len(extra)}.zip"
        r = person("evidence", "bundle", "--case", ref, "--out", str(out), *extra)
        assert r.exit_code == 0, r.stdout + r.stderr
        members = read_zip(out)
        manifest = json.loads(members["manifest.json"])
        assert manifest["created_by"] == "self"
        actors = {json.loads(line)["actor"] for line in members["custody.jsonl"].splitlines()}
        assert actors <= {"self", "caseworker-3"}
        for name, data in members.items():
            if not name.startswith("originals/"):
                assert REAL_NAME.encode() not in data, name


def test_case_commands_record_self_never_the_account_name(person: Cli, tmp_path: Path) -> None:
    ref = new_case(person, "--consent", "hashing")
    for args in (
        ("case", "consent", "--case", ref, "--grant", "referral"),
        ("case", "refer", "--case", ref, "--to", "pcpd"),
        ("case", "takedown", "--case", ref, "--url", "https://example.com/p/1", "--platform", "Example"),
    ):
        r = person(*args)
        assert r.exit_code == 0, r.stdout + r.stderr
    engine = sa.create_engine(person.env["TAKEBACK_DATABASE_URL"])
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                assert REAL_NAME not in repr(tuple(row)), table
        actors = set(conn.execute(sa.text("SELECT DISTINCT actor FROM audit_event")).scalars())
    engine.dispose()
    assert actors == {"self"}


def test_bank_keys_and_scan_record_roles_never_the_account_name(
    person: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert person("bank", "create", "ncii").exit_code == 0
    assert person("bank", "add", "ncii", str(photo(tmp_path))).exit_code == 0
    shown = json.loads(person("bank", "show", "ncii", "-f", "json").stdout)
    assert shown["created_by"] == "cli" and shown["newest_entries"][0]["created_by"] == "cli"
    assert REAL_NAME not in person("bank", "export", "ncii").stdout
    key = json.loads(person("keys", "create", "--role", "matcher").stdout)
    assert key["created_by"] == "cli"

    seized = tmp_path / "seized"
    seized.mkdir()
    photo(seized, "IMG_0001.jpg")
    case = tmp_path / "case"
    r = person("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks")
    assert r.exit_code == 0, r.stdout + r.stderr
    conn = sqlite3.connect(case / "case.db")
    (examiner,) = conn.execute("SELECT value FROM case_meta WHERE key = 'examiner'").fetchone()
    actors = {a for (a,) in conn.execute("SELECT DISTINCT actor FROM custody_entry")}
    conn.close()
    assert json.loads(examiner) == "examiner" and actors == {"examiner"}
    for name in ("report.html", "custody.jsonl", "vics.json"):
        assert REAL_NAME not in (case / name).read_text(encoding="utf-8"), name

    # A pseudonym given once, in TAKEBACK_ACTOR, is what every surface records.
    monkeypatch.setenv("TAKEBACK_ACTOR", "ops-2")
    get_settings.cache_clear()
    key = json.loads(
        Cli({**person.env, "TAKEBACK_ACTOR": "ops-2"})("keys", "create", "--role", "admin").stdout
    )
    assert key["created_by"] == "cli:ops-2"


# --- 7. consent before any prompt ------------------------------------------------------------------


def test_consent_is_checked_before_the_passphrase_is_asked(person: Cli, tmp_path: Path) -> None:
    """At a terminal, without consent: one clear refusal, no passphrase prompt (twice) first."""
    ref = new_case(person)
    env = {k: v for k, v in {**os.environ, **person.env}.items() if k != "TAKEBACK_LOCKER_PASSPHRASE"}
    primary, secondary = os.openpty()  # stdin is a terminal: the old code prompted and waited here
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "takeback.cli.main",
                "evidence",
                "add",
                "--case",
                ref,
                str(photo(tmp_path)),
            ],
            stdin=secondary,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "passphrase" not in (proc.stdout + proc.stderr).lower()
    assert "You have not given your consent to hashing" in proc.stderr
    assert f"takeback case consent --case {ref} --grant hashing" in proc.stderr
    assert not (Path(person.env["TAKEBACK_DATA_DIR"]) / "locker").exists()


def test_consent_refusal_speaks_to_whoever_is_acting(person: Cli, tmp_path: Path) -> None:
    ref = new_case(person)
    shot = str(photo(tmp_path))
    mine = person("evidence", "add", "--case", ref, shot)
    assert mine.exit_code == 1 and "You have not given your consent" in mine.stderr
    helper = person("evidence", "add", "--case", ref, shot, "--by", "caseworker-3")
    assert helper.exit_code == 1 and "has no consent for hashing" in helper.stderr
    assert "Ask the person the case is about" in helper.stderr and "You have not" not in helper.stderr
    url = person("evidence", "add", "--case", ref, "--url", "https://x.example/p/1", "--no-fetch")
    assert url.exit_code == 1 and "You have not given your consent" in url.stderr


# --- 7. bundles: hashes only unless asked ----------------------------------------------------------


def test_bundle_leaves_originals_out_unless_asked_and_warns_when_asked(person: Cli, tmp_path: Path) -> None:
    ref = new_case(person, "--consent", "hashing")
    assert person("evidence", "add", "--case", ref, str(photo(tmp_path))).exit_code == 0
    plain = tmp_path / "plain.zip"
    r = person("evidence", "bundle", "--case", ref, "--out", str(plain))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "no originals" in r.stdout and "--with-originals" in r.stdout and not r.stderr
    members = read_zip(plain)
    assert not [n for n in members if n.startswith("originals/")]
    assert json.loads(members["manifest.json"])["hashes_only"] is True
    assert person("evidence", "verify", str(plain)).exit_code == 0

    full = tmp_path / "full.zip"
    r = person("evidence", "bundle", "--case", ref, "--out", str(full), "--with-originals")
    assert r.exit_code == 0, r.stdout + r.stderr
    warning = " ".join(r.stderr.split())
    assert "original images, unencrypted" in warning and "police" in warning and "Platforms" in warning
    assert "1 original (unencrypted)" in r.stdout
    members = read_zip(full)
    assert [n for n in members if n.startswith("originals/")] == ["originals/0001.jpg"]
    assert b"unencrypted" in members["summary.html"]

    old = tmp_path / "old.zip"
    assert person("evidence", "bundle", "--case", ref, "--out", str(old), "--hashes-only").exit_code == 0
    assert not [n for n in read_zip(old) if n.startswith("originals/")]
    both = person(
        "evidence",
        "bundle",
        "--case",
        ref,
        "-o",
        str(tmp_path / "x.zip"),
        "--hashes-only",
        "--with-originals",
    )
    assert both.exit_code == 2 and "contradict" in both.stderr


# --- 8. what a new user reads ----------------------------------------------------------------------


def test_evidence_list_shows_readable_times_in_the_case_zone(person: Cli, tmp_path: Path) -> None:
    ref = new_case(person, "--consent", "hashing")
    r = person(
        "evidence",
        "add",
        "--case",
        ref,
        str(photo(tmp_path)),
        "--hash-only",
        "--posted-at",
        "2026-11-20T13:15Z",
    )
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "HKT" in r.stdout and "Z)" not in r.stdout
    table = person("evidence", "list", "--case", ref).stdout
    assert f"Evidence in {ref} (times in Asia/Hong_Kong)" in table
    assert "posted   2026-11-20 21:15 HKT" in table
    assert "T13:15" not in table and ".000000Z" not in table and "GMT" not in table
    (rec,) = jsonl(person("evidence", "list", "--case", ref, "-f", "jsonl").stdout)
    assert rec["posted_at"] == "2026-11-20T13:15:00.000000Z" and rec["captured_at"].endswith("Z")


def test_a_low_quality_pdq_is_always_called_unreliable(person: Cli, tmp_path: Path) -> None:
    ref = new_case(person, "--consent", "hashing")
    r = person("evidence", "add", "--case", ref, str(flat(tmp_path)), "--hash-only")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "quality 0 (unreliable: below 50)" in r.stdout
    assert "quality 0 (unreliable: below 50)" in person("evidence", "list", "--case", ref).stdout
    out = tmp_path / "b.zip"
    assert person("evidence", "bundle", "--case", ref, "--out", str(out)).exit_code == 0
    assert "(quality 0: unreliable, below 50)" in read_zip(out)["summary.html"].decode()
    person("bank", "create", "b")
    assert person("bank", "add-hash", "b", "--pdq", "ab" * 32, "--pdq-quality", "12").exit_code == 0
    assert "quality 12 (unreliable: below 50)" in person("bank", "show", "b", "-f", "table").stdout
    r = person("hash", str(flat(tmp_path)), "-f", "table")
    assert "quality 0 (unreliable: below 50)" in r.stdout


def test_keys_create_says_shown_once_and_keeps_json_clean(person: Cli) -> None:
    r = person("keys", "create", "--role", "matcher")  # not a terminal: JSON on stdout
    assert r.exit_code == 0
    rec = json.loads(r.stdout)
    assert rec["key"].startswith("tbk_")
    assert "shown only once" in r.stderr and "Store this key now" in r.stderr


def test_keys_list_never_cuts_the_key_id_on_a_narrow_terminal(person: Cli) -> None:
    rec = json.loads(
        person("keys", "create", "--role", "curator", "--expires", "30d", "-n", "ops laptop").stdout
    )
    table = (
        Cli({**person.env, "COLUMNS": "80"}).process("keys", "list", "-f", "table").stdout
    )  # a fresh console
    assert rec["key_id"] in table and rec["expires_at"][:10] in table, table


def test_bank_show_json_is_readable_and_jsonl_stays_one_line(person: Cli) -> None:
    person("bank", "create", "ncii")
    piped = person("bank", "show", "ncii")
    assert piped.exit_code == 0 and len(piped.stdout.splitlines()) > 5  # indented, not one long line
    assert json.loads(piped.stdout)["name"] == "ncii"
    line = person("bank", "show", "ncii", "-f", "jsonl").stdout
    assert len(line.splitlines()) == 1 and json.loads(line)["name"] == "ncii"
    table = person("bank", "show", "ncii", "-f", "table").stdout
    assert "created " in table and " UTC by cli" in table and "+00:00" not in table


def test_scan_report_says_why_a_folder_has_no_sha256(person: Cli, tmp_path: Path) -> None:
    seized = tmp_path / "seized"
    seized.mkdir()
    photo(seized, "IMG_0001.jpg")
    single = photo(tmp_path, "single.jpg", 8)
    case = tmp_path / "case"
    r = person("scan", str(seized), str(single), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks")
    assert r.exit_code == 0, r.stdout + r.stderr
    html = " ".join((case / "report.html").read_text(encoding="utf-8").split())
    assert "none: a folder has no single hash; its files are hashed one by one" in html
    assert "none: a file is hashed again as its item" in html
    assert "every file in it is hashed one by one" in html


# --- 7. bank import from a case: what the scan flagged ---------------------------------------------


def test_bank_import_from_a_case_takes_what_the_scan_flagged(person: Cli, tmp_path: Path) -> None:
    seized = tmp_path / "seized"
    scenes.write_case(seized, people=1, photos=1, size=(400, 300))  # her photo + 3 AI derivatives
    other = seized / "person_00" / "IMG_9999.jpg"  # an unrelated photo of hers
    other.write_bytes(encode(synthetic_photo(400, 300, seed=77), "JPEG"))
    # an AI-made, nearly uniform picture: flagged, but its PDQ (quality 0) would match any dark image
    (seized / "person_00" / "dark_ai.png").write_bytes(scenes.ai_png(np.full((300, 400, 3), 25, np.uint8), 3))
    case = tmp_path / "case"
    r = person("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks")
    assert r.exit_code == 0, r.stdout + r.stderr

    person("bank", "create", "flagged")
    r = person("bank", "import", "flagged", "--from-case", str(case))
    assert r.exit_code == 0, r.stdout + r.stderr
    said = " ".join(r.stdout.split())
    assert "Imported 4 of 4 fingerprints" in said
    assert "Left out 2 items (add --all-items to import them too)" in said
    assert "1 sources that derivatives were made from (usually the person's own photos)" in said
    assert "1 not flagged by the scan" in said
    assert "PDQ left out for 1 of them: a PDQ of quality below 50 is unreliable" in said
    assert "Its SHA-256 and MD5 were imported" in said
    assert "--include-low-quality" in said
    entries = jsonl(person("bank", "export", "flagged").stdout)
    assert all("ai" in e["metadata"]["scan_flags"].split(",") for e in entries)
    dark = [e for e in entries if e["pdq"] is None]
    assert len(dark) == 1 and dark[0]["sha256"] and dark[0]["md5"]
    assert all(e["pdq_quality"] >= 50 for e in entries if e["pdq"])
    # her own photo is not in the bank (a face swap of it is, and may match it by PDQ: that is the point)
    (own,) = jsonl(person("hash", str(seized / "person_00" / "IMG_0000.jpg"), "-f", "jsonl").stdout)
    assert own["sha256"] not in {e["sha256"] for e in entries}
    (m,) = jsonl(person("match", str(other), "-f", "jsonl").stdout)
    assert m["status"] == "no_match"
    conn = sqlite3.connect(case / "case.db")
    (details,) = conn.execute("SELECT details FROM custody_entry WHERE action = 'bank.imported'").fetchone()
    conn.close()
    logged = json.loads(details)
    assert logged["left_out"] == {"not_flagged": 1, "source_picture": 1} and logged["pdq_left_out"] == 1

    person("bank", "create", "everything")
    r = person(
        "bank", "import", "everything", "--from-case", str(case), "--all-items", "--include-low-quality"
    )
    assert r.exit_code == 0 and "Imported 6 of 6 fingerprints" in r.stdout, r.stdout + r.stderr
    assert "Left out" not in r.stdout and "PDQ left out" not in r.stdout
    assert all(e["pdq"] for e in jsonl(person("bank", "export", "everything").stdout))

    (tmp_path / "x.jsonl").write_text("")
    r = person("bank", "import", "flagged", str(tmp_path / "x.jsonl"), "--all-items")
    assert r.exit_code == 2 and "go with --from-case" in r.stderr


def test_bank_import_from_a_case_with_nothing_flagged_says_so(person: Cli, tmp_path: Path) -> None:
    seized = tmp_path / "seized"
    seized.mkdir()
    photo(seized, "IMG_0001.jpg")
    case = tmp_path / "case"
    assert (
        person("scan", str(seized), "--case", str(case), "-j", "1", "--no-nudity", "--no-banks").exit_code
        == 0
    )
    person("bank", "create", "b")
    r = person("bank", "import", "b", "--from-case", str(case))
    assert r.exit_code == 1 and "Nothing imported" in r.stderr and "--all-items" in r.stderr
    assert "1 not flagged by the scan" in " ".join(r.stdout.split())
