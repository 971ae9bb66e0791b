"""Notice drafting as one service (CLI and console) and the case's audit view: who saw what, when."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from takeback.cases import service as cs
from takeback.cases.models import Purpose, ReferralStatus, TakedownStatus
from takeback.cases.notices import NoticeKind
from takeback.evidence import service as ev
from takeback.evidence.signing import Signer
from takeback.reports.pdf import pdf_bytes
from takeback.reports.text import render_text
from takeback.store import Database
from tests.conftest import encode, synthetic_photo

SIGNER = Signer.generate()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _case(db: Database, tmp_path: Path, **kw: object) -> str:
    photo = tmp_path / "shot.png"
    photo.write_bytes(encode(synthetic_photo(200, 160, seed=5), "PNG"))
    with db.session() as s:
        c = cs.create_case(
            s,
            actor="staff:ana",
            jurisdiction=str(kw.pop("jurisdiction", "HK")),
            consents=(Purpose.HASHING, Purpose.REFERRAL),
            now=NOW,
            **kw,  # type: ignore[arg-type]
        )
        ev.add_file(
            s,
            case=c,
            path=photo,
            actor="staff:ana",
            signer=SIGNER,
            locker=None,
            capture_zone="Asia/Hong_Kong",
            platform="Forum",
            url="https://forum.example/t/9",
            now=NOW,
        )
        return c.reference


def test_draft_names_what_a_take_it_down_request_lacks_then_drafts_it(db: Database, tmp_path: Path) -> None:
    ref = _case(db, tmp_path, jurisdiction="US")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        d = ev.draft_notice(
            s, case=c, kind=NoticeKind.TAKE_IT_DOWN, actor="staff:ana", surface="console", now=NOW
        )
        assert d.notice is None and set(d.missing) == {"name", "signature", "contact"}
        assert d.problem and "signature" in d.problem
        assert "https://forum.example/t/9" in render_text(d.cover)  # the cover note still reads
        d = ev.draft_notice(
            s,
            case=c,
            kind=NoticeKind.TAKE_IT_DOWN,
            actor="staff:ana",
            surface="console",
            name="Chan Tai Man",
            signature="/s/ Chan Tai Man",
            contact="help@ngo.example",
            now=NOW,
        )
        assert d.notice is not None and d.missing == []
        cover = render_text(d.cover)
        assert "takeback case" not in cover and "case page" in cover  # the console's words, not commands
        with pytest.raises(cs.TextTooLongError):
            ev.draft_notice(s, case=c, kind=NoticeKind.TAKE_IT_DOWN, actor="x", relevant_info="i" * 5000)


def test_pcpd_draft_in_chinese_embeds_its_font(db: Database, tmp_path: Path) -> None:
    ref = _case(db, tmp_path)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        d = ev.draft_notice(s, case=c, kind=NoticeKind.HK_PCPD, actor="staff:ana", lang="zh-Hant", now=NOW)
        assert d.notice is not None and d.notice.lang == "zh-Hant"
        assert "私隱專員公署" in render_text(d.notice)
        pdf = pdf_bytes(d.notice)
        assert pdf.startswith(b"%PDF") and b"/FontFile" in pdf


def test_case_audit_is_the_case_and_its_rows_only_newest_first(db: Database, tmp_path: Path) -> None:
    ref = _case(db, tmp_path, jurisdiction="US")
    other = _case(db, tmp_path)
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        r = cs.add_referral(s, case=c, channel="ncmec", actor="staff:ana")
        cs.update_referral(s, case=c, referral_id=r.id, actor="staff:bo", status=ReferralStatus.SENT)
        t, _ = cs.add_takedown(s, case=c, url="https://x.example/1", actor="staff:ana", under="take-it-down")
        cs.update_takedown(s, case=c, takedown_id=t.id, status=TakedownStatus.REMOVED, actor="staff:ana")
        ev.record_view(s, case=c, actor="staff:bo", what="timeline")
        ev.draft_notice(s, case=c, kind=NoticeKind.TAKE_IT_DOWN, actor="staff:bo", now=NOW)
        o = cs.get_case(s, reference=other)
        ev.record_view(s, case=o, actor="staff:cy", what="case")
    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        rows = ev.case_audit(s, case=c)
        actions = [e.action for e in rows]
        assert set(actions) >= {
            "case.create",
            "consent.grant",
            "evidence.add",
            "referral.create",
            "referral.update",
            "takedown.create",
            "clock.start",
            "clock.stop",
            "takedown.update",
            "case.view.timeline",
            "notice.draft",
        }
        assert "staff:cy" not in {e.actor for e in rows}  # the other case's view is not here
        stamps = [(e.at, e.id) for e in rows]
        assert stamps == sorted(stamps, reverse=True)
        assert len(ev.case_audit(s, case=c, limit=3)) == 3


def test_case_audit_finds_rows_by_index_not_by_reading_details(db: Database, tmp_path: Path) -> None:
    """A log with many unrelated rows (lookups) does not slow a case's audit view."""
    from takeback.store import record_audit

    ref = _case(db, tmp_path)
    with db.session() as s:
        for i in range(20_000):
            record_audit(
                s, actor="api", action="lookup", object_type="lookup", object_id=None, details={"i": i}
            )
    import time

    with db.session() as s:
        c = cs.get_case(s, reference=ref)
        ev.case_audit(s, case=c)
        t0 = time.perf_counter()
        rows = ev.case_audit(s, case=c)
        took = time.perf_counter() - t0
    assert len(rows) == 4 and took < 0.05, took  # case, two consents, the item
