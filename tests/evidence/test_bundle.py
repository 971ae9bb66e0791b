"""Signed bundles: export, verify, a flipped byte in every member and every header, truncation, deletion."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pypdf
import pytest

from takeback.cases import service as cs
from takeback.cases.models import Purpose
from takeback.evidence import service as ev
from takeback.evidence.bundle import export_bundle, verify_bundle
from takeback.evidence.errors import EvidenceError
from takeback.evidence.locker import KdfParams, Locker
from takeback.evidence.signing import Signer
from takeback.store import Database
from tests.conftest import encode, synthetic_photo

SIGNER = Signer.generate()


@pytest.fixture
def locker(tmp_path: Path) -> Locker:
    return Locker.create(tmp_path / "locker", "correct horse battery", kdf=KdfParams.for_tests())


def make_case(db: Database, locker: Locker, tmp_path: Path, n: int = 2) -> str:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK", consents=(Purpose.HASHING, Purpose.REFERRAL))
        for i in range(n):
            p = tmp_path / f"shot{i}.png"
            p.write_bytes(encode(synthetic_photo(96, 64, seed=i), "PNG"))
            ev.add_file(
                s,
                case=c,
                path=p,
                actor="ana",
                signer=SIGNER,
                locker=locker,
                capture_zone="Asia/Hong_Kong",
                platform="LIHKG",
                account=f"user{i}",
                note="第一次發現",
            )
        cs.add_referral(s, case=c, channel="hk-pcpd", actor="ana", reference_number="PCPD-2026-0042")
        cs.add_takedown(s, case=c, url="https://forum.example/t/1", platform="LIHKG", actor="ana")
        return c.reference


@pytest.fixture
def bundle(db: Database, locker: Locker, tmp_path: Path) -> Path:
    ref = make_case(db, locker, tmp_path)
    out = tmp_path / "bundle.zip"
    res = export_bundle(
        db, reference=ref, out=out, signer=SIGNER, actor="ana", locker=locker, with_originals=True
    )
    assert (res.items, res.originals) == (2, 2)
    return out


def test_bundle_holds_everything_and_verifies(bundle: Path, db: Database) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        pdf = zf.read("summary.pdf")
        html = zf.read("summary.html").decode()
        custody = zf.read("custody.jsonl").decode().splitlines()
    assert names == [
        "originals/0001.png",
        "originals/0002.png",
        "custody.jsonl",
        "summary.html",
        "summary.pdf",
        "manifest.json",
        "manifest.sig",
    ]
    assert manifest["format"] == "takeback-evidence-bundle" and manifest["hashes_only"] is False
    item = manifest["items"][0]
    for key in (
        "sha256",
        "md5",
        "pdq",
        "captured_at",
        "capture_zone",
        "captured_by",
        "platform",
        "account",
        "record_sha256",
        "custody_seq",
        "file",
    ):
        assert key in item
    assert manifest["referrals"][0]["reference_number"] == "PCPD-2026-0042"
    # the summary a person reads shows times as people read them; the manifest keeps ISO 8601
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", html), "raw ISO time in the summary"
    assert manifest["takedowns"][0]["url"] == "https://forum.example/t/1"
    assert manifest["custody"]["entries"] == len(custody) == 2
    assert set(manifest["members"]) == {
        "originals/0001.png",
        "originals/0002.png",
        "custody.jsonl",
        "summary.html",
        "summary.pdf",
    }
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "not legal advice" in " ".join(text.split()) and "PCPD-2026-0042" in text
    assert item["sha256"] in html
    r = verify_bundle(bundle)
    assert r.ok, r.failure
    assert (r.items, r.originals, r.custody_entries, r.key) == (2, 2, 2, SIGNER.public)
    assert verify_bundle(bundle, trusted_key=SIGNER.key_id).ok
    assert verify_bundle(bundle, trusted_key=SIGNER.public.fingerprint).ok
    bad = verify_bundle(bundle, trusted_key=Signer.generate().key_id)
    assert bad.failure is not None and bad.failure.code == "untrusted_key"
    # the export itself is recorded in the case's custody log afterwards
    with db.session() as s:
        c = cs.get_case(s, reference=manifest["case"]["reference"])
        from takeback.evidence.custody import SqlCustodyStore

        last = list(SqlCustodyStore(s, c.custody_log_id).entries())[-1]
        assert (
            last.action == "bundle.exported" and last.details["custody_head"] == manifest["custody"]["head"]
        )


def member_ranges(path: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (local header offset, data start, data end) in the ZIP file."""
    out = {}
    data = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            off = info.header_offset
            name_len = int.from_bytes(data[off + 26 : off + 28], "little")
            extra_len = int.from_bytes(data[off + 28 : off + 30], "little")
            start = off + 30 + name_len + extra_len
            out[info.filename] = (off, start, start + info.compress_size)
    return out


