"""Videos in banks: ``vpdq`` entries, the video matcher following the change log and bank rules,
and ``takeback bank add`` / ``takeback match`` with videos, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from takeback.banks import service as banks
from takeback.matching.video import MatchKind
from takeback.matching.video_banks import VideoMatcher, status_of
from takeback.signals import SignalError, SignalValue, get_signal_type
from takeback.signals.vpdq import pack_result, unpack_result
from takeback.store import Database
from tests.banks.helpers import Cli, cli, jsonl
from tests.video.conftest import BankCache, cut_clip, write_video

__all__ = ["cli"]

ACTOR = "tester"


def _entry(clips: BankCache, name: str, note: str | None = None) -> banks.NewContent:
    return banks.NewContent(signals=(SignalValue("vpdq", pack_result(clips.get(name))),), note=note)


def _add(db: Database, bank: str, *entries: banks.NewContent) -> list[int]:
    outcomes = db.run(lambda s: banks.add_contents(s, bank_name=bank, entries=list(entries), actor=ACTOR))
    return [o.content_id or 0 for o in outcomes]


def test_pack_result_round_trips(clips: BankCache) -> None:
    r = clips.get("pattern-sd-grey-bar")
    packed = pack_result(r)
    frames, cropped, duration = unpack_result(packed)
    assert [f.hash for f in frames] == [f.hash for f in r.frames] and len(cropped) == len(r.cropped) > 0
    assert duration == pytest.approx(r.duration_s, abs=0.001)
    # Hex of the packed value is the lossless edge form (exports); validate takes it back exactly.
    signal = get_signal_type("vpdq")
    assert signal.validate(packed.hex().upper()) == packed
    with pytest.raises(SignalError):
        signal.validate(packed.hex()[:-2])
    with pytest.raises(SignalError):
        signal.validate("ab" * 41)  # quality byte 0xab: not a frame record


def test_video_matcher_follows_the_banks(db: Database, clips: BankCache) -> None:
    db.run(lambda s: banks.create_bank(s, name="known", actor=ACTOR))
    chair, pattern = _add(
        db, "known", _entry(clips, "chair-orig-22-sd-bar", "chair"), _entry(clips, "pattern-hd-no-bar")
    )
    matcher = VideoMatcher(db)
    found = matcher.match(clips.get("chair-19-sd-bar", interval=1.0))
    assert [(m.bank, m.content_id, m.kind) for m in found] == [("known", chair, MatchKind.MATCH)]
    assert found[0].note == "chair" and status_of(found) == "match"
    assert "85%" in found[0].explain() or "84%" in found[0].explain()
    (p,) = matcher.match(clips.get("pattern-sd-grey-bar", interval=1.0))
    assert p.content_id == pattern and p.kind is MatchKind.MATCH
    assert matcher.match(clips.get("doorknob-hd-no-bar", interval=1.0)) == []
    assert status_of([]) == "no_match"

    # A disabled entry stops matching at once; removing it drops it from the index via the change log.
    db.run(
        lambda s: banks.set_contents_enabled(
            s, bank_name="known", content_ids=[chair], enabled=False, actor=ACTOR
        )
    )
    assert matcher.match(clips.get("chair-19-sd-bar", interval=1.0)) == []
    db.run(lambda s: banks.remove_contents(s, bank_name="known", content_ids=[chair], actor=ACTOR))
    assert matcher.match(clips.get("chair-19-sd-bar", interval=1.0)) == []
    assert len(matcher) == 1
    # Added back (a new entry): found again without rebuilding anything by hand.
    (again,) = _add(db, "known", _entry(clips, "chair-orig-22-sd-bar"))
    (m,) = matcher.match(clips.get("chair-22-sd-grey-bar", interval=1.0))
    assert m.content_id == again and len(matcher) == 2
    # A duplicate video (identical fingerprint) is refused as such.
    (dup,) = db.run(
        lambda s: banks.add_contents(
            s, bank_name="known", entries=[_entry(clips, "chair-orig-22-sd-bar")], actor=ACTOR
        )
    )
    assert not dup.added and dup.duplicate_of == again


def test_bank_rules_apply_to_videos(db: Database, clips: BankCache) -> None:
    db.run(lambda s: banks.create_bank(s, name="strict", actor=ACTOR, pdq_threshold=4))
    db.run(lambda s: banks.create_bank(s, name="known", actor=ACTOR))
    db.run(lambda s: banks.create_bank(s, name="benign", actor=ACTOR, allow_list=True))
    (strict,) = _add(db, "strict", _entry(clips, "chair-orig-22-sd-bar"))
    matcher = VideoMatcher(db)
    query = clips.get("chair-22-sd-grey-bar", interval=1.0)
    # The bank's own PDQ threshold is the frame distance: at 4 bits a greyed re-encode barely matches.
    found = matcher.match(query)
    assert all(m.kind is not MatchKind.MATCH for m in found) and all(m.threshold == 4 for m in found)
    (pattern,) = _add(db, "known", _entry(clips, "pattern-hd-no-bar"))
    assert [
        m.content_id for m in matcher.match(clips.get("pattern-sd-grey-bar", interval=1.0), banks=["known"])
    ] == [pattern]
    assert matcher.match(query, banks=["known"]) == []  # --bank limits the search
    with pytest.raises(banks.BankError):
        matcher.match(query, banks=["nope"])
    # An allow-listed copy suppresses the other banks' matches and says which entry did.
    (benign,) = _add(db, "benign", _entry(clips, "pattern-hd-no-bar"))
    found = matcher.match(clips.get("pattern-sd-grey-bar", interval=1.0))
    blocking = [m for m in found if not m.allow_list]
    assert blocking and all((m.suppressed_by or ())[:2] == ("benign", benign) for m in blocking)
    assert status_of(found) == "allow_listed"
    # A disabled bank stops matching.
    db.run(lambda s: banks.set_bank_enabled(s, name="known", enabled=False, actor=ACTOR))
    assert {m.bank for m in matcher.match(clips.get("pattern-sd-grey-bar", interval=1.0))} == {"benign"}
    assert strict


def test_bank_add_and_match_videos_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    original = write_video(tmp_path / "original.mp4", seconds=12, fps=25)
    shared = cut_clip(
        original, tmp_path / "shared-clip.mp4", start=4.2, seconds=5, width=240, height=180, crf=30
    )
    other = write_video(tmp_path / "other.webm", seconds=4, codec="libvpx-vp9", frame=_other)
    assert cli("bank", "create", "known").exit_code == 0
    r = cli("bank", "add", "known", str(original), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 0, r.stderr
    (added,) = jsonl(r.stdout)
    assert added["status"] == "added"
    r = cli("match", str(shared), str(other), str(original), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 0, r.stderr
    recs = {Path(x["input"]).name: x for x in jsonl(r.stdout)}
    clip = recs["shared-clip.mp4"]
    assert clip["status"] == "match" and clip["md5"] and clip["matches"] == []  # not the same bytes
    (vm,) = clip["video"]["matches"]
    assert vm["kind"] == "clip" and vm["content_id"] == added["content_id"] and vm["query_share"] >= 0.9
    assert 0.3 <= vm["coverage"] <= 0.6 and 3.0 <= vm["video_span"][0] <= 5.0
    assert recs["other.webm"]["status"] == "no_match" and recs["other.webm"]["video"]["matches"] == []
    same = recs["original.mp4"]
    assert {m["signal_type"] for m in same["matches"]} == {"md5", "sha256"}  # the very same file
    assert same["video"]["status"] == "match"
    table = cli("match", str(shared), "-j", "1", "-f", "table")
    assert "VIDEO CLIP" in table.stdout and "of the banked video" in table.stdout


def _other(t: float, w: int, h: int):  # type: ignore[no-untyped-def]
    from tests.video.conftest import scene_frame

    return scene_frame(t + 1000.0, w, h)  # scenes the original never shows
