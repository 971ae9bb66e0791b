"""`takeback guide`, `takeback case` and `takeback evidence` end to end, as a person runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import pdftools
from tests.conftest import encode, synthetic_photo

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]
PASS = "correct horse battery staple"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("TAKEBACK_")}
    e.update(
        TAKEBACK_DATA_DIR=str(tmp_path / "data"),
        TAKEBACK_LOCKER_PASSPHRASE=PASS,
        TAKEBACK_ACTOR="caseworker-ana",
        TZ="Asia/Hong_Kong",
    )
    return e


def tb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def new_case(env: dict[str, str], *extra: str) -> str:
    r = tb(env, "case", "new", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("Case ", 1)[1].split(" ", 1)[0]


def test_guide_hk_creation_in_both_languages(env: dict[str, str]) -> None:
    r = tb(
        env,
        "guide",
        "-j",
        "HK",
        "--facts",
        "created",
        "--setting",
        "university",
        "--act-date",
        "2026-03-01",
        "--format",
        "json",
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["not_legal_advice"] is True
    assert [a["status"] for a in data["acts"]] == ["no_offence"]
    assert [x["id"] for x in data["routes"]][:2] == ["hk-pcpd", "hk-eoc"]
    eoc = next(x for x in data["routes"] if x["id"] == "hk-eoc")
    assert eoc["deadlines"][0]["due"] == "2027-03-01T16:00:00+00:00"
    zh = tb(env, "guide", "-j", "hk", "--facts", "created,shared", "--lang", "zh-Hant")
    assert zh.returncode == 0
    assert zh.stdout.splitlines()[0] == "你的選擇：香港"
    assert "法律資訊，並非法律意見" in zh.stdout and "[未經證實]" in zh.stdout


def test_guide_under_18_speaks_first(env: dict[str, str]) -> None:
    r = tb(env, "guide", "-j", "US", "--facts", "shared", "--victim-age", "minor")
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    assert lines[1] == "[i] Where to get help now"
    assert [x for x in lines if x.startswith("[")][1] == "[!!] Under 18: read this first"


def test_guide_bad_input_is_a_usage_error(env: dict[str, str]) -> None:
    r = tb(env, "guide", "-j", "Atlantis", "--facts", "shared")
    assert r.returncode == 2 and "Unknown jurisdiction 'Atlantis'" in r.stderr and "Traceback" not in r.stderr
    r = tb(env, "guide", "-j", "HK", "--facts", "shared,not-shared")
    assert r.returncode == 2 and "contradict" in r.stderr
    r = tb(env, "guide", "-j", "HK", "--facts", "shared", "--act-date", "2099-01-01")
    assert r.returncode == 2 and "in the future" in r.stderr
    r = tb(env, "guide", "-j", "HK", "--facts", "shared", "--act-date", "1st of May")
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr


def test_guide_pdf_in_traditional_chinese(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "guide.pdf"
    r = tb(
        env,
        "guide",
        "-j",
        "HK",
        "--facts",
        "threatened",
        "--lang",
        "zh-Hant",
        "--format",
        "pdf",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    text = pdftools.squeeze(pdftools.text(out))  # pypdf misreads the embedded Chinese font's CMap
    assert "威脅分享：屬刑事罪行" in text and "香港警務處" in text


def test_full_evidence_workflow(env: dict[str, str], tmp_path: Path) -> None:
    ref = new_case(
        env,
        "-j",
        "HK",
        "--setting",
        "university",
        "--incident-date",
        "2026-03-01",
        "--consent",
        "hashing,referral",
        "--alias",
        "student A",
    )
    shot = tmp_path / "screenshot.jpg"
    shot.write_bytes(encode(synthetic_photo(320, 240, seed=5), "JPEG", quality=90))
    r = tb(
        env,
        "evidence",
        "add",
        "--case",
        ref,
        str(shot),
        "--platform",
        "Telegram",
        "--account",
        "@poster",
        "--posted-at",
        "2026-03-01 22:10",
        "--note",
        "first sighting",
    )
    assert r.returncode == 0, r.stderr
    assert "original stored encrypted" in r.stdout and "HKT" in r.stdout
    r = tb(
        env,
        "evidence",
        "add",
        "--case",
        ref,
        "--url",
        "https://lihkg.example/thread/1",
        "--no-fetch",
        "--platform",
        "LIHKG",
    )
    assert r.returncode == 0, r.stderr
    r = tb(env, "case", "refer", "--case", ref, "--to", "hk-pcpd", "--reference", "PCPD-2026-0042")
    assert r.returncode == 0, r.stderr
    r = tb(env, "case", "takedown", "--case", ref, "--url", "https://t.example/c/1", "--platform", "Telegram")
    assert r.returncode == 0, r.stderr

    lst = tb(env, "evidence", "list", "--case", ref, "--format", "jsonl")
    items = [json.loads(x) for x in lst.stdout.splitlines()]
    assert [i["kind"] for i in items] == ["file", "url"]
    assert items[0]["posted_at"] == "2026-03-01T14:10:00.000000Z" and items[0]["stored"] is True
    tl = tb(env, "evidence", "timeline", "--case", ref)
    assert tl.returncode == 0
    assert "[ref PCPD-2026-0042]" in tl.stdout
    assert tl.stdout.index("posted") < tl.stdout.index("captured")

    bundle = tmp_path / "bundle.zip"
    r = tb(
        env,
        "evidence",
        "bundle",
        "--case",
        ref,
        "--out",
        str(bundle),
        "--lang",
        "zh-Hant",
        "--with-originals",
    )
    assert r.returncode == 0, r.stderr
    assert "2 items, 1 original (unencrypted)" in r.stdout
    v = tb(env, "evidence", "verify", str(bundle))
    assert v.returncode == 0, v.stdout
    assert "VERIFIED" in v.stdout and "fingerprint" in v.stdout

    # change one byte of the original inside the bundle: verify names it
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("originals/0001.jpg")
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0x01
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    v = tb(env, "evidence", "verify", str(bad))
    assert v.returncode == 1
    assert "FAILED" in v.stdout and "originals/0001.jpg" in v.stdout

    show = tb(env, "case", "show", "--case", ref, "--json")
    view = json.loads(show.stdout)
    assert view["custody"]["verified"] is True and view["custody"]["entries"] == 3  # 2 items + bundle export
    assert [d["kind"] for d in view["deadlines"]] == ["hk-eoc-12m"]
    dl = tb(env, "case", "deadlines", "--json")
    assert json.loads(dl.stdout)[0]["kind"] == "hk-eoc-12m"


def test_locker_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    ref = new_case(env, "-j", "UK", "--consent", "hashing")
    shot = tmp_path / "a.png"
    shot.write_bytes(encode(synthetic_photo(64, 64, seed=1), "PNG"))
    assert tb(env, "evidence", "add", "--case", ref, str(shot)).returncode == 0
    wrong = {**env, "TAKEBACK_LOCKER_PASSPHRASE": "not the passphrase"}
    out = tmp_path / "b.zip"
    r = tb(wrong, "evidence", "bundle", "--case", ref, "--out", str(out), "--with-originals")
    assert r.returncode == 1 and "Wrong passphrase" in r.stderr and not out.exists()
    assert not list(tmp_path.glob(".b.zip*"))
    # the locker folder without its key file
    key = Path(env["TAKEBACK_DATA_DIR"]) / "locker" / "locker.key"
    key.rename(key.with_suffix(".moved"))
    r = tb(env, "evidence", "bundle", "--case", ref, "--out", str(out), "--with-originals")
    assert r.returncode == 1 and "copied without it" in r.stderr and not out.exists()
    r = tb(env, "evidence", "add", "--case", ref, str(shot))
    assert r.returncode == 1 and "copied without it" in r.stderr
    # hashes-only still works without the key
    r = tb(env, "evidence", "bundle", "--case", ref, "--out", str(out), "--hashes-only")
    assert r.returncode == 0, r.stderr


def test_dates_consent_and_minors(env: dict[str, str], tmp_path: Path) -> None:
    ref = new_case(env, "-j", "HK")
    shot = tmp_path / "a.png"
    shot.write_bytes(encode(synthetic_photo(64, 64, seed=2), "PNG"))
    r = tb(env, "evidence", "add", "--case", ref, str(shot), "--hash-only")
    assert r.returncode == 1 and "no consent for hashing" in r.stderr
    assert tb(env, "case", "consent", "--case", ref, "--grant", "hashing").returncode == 0
    r = tb(
        env, "evidence", "add", "--case", ref, str(shot), "--hash-only", "--posted-at", "2031-01-01T00:00Z"
    )
    assert r.returncode == 2 and "in the future" in r.stderr
    r = tb(env, "evidence", "add", "--case", ref, str(shot), "--hash-only", "--posted-at", "last tuesday")
    assert r.returncode == 2 and "Could not read the posting time" in r.stderr
    r = tb(
        env,
        "evidence",
        "add",
        "--case",
        ref,
        str(shot),
        "--hash-only",
        "--posted-at",
        "2026-03-08 02:30",
        "--tz",
        "America/New_York",
    )
    assert r.returncode == 2 and "does not exist in America/New_York" in r.stderr
    r = tb(env, "evidence", "add", "--case", ref, str(shot), "--hash-only", "--url", "https://x.example")
    assert r.returncode == 2
    minor = new_case(env, "-j", "HK", "--victim-age", "minor", "--consent", "hashing")
    r = tb(env, "evidence", "add", "--case", minor, str(shot))
    assert r.returncode == 1 and "never stores those images" in r.stderr
    r = tb(env, "evidence", "add", "--case", minor, str(shot), "--hash-only")
    assert r.returncode == 0 and "no original stored" in r.stdout
    r = tb(env, "evidence", "add", "--case", "TB-0000-0000", str(shot))
    assert r.returncode == 1 and "No case" in r.stderr


def test_us_takedown_clock_and_notice(env: dict[str, str], tmp_path: Path) -> None:
    ref = new_case(env, "-j", "US", "--consent", "hashing,referral")
    r = tb(
        env,
        "case",
        "takedown",
        "--case",
        ref,
        "--url",
        "https://site.example/p/9",
        "--platform",
        "Site",
        "--sent-at",
        "2026-06-01T09:00Z",
    )
    assert r.returncode == 0, r.stderr
    assert "clock us-tida-48h (TAKE IT DOWN removal) started: due 2026-06-03 05:00 EDT" in r.stdout
    od = tb(env, "case", "deadlines", "--overdue", "--json")
    assert [d["kind"] for d in json.loads(od.stdout)] == ["us-tida-48h"]
    r = tb(
        env,
        "case",
        "takedown",
        "--case",
        ref,
        "--id",
        "1",
        "--status",
        "removed",
        "--at",
        "2026-06-02T21:00Z",
    )
    assert r.returncode == 0 and "removed after 36.0 h" in r.stdout
    assert json.loads(tb(env, "case", "deadlines", "--overdue", "--json").stdout) == []
    r = tb(env, "case", "notice", "--case", ref, "--kind", "take-it-down")
    assert r.returncode == 2 and "signature" in r.stderr and "contact" in r.stderr
    r = tb(
        env,
        "case",
        "notice",
        "--case",
        ref,
        "--kind",
        "take-it-down",
        "--name",
        "Jane Doe",
        "--contact",
        "jane@example.org",
        "--signature",
        "/s/ Jane Doe",
    )
    # the only takedown was removed: by default a notice covers open ones, so there is nothing to ask
    assert r.returncode == 2 and "open takedown" in r.stderr
    r = tb(
        env,
        "case",
        "notice",
        "--case",
        ref,
        "--kind",
        "take-it-down",
        "--url",
        "https://site.example/p/9",
        "--name",
        "Jane Doe",
        "--contact",
        "jane@example.org",
        "--signature",
        "/s/ Jane Doe",
    )
    assert r.returncode == 0, r.stderr
    assert "https://site.example/p/9" in r.stdout and "/s/ Jane Doe" in r.stdout
    pdf = tmp_path / "eoc.pdf"
    r = tb(
        env,
        "case",
        "notice",
        "--case",
        ref,
        "--kind",
        "hk-eoc",
        "--lang",
        "zh-Hant",
        "-f",
        "pdf",
        "-o",
        str(pdf),
    )
    assert r.returncode == 0 and pdf.stat().st_size > 1000
    assert (tmp_path / "eoc.cover-note.pdf").stat().st_size > 1000
    # without --format, the file's name decides: a .pdf is a PDF, a .html is HTML
    for name, magic in (("inferred.pdf", b"%PDF-"), ("inferred.html", b"<!DOCTYPE html")):
        r = tb(env, "case", "notice", "--case", ref, "--kind", "hk-eoc", "-o", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / name).read_bytes().startswith(magic), name
    r = tb(env, "case", "delete", "--case", ref)
    assert r.returncode == 2 and "--yes" in r.stderr
    r = tb(env, "case", "delete", "--case", ref, "--yes")
    assert r.returncode == 0
    assert tb(env, "case", "show", "--case", ref).returncode == 1


def test_case_commands_say_what_is_true_in_one_time_zone(env: dict[str, str], tmp_path: Path) -> None:
    r = tb(env, "case", "list")
    assert r.returncode == 0 and "No cases yet" in r.stdout and "takeback case new" in r.stdout
    env = {**env, "TZ": "UTC"}  # the computer's zone must not leak into a Hong Kong case's times
    ref = new_case(env, "-j", "HK", "--setting", "university", "--consent", "referral")
    # `pcpd` is the same channel as `hk-pcpd`, and a new referral is a draft until it is sent
    r = tb(env, "case", "refer", "--case", ref, "--to", "pcpd")
    assert r.returncode == 0, r.stderr
    assert "[hk-pcpd]: draft" in r.stdout and "--id 1 --status sent" in r.stdout
    # an HK removal request starts no clock, and says so instead of promising one
    r = tb(env, "case", "takedown", "--case", ref, "--url", "https://t.example/c/1", "--platform", "Telegram")
    assert r.returncode == 0, r.stderr
    assert "No removal clock started: Hong Kong law sets no deadline" in r.stdout and "due" not in r.stdout
    r = tb(
        env, "case", "takedown", "--case", ref, "--url", "https://r.example/p/2", "--under", "TAKE IT DOWN"
    )
    assert "clock us-tida-48h (TAKE IT DOWN removal) started: due" in r.stdout
    listing = tb(env, "case", "takedown", "--case", ref)
    show = tb(env, "case", "show", "--case", ref)
    for out in (listing.stdout, show.stdout):
        assert "None" not in out and "no response yet" in out
        stamps = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}( \w+)? \(UTC([+-]\d{2}:\d{2})\)", out)
        assert stamps and {z for z in stamps} == {(" HKT", "+08:00")}, out
    assert "[hk-pcpd]: draft" in show.stdout
    assert "opened " in (lst := tb(env, "case", "list").stdout) and "HKT (UTC+08:00)" in lst
    view = json.loads(tb(env, "case", "show", "--case", ref, "--json").stdout)
    assert view["referrals"][0]["to"] == "hk-pcpd" and view["referrals"][0]["status"] == "draft"
    t = view["takedowns"][0]
    assert t["sent"].endswith("HKT (UTC+08:00)") and t["sent_utc"].endswith("Z")
    assert view["created_utc"].endswith("Z") and view["deadlines"][0]["due_utc"].endswith("Z")
    # the notice alone on stdout (or in --out), the cover note apart
    r = tb(env, "case", "notice", "--case", ref, "--kind", "hk-pcpd")
    assert r.returncode == 0, r.stderr
    assert (
        "https://t.example/c/1" in r.stdout and "takeback" not in r.stdout and "legal advice" not in r.stdout
    )
    assert (
        "cover note for you" in r.stderr
        and f"takeback case refer --case {ref} --id 1 --status sent" in r.stderr
    )
    out = tmp_path / "pcpd.txt"
    r = tb(env, "case", "notice", "--case", ref, "--kind", "hk-pcpd", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "takeback" not in out.read_text(encoding="utf-8")
    cover = (tmp_path / "pcpd.cover-note.txt").read_text(encoding="utf-8")
    assert "do not send it" in cover and "legal information, not legal advice" in cover


def test_evidence_verify_receipt(env: dict[str, str], tmp_path: Path) -> None:
    """A portal receipt checked by the CLI: the original verifies, a one-pixel-changed copy does not."""
    import hashlib
    from datetime import UTC, datetime

    from takeback.evidence.receipts import issue_receipt
    from takeback.evidence.signing import Signer

    photo = tmp_path / "photo.png"
    photo.write_bytes(encode(synthetic_photo(64, 48, seed=3), "PNG"))
    data = photo.read_bytes()
    signer = Signer.load_or_create(Path(env["TAKEBACK_DATA_DIR"]))
    rec = issue_receipt(
        signer,
        case="TB-ABCD-EFGH",
        received_at=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        pdq=None,
    )
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(rec.to_json()))
    ok = tb(env, "evidence", "verify-receipt", str(receipt), str(photo), "--trusted-key", signer.key_id)
    assert ok.returncode == 0, ok.stderr
    assert "VERIFIED" in ok.stdout and "TB-ABCD-EFGH" in ok.stdout and "2026-11-30T08:00:00" in ok.stdout
    pixels = synthetic_photo(64, 48, seed=3)
    pixels[0, 0, 0] ^= 1
    changed = tmp_path / "changed.png"
    changed.write_bytes(encode(pixels, "PNG"))
    bad = tb(env, "evidence", "verify-receipt", str(receipt), str(changed), "--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["ok"] is False and "SHA-256" in json.loads(bad.stdout)["failure"]
    forged = rec.to_json() | {"case": "TB-ZZZZ-ZZZZ"}
    receipt.write_text(json.dumps(forged))
    assert tb(env, "evidence", "verify-receipt", str(receipt), str(photo)).returncode == 1


def test_timeline_and_bundle_of_a_portal_case_carry_what_she_did(env: dict[str, str], tmp_path: Path) -> None:
    """`evidence timeline` and `evidence bundle` of a case she opened on the portal show her hashes,
    her log and her encrypted files, as the console does."""
    import hashlib

    from takeback.cases import service as cs
    from takeback.portal import service as ps
    from takeback.store import open_database

    db = open_database(f"sqlite:///{tmp_path / 'data' / 'takeback.db'}")
    try:
        with db.session() as s:
            f = ps.SubmittedFile(
                kind="photo", sha256=hashlib.sha256(b"x").hexdigest(), md5=hashlib.md5(b"x").hexdigest()
            )
            ref = ps.submit(
                s,
                files=[f],
                block=False,
                contact=False,
                contact_detail=None,
                jurisdiction="HK",
                bank_name="PORTAL",
                share=True,
            ).reference
            ps.add_log_entry(
                s, case=cs.get_case(s, reference=ref), entry=ps.LogInput(kind="threat", platform="Telegram")
            )
    finally:
        db.dispose()
    r = tb(env, "evidence", "timeline", "--case", ref, "--json")
    assert r.returncode == 0, r.stderr
    events = json.loads(r.stdout)
    assert sorted(e["kind"] for e in events) == ["her log", "portal"]
    assert any(hashlib.sha256(b"x").hexdigest() in e["text"] for e in events)
    assert any("Telegram" in e["text"] for e in events)
    out = tmp_path / "b.zip"
    r = tb(env, "evidence", "bundle", "--case", ref, "-o", str(out))
    assert r.returncode == 0, r.stderr
    v = tb(env, "evidence", "verify", str(out))
    assert v.returncode == 0 and "2 records from the victim portal" in v.stdout, v.stdout