def flipped(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x01
    return bytes(b)


def test_a_flipped_byte_in_every_member_is_detected_and_named(bundle: Path, tmp_path: Path) -> None:
    data = bundle.read_bytes()
    target = tmp_path / "m.zip"
    for name, (_hdr, start, end) in member_ranges(bundle).items():
        span = end - start
        offsets = sorted({start, start + span // 3, start + span // 2, start + 2 * span // 3, end - 1})
        for off in offsets:
            target.write_bytes(flipped(data, off))
            r = verify_bundle(target)
            assert not r.ok, (name, off)
            assert r.failure is not None
            # the member (or, for the manifest, its signature) is named
            assert r.failure.member in (name, "manifest.json", "manifest.sig"), (name, off, r.failure)


def test_a_flipped_byte_in_any_header_directory_or_signature_is_detected(
    bundle: Path, tmp_path: Path
) -> None:
    data = bundle.read_bytes()
    ranges = member_ranges(bundle)
    data_bytes = set()
    for _h, s, e in ranges.values():
        data_bytes.update(range(s, e))
    structural = [i for i in range(len(data)) if i not in data_bytes]
    assert len(structural) > 500  # local headers, central directory, end record, signature comment
    target = tmp_path / "m.zip"
    for off in structural:
        target.write_bytes(flipped(data, off))
        assert not verify_bundle(target).ok, off


def test_truncation_anywhere_is_detected(bundle: Path, tmp_path: Path) -> None:
    data = bundle.read_bytes()
    target = tmp_path / "t.zip"
    for cut in [1, 4, 30, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 22, len(data) - 1]:
        target.write_bytes(data[:cut])
        r = verify_bundle(target)
        assert not r.ok, cut
        assert r.failure is not None
    target.write_bytes(data[: len(data) // 2])
    r = verify_bundle(target)
    assert r.failure is not None and r.failure.code == "bundle_truncated"
    assert "truncated" in r.failure.message
    target.write_bytes(b"hello, not a zip")
    r = verify_bundle(target)
    assert r.failure is not None and r.failure.code == "bundle_not_zip"
    r = verify_bundle(tmp_path / "nope.zip")
    assert r.failure is not None and r.failure.code == "bundle_unreadable"


def test_replacing_an_original_and_fixing_the_manifest_still_fails(bundle: Path, tmp_path: Path) -> None:
    """Someone without the key rewrites a member and updates its hash: the manifest signature fails."""
    import hashlib

    with zipfile.ZipFile(bundle) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    members["originals/0001.png"] = encode(synthetic_photo(96, 64, seed=99), "PNG")
    manifest = json.loads(members["manifest.json"])
    manifest["members"]["originals/0001.png"]["sha256"] = hashlib.sha256(
        members["originals/0001.png"]
    ).hexdigest()
    manifest["members"]["originals/0001.png"]["size"] = len(members["originals/0001.png"])
    members["manifest.json"] = json.dumps(manifest).encode()
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    r = verify_bundle(forged)
    assert r.failure is not None and r.failure.code == "manifest_signature_invalid"
    # and an extra file slipped in is named
    extra = tmp_path / "extra.zip"
    data = bundle.read_bytes()
    extra.write_bytes(data)
    with zipfile.ZipFile(extra, "a") as zf:
        zf.writestr("originals/0003.png", b"planted")
    r = verify_bundle(extra)
    assert r.failure is not None and (r.failure.code, r.failure.member) == (
        "member_unexpected",
        "originals/0003.png",
    )


def test_hashes_only_bundle_has_no_originals_and_needs_no_passphrase(
    db: Database, locker: Locker, tmp_path: Path
) -> None:
    ref = make_case(db, locker, tmp_path, n=1)
    out = tmp_path / "h.zip"
    res = export_bundle(db, reference=ref, out=out, signer=SIGNER, actor="ana", locker=None, lang="zh-Hant")
    assert res.originals == 0
    with zipfile.ZipFile(out) as zf:
        assert not [n for n in zf.namelist() if n.startswith("originals/")]
        assert "此證據包只包含「指紋」" in zf.read("summary.html").decode()
    r = verify_bundle(out)
    assert r.ok and r.hashes_only is True
    with pytest.raises(EvidenceError) as err:
        export_bundle(
            db,
            reference=ref,
            out=tmp_path / "x.zip",
            signer=SIGNER,
            actor="ana",
            locker=None,
            with_originals=True,
        )
    assert err.value.code == "locker_needed"


def test_case_deleted_during_export_writes_nothing(db: Database, locker: Locker, tmp_path: Path) -> None:
    ref = make_case(db, locker, tmp_path, n=2)
    out = tmp_path / "gone.zip"

    def delete_midway(step: str) -> None:
        if step == "original 2":
            with db.session() as s:
                ev.delete_case(
                    s,
                    case=cs.get_case(s, reference=ref),
                    actor="victim",
                    signer=SIGNER,
                    remove_blob=ev.blob_remover(locker.root),
                )

    with pytest.raises(EvidenceError) as err:
        export_bundle(
            db,
            reference=ref,
            out=out,
            signer=SIGNER,
            actor="ana",
            locker=locker,
            with_originals=True,
            progress=delete_midway,
        )
    assert err.value.code == "case_deleted_during_export"
    assert not out.exists()
    assert not list(tmp_path.glob(".gone.zip.*"))


def test_case_deleted_during_a_hashes_only_export_writes_nothing(
    db: Database, locker: Locker, tmp_path: Path
) -> None:
    ref = make_case(db, locker, tmp_path, n=1)
    out = tmp_path / "gone.zip"

    def delete_at_summary(step: str) -> None:
        if step == "summary":
            with db.session() as s:
                ev.delete_case(
                    s, case=cs.get_case(s, reference=ref), actor="victim", signer=SIGNER, remove_blob=None
                )

    with pytest.raises(EvidenceError) as err:
        export_bundle(
            db,
            reference=ref,
            out=out,
            signer=SIGNER,
            actor="ana",
            progress=delete_at_summary,
        )
    assert err.value.code == "case_deleted_during_export"
    assert not out.exists()


def test_wrong_or_damaged_locker_aborts_the_export(db: Database, locker: Locker, tmp_path: Path) -> None:
    ref = make_case(db, locker, tmp_path, n=1)
    blob = next((locker.root / "blobs").rglob("*.tbe"))
    raw = bytearray(blob.read_bytes())
    raw[-5] ^= 0xFF
    blob.write_bytes(bytes(raw))
    out = tmp_path / "b.zip"
    with pytest.raises(EvidenceError) as err:
        export_bundle(
            db, reference=ref, out=out, signer=SIGNER, actor="ana", locker=locker, with_originals=True
        )
    assert err.value.code == "blob_corrupt"
    assert not out.exists()


@pytest.mark.slow
def test_every_single_byte_of_a_bundle(bundle: Path, tmp_path: Path, db: Database) -> None:
    if db.url.startswith("postgresql"):
        pytest.skip("the bundle's bytes do not depend on the database; one run is enough")
    data = bundle.read_bytes()
    target = tmp_path / "m.zip"
    for off in range(len(data)):
        target.write_bytes(flipped(data, off))
        assert not verify_bundle(target).ok, off


def _receipt_supplement(vouches_for: str, signer: Signer = SIGNER):
    """A supplement source with one record and its receipt, the receipt vouching for ``vouches_for``
    while the manifest names the record's own hash (a mismatch when they differ)."""
    import hashlib

    from takeback.clock import utcnow
    from takeback.evidence.bundle import Supplement
    from takeback.evidence.receipts import issue_receipt
    from takeback.reports.document import Heading

    own = hashlib.sha256(b"record").hexdigest()

    def source(_s: object, case: object, _lang: str) -> list[Supplement]:
        ref = case.reference  # type: ignore[attr-defined]
        r = issue_receipt(signer, case=ref, received_at=utcnow(), sha256=vouches_for, md5="0" * 32, pdq=None)
        data = json.dumps(r.to_json()).encode()
        return [
            Supplement(
                key="extra",
                records={"rows": [{"sha256": own}]},
                files={"r.json": data},
                receipts={"r.json": own},
                blocks=(Heading("Extra records"),),
            )
        ]

    return source, own


def test_supplement_records_and_receipts_verify(db: Database, locker: Locker, tmp_path: Path) -> None:
    ref = make_case(db, locker, tmp_path, n=1)
    import hashlib

    source, _own = _receipt_supplement(hashlib.sha256(b"record").hexdigest())
    out = tmp_path / "b.zip"
    export_bundle(db, reference=ref, out=out, signer=SIGNER, actor="ana", supplements=source)
    report = verify_bundle(out)
    assert report.ok, report.failure
    assert report.supplements == {"extra": 1}
    with zipfile.ZipFile(out) as zf:
        assert "extra/r.json" in zf.namelist()
        assert "Extra records" in zf.read("summary.html").decode()


@pytest.mark.parametrize("case", ["other-hash", "other-key"])
def test_a_receipt_for_another_file_or_key_fails_verification(
    db: Database, locker: Locker, tmp_path: Path, case: str
) -> None:
    import hashlib

    ref = make_case(db, locker, tmp_path, n=1)
    if case == "other-hash":
        source, _ = _receipt_supplement(hashlib.sha256(b"something else").hexdigest())
    else:
        source, _ = _receipt_supplement(hashlib.sha256(b"record").hexdigest(), signer=Signer.generate())
    out = tmp_path / "b.zip"
    export_bundle(db, reference=ref, out=out, signer=SIGNER, actor="ana", supplements=source)
    report = verify_bundle(out)
    assert not report.ok and report.failure is not None
    assert report.failure.code == "receipt_invalid" and report.failure.member == "extra/r.json"
