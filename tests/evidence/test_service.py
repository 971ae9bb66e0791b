"""Evidence capture on SQLite and PostgreSQL: fingerprints, locker, custody, consent, minors, URL capture."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from takeback.cases import service as cs
from takeback.cases.models import Purpose
from takeback.errors import TakebackError
from takeback.evidence import service as ev
from takeback.evidence.custody import SqlCustodyStore
from takeback.evidence.errors import EvidenceError
from takeback.evidence.locker import KdfParams, Locker
from takeback.evidence.signing import Signer
from takeback.guidance.situation import VictimAge
from takeback.net.fetch import FetchPolicy
from takeback.signals.fingerprint import fingerprint_file
from takeback.store import AuditEvent, Database
from tests.conftest import encode, synthetic_photo

SIGNER = Signer.generate()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def locker(tmp_path: Path) -> Locker:
    return Locker.create(tmp_path / "locker", "correct horse battery", kdf=KdfParams.for_tests())


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    p = tmp_path / "screenshot.jpg"
    p.write_bytes(encode(synthetic_photo(320, 240, seed=3), "JPEG", quality=90))
    return p


def new_case(db: Database, **kw: object) -> str:
    with db.session() as s:
        c = cs.create_case(
            s, actor="ana", jurisdiction=str(kw.pop("jurisdiction", "HK")), consents=(Purpose.HASHING,), **kw
        )  # type: ignore[arg-type]
        return c.reference


def test_capture_fingerprints_encrypts_and_seals_in_custody(
    db: Database, locker: Locker, photo: Path, tmp_path: Path
) -> None:
    ref = new_case(db)
    posted = datetime(2026, 3, 1, 14, 10, tzinfo=UTC)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        it = ev.add_file(
            s,
            case=c,
            path=photo,
            actor="ana",
            signer=SIGNER,
            locker=locker,
            capture_zone="Asia/Hong_Kong",
            platform="Telegram",
            account="@bad",
            posted_at=posted,
            note="channel post",
            now=NOW,
        )
        item_id = it.id
    fp = fingerprint_file(photo)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        (it,) = ev.list_items(s, case=c)
        assert (it.sha256, it.md5, it.pdq, it.size) == (
            fp.hex("sha256"),
            fp.hex("md5"),
            fp.hex("pdq"),
            fp.size,
        )
        assert it.stored and it.blob_id and it.pdq_quality and it.pdq_quality >= 50
        assert (it.capture_zone, it.captured_by, it.original_name) == (
            "Asia/Hong_Kong",
            "ana",
            "screenshot.jpg",
        )
        assert it.captured_at.replace(tzinfo=UTC) == NOW
        (entry,) = SqlCustodyStore(s, c.custody_log_id).entries()
        assert (entry.action, entry.subject, entry.seq) == (
            "evidence.added",
            f"item:{item_id}",
            it.custody_seq,
        )
        assert (
            entry.details["sha256"] == fp.hex("sha256") and entry.details["record_sha256"] == it.record_sha256
        )
        assert (
            "@bad" not in entry.to_line() and "channel post" not in entry.to_line()
        )  # no free text in custody
        v = ev.verify_case(s, case=c)
        assert (v.ok, v.items_checked, v.custody.count) == (True, 1, 1)
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "evidence.add")).one()
        assert "@bad" not in str(audit.details)
    out = tmp_path / "back.jpg"
    Locker.open(locker.root, "correct horse battery").decrypt_to(
        it.blob_id, out, expected_sha256=fp.hex("sha256")
    )
    assert out.read_bytes() == photo.read_bytes()


def test_a_changed_record_is_caught_by_case_verification(db: Database, photo: Path) -> None:
    ref = new_case(db)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        ev.add_file(s, case=c, path=photo, actor="ana", signer=SIGNER, locker=None, capture_zone="UTC")
    with db.session() as s:
        s.execute(text("UPDATE evidence_item SET account = '@someone_else'"))
    with db.session() as s:
        v = ev.verify_case(s, case=cs.get_case(s, reference=ref))
        assert not v.ok and v.failure == "evidence item 1 was changed after capture"


def test_hash_only_keeps_no_original(db: Database, photo: Path, locker: Locker) -> None:
    ref = new_case(db)
    with db.session() as s:
        it = ev.add_file(
            s,
            case=cs.get_case(s, reference=ref),
            path=photo,
            actor="ana",
            signer=SIGNER,
            locker=None,
            capture_zone="UTC",
        )
        assert (it.stored, it.blob_id) == (False, None)
    assert not list((locker.root / "blobs").rglob("*.tbe")) if (locker.root / "blobs").exists() else True


def test_capture_needs_hashing_consent(db: Database, photo: Path) -> None:
    with db.session() as s:
        c = cs.create_case(s, actor="ana", jurisdiction="HK")
        with pytest.raises(TakebackError) as err:
            ev.add_file(s, case=c, path=photo, actor="ana", signer=SIGNER, locker=None, capture_zone="UTC")
        assert err.value.code == "consent_required"


def test_minor_case_refuses_to_store_images_and_never_fetches(
    db: Database, photo: Path, locker: Locker
) -> None:
    ref = new_case(db, victim_age=VictimAge.MINOR)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        with pytest.raises(EvidenceError) as err:
            ev.add_file(s, case=c, path=photo, actor="ana", signer=SIGNER, locker=locker, capture_zone="UTC")
        assert err.value.code == "minor_images_refused"
        it = ev.add_file(s, case=c, path=photo, actor="ana", signer=SIGNER, locker=None, capture_zone="UTC")
        assert not it.stored
        # a URL is recorded, never downloaded (the address would not even be reachable)
        u = ev.add_url(
            s,
            case=c,
            url="https://example.invalid/x.jpg",
            actor="ana",
            signer=SIGNER,
            locker=locker,
            capture_zone="UTC",
        )
        assert (u.kind, u.sha256, u.stored) == ("url", None, False)


def test_bad_files_are_clear_errors_and_non_images_are_still_hashed(db: Database, tmp_path: Path) -> None:
    ref = new_case(db)
    doc = tmp_path / "chat.txt"
    doc.write_text("threat: pay or I post it")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        with pytest.raises(EvidenceError) as err:
            ev.add_file(
                s,
                case=c,
                path=tmp_path / "missing.jpg",
                actor="a",
                signer=SIGNER,
                locker=None,
                capture_zone="UTC",
            )
        assert err.value.code == "not_found"
        (tmp_path / "empty.jpg").write_bytes(b"")
        with pytest.raises(EvidenceError) as err:
            ev.add_file(
                s,
                case=c,
                path=tmp_path / "empty.jpg",
                actor="a",
                signer=SIGNER,
                locker=None,
                capture_zone="UTC",
            )
        assert err.value.code == "empty_file"
        it = ev.add_file(s, case=c, path=doc, actor="a", signer=SIGNER, locker=None, capture_zone="UTC")
        assert it.sha256 and it.pdq is None and it.fingerprint_error["code"] == "unsupported_type"  # type: ignore[index]


def test_file_changing_during_capture_is_refused(
    db: Database, photo: Path, locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = new_case(db)
    real = locker.store_file

    def store_after_edit(path: Path):  # type: ignore[no-untyped-def]
        with open(path, "ab") as fh:
            fh.write(b"appended while capturing")
        return real(path)

    monkeypatch.setattr(locker, "store_file", store_after_edit)
    with db.session() as s, pytest.raises(EvidenceError) as err:
        ev.add_file(
            s,
            case=cs.get_case(s, reference=ref),
            path=photo,
            actor="a",
            signer=SIGNER,
            locker=locker,
            capture_zone="UTC",
        )
    assert err.value.code == "file_changed"
    assert not list((locker.root / "blobs").rglob("*.tbe"))


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(photo: Path) -> Iterator[str]:
    _Handler.body = photo.read_bytes()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/post/1.jpg"
    srv.shutdown()
    srv.server_close()


def test_url_capture_fetches_safely_and_records_the_fetch(
    db: Database, server: str, photo: Path, locker: Locker
) -> None:
    ref = new_case(db)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        # the default policy refuses a loopback address, as it must
        with pytest.raises(TakebackError) as err:
            ev.add_url(s, case=c, url=server, actor="a", signer=SIGNER, locker=locker, capture_zone="UTC")
        assert err.value.code == "blocked_address"
        it = ev.add_url(
            s,
            case=c,
            url=server,
            actor="a",
            signer=SIGNER,
            locker=locker,
            capture_zone="UTC",
            policy=FetchPolicy(allow_loopback=True),
            platform="Forum",
        )
        assert (it.kind, it.url, it.sha256, it.stored) == (
            "url",
            server,
            fingerprint_file(photo).hex("sha256"),
            True,
        )
        assert it.fetch is not None and it.fetch["status"] == 200 and it.fetch["peer"] == "127.0.0.1"
        assert it.pdq is not None
        link = ev.add_url(
            s,
            case=c,
            url=server,
            actor="a",
            signer=SIGNER,
            locker=None,
            capture_zone="UTC",
            fetch_content=False,
        )
        assert (link.sha256, link.stored) == (None, False)


def test_timeline_orders_postings_captures_reports_and_replies(db: Database, photo: Path) -> None:
    from takeback.cases.models import TakedownStatus

    ref = new_case(db, jurisdiction="US")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        cs.grant_consent(s, case=c, purpose=Purpose.REFERRAL, actor="a")
        ev.add_file(
            s,
            case=c,
            path=photo,
            actor="a",
            signer=SIGNER,
            locker=None,
            capture_zone="UTC",
            posted_at=datetime(2026, 6, 1, 8, 0, tzinfo=UTC),
            account="@x",
            platform="Site",
            now=datetime(2026, 6, 2, 9, 0, tzinfo=UTC),
        )
        cs.add_referral(
            s,
            case=c,
            channel="us-ftc",
            actor="a",
            sent_at=datetime(2026, 6, 5, tzinfo=UTC),
            reference_number="FTC-77",
        )
        t, _ = cs.add_takedown(
            s,
            case=c,
            url="https://site.example/p/1",
            platform="Site",
            actor="a",
            sent_at=datetime(2026, 6, 2, 10, 0, tzinfo=UTC),
            reference_number="T-1",
        )
        cs.update_takedown(
            s,
            case=c,
            takedown_id=t.id,
            status=TakedownStatus.REMOVED,
            actor="a",
            at=datetime(2026, 6, 3, 22, 0, tzinfo=UTC),
        )
        events = ev.timeline(s, case=c)
    assert [e.kind for e in events] == ["posted", "captured", "takedown", "removed", "referral"]
    assert [e.reference for e in events] == ["item 1", "item 1", "T-1", "T-1", "FTC-77"]
    assert events[3].text.startswith("Removed after 36.0 h")


def test_timeline_names_the_channel_and_never_calls_a_draft_referred(db: Database) -> None:
    ref = new_case(db, jurisdiction="HK")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        cs.grant_consent(s, case=c, purpose=Purpose.REFERRAL, actor="a")
        cs.add_referral(s, case=c, channel="hk-pcpd", actor="a")
        cs.add_referral(s, case=c, channel="us-ftc", actor="a", sent_at=datetime(2026, 6, 5, tzinfo=UTC))
        texts = sorted(e.text for e in ev.timeline(s, case=c) if e.kind == "referral")
    assert texts[0].startswith("Referral to Office of the Privacy Commissioner"), texts
    assert texts[0].endswith("[hk-pcpd] draft (not sent yet)"), texts
    assert texts[1].startswith("Referred to ") and "[us-ftc]" in texts[1], texts
    assert texts[1].endswith("(sent)"), texts


def test_delete_case_erases_originals(db: Database, photo: Path, locker: Locker) -> None:
    ref = new_case(db)
    with db.session() as s:
        it = ev.add_file(
            s,
            case=cs.get_case(s, reference=ref),
            path=photo,
            actor="a",
            signer=SIGNER,
            locker=locker,
            capture_zone="UTC",
        )
        blob = locker.blob_path(it.blob_id or "")
    assert blob.exists()
    with db.session() as s:
        n = ev.delete_case(
            s,
            case=cs.get_case(s, reference=ref),
            actor="a",
            signer=SIGNER,
            remove_blob=ev.blob_remover(locker.root),
        )
    assert n == 1 and not blob.exists()
    with db.session() as s:
        tomb = cs.get_case(s, reference=ref, include_deleted=True)
        assert ev.list_items(s, case=tomb) == []
        entries = list(SqlCustodyStore(s, tomb.custody_log_id).entries())
        assert [e.action for e in entries] == ["evidence.added", "case.deleted"]
        with pytest.raises(EvidenceError) as err:
            ev.add_file(s, case=tomb, path=photo, actor="a", signer=SIGNER, locker=None, capture_zone="UTC")
        assert err.value.code == "case_deleted"


def test_a_notice_covers_evidence_links_with_no_request_yet(db: Database, photo: Path) -> None:
    """Evidence stands above cases, so a notice takes the case's evidence from evidence's service."""
    from takeback.cases.notices import NoticeKind, notice_facts

    ref = new_case(db)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        for url, platform in (("https://t.example/c/9", "Telegram"), ("https://l.example/t/2", "LIHKG")):
            ev.add_file(
                s, case=c, path=photo, actor="a", signer=SIGNER, locker=None, capture_zone="UTC",
                url=url, platform=platform, now=NOW,
            )  # fmt: skip
        ev.add_file(s, case=c, path=photo, actor="a", signer=SIGNER, locker=None, capture_zone="UTC", now=NOW)
        cs.add_takedown(
            s, case=c, url="https://l.example/t/2", platform="LIHKG", actor="a", sent_at=NOW, now=NOW
        )
        evidence = ev.notice_evidence(s, case=c)
        assert [(i.url, i.platform) for i in evidence] == [
            ("https://t.example/c/9", "Telegram"),
            ("https://l.example/t/2", "LIHKG"),
            (None, None),
        ]
        f = notice_facts(s, case=c, kind=NoticeKind.TAKE_IT_DOWN, evidence=evidence, now=NOW)
    # the takedown's link first, then the evidence link no request covers yet; every item's hash is named
    assert f.urls == ["https://l.example/t/2", "https://t.example/c/9"]
    assert [i["url"] for i in f.items] == ["https://t.example/c/9", "https://l.example/t/2", None]
    assert all(i["sha256"] for i in f.items)
