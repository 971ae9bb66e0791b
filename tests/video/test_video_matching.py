"""Video matching on the sample clips: banks store every distinct frame, queries sample 1 frame/s.

Bank: ``chair-orig-22-sd-bar`` and ``pattern-hd-no-bar``. Measured here (default settings): the
trimmed, greyed and re-encoded chair copies match the chair entry with 100 % of their frames; the
pattern copy with grey bars matches only after border removal (0 % without); the doorknob clip
matches nothing; the logo-covered chair copy (a known hard case) shares 9-14 % of its frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from takeback.index import PdqIndex
from takeback.matching.video import FrameTable, MatchKind, VideoIndex, match_video
from takeback.signals.vpdq import VpdqOptions, vpdq_from_video
from tests.video.conftest import BankCache, cut_clip

CHAIR, PATTERN = 1, 2


@pytest.fixture(scope="module")
def bank(clips: BankCache) -> VideoIndex:
    index = VideoIndex()
    index.add(CHAIR, clips.get("chair-orig-22-sd-bar"))
    index.add(PATTERN, clips.get("pattern-hd-no-bar"))
    return index


@pytest.mark.parametrize("name", ["chair-19-sd-bar", "chair-22-sd-grey-bar", "chair-orig-22-sd-bar"])
def test_chair_copies_match_the_chair_entry(bank: VideoIndex, clips: BankCache, name: str) -> None:
    matches = bank.match(clips.get(name, interval=1.0))
    assert [m.video_id for m in matches] == [CHAIR]
    m = matches[0]
    assert m.kind is MatchKind.MATCH, m
    assert m.query_share >= 0.95
    assert m.coverage >= 0.8


def test_trimmed_copy_covers_its_share_of_the_original(bank: VideoIndex, clips: BankCache) -> None:
    # chair-19 is 18.8 s of the 22.4 s original: coverage says so.
    (m,) = bank.match(clips.get("chair-19-sd-bar", interval=1.0))
    assert 0.8 <= m.coverage <= 0.9


def test_reencoded_five_second_clip_matches_as_a_clip(
    bank: VideoIndex, video_data: Path, tmp_path: Path
) -> None:
    clip = cut_clip(
        video_data / "chair-orig-22-sd-bar.mp4",
        tmp_path / "clip.mp4",
        start=7.5,
        seconds=5,
        width=320,
        height=480,
        crf=32,
    )
    result = vpdq_from_video(clip)
    assert 4.9 <= result.duration_s <= 5.1
    (m,) = bank.match(result)
    assert m.video_id == CHAIR
    assert m.kind is MatchKind.CLIP  # all of the clip is in the video; most of the video is not in the clip
    assert m.query_share == 1.0
    assert 0.15 <= m.coverage <= 0.3
    assert m.video_span[0] >= 6.5 and m.video_span[1] <= 13.5  # where in the original it came from


def test_grey_bars_need_border_removal(bank: VideoIndex, clips: BankCache) -> None:
    matches = bank.match(clips.get("pattern-sd-grey-bar", interval=1.0))
    assert [m.video_id for m in matches] == [PATTERN]
    assert matches[0].kind is MatchKind.MATCH and matches[0].query_share >= 0.95
    # The same pair without border removal: the reference vPDQ's result.
    plain = VideoIndex()
    plain.add(PATTERN, clips.get("pattern-hd-no-bar", borders=False))
    assert plain.match(clips.get("pattern-sd-grey-bar", interval=1.0, borders=False)) == []


def test_unrelated_video_matches_nothing(bank: VideoIndex, clips: BankCache) -> None:
    assert bank.match(clips.get("doorknob-hd-no-bar", interval=1.0)) == []
    assert bank.match(clips.get("doorknob-hd-no-bar", interval=0.0)) == []


def test_chair_never_matches_pattern(bank: VideoIndex, clips: BankCache) -> None:
    for name in (
        "chair-19-sd-bar",
        "chair-22-sd-grey-bar",
        "chair-22-with-large-logo-bar",
        "chair-orig-22-sd-bar",
    ):
        assert PATTERN not in {m.video_id for m in bank.match(clips.get(name, interval=1.0))}
    for interval in (1.0, 0.0):  # every distinct frame of the pattern copy too: not one chair frame
        assert CHAIR not in {
            m.video_id for m in bank.match(clips.get("pattern-sd-grey-bar", interval=interval))
        }


def test_large_logo_is_reported_with_its_score(bank: VideoIndex, clips: BankCache) -> None:
    """Known hard case: a logo covers much of each frame. Reported as partial, never as a match."""
    (m,) = bank.match(clips.get("chair-22-with-large-logo-bar", interval=1.0))
    print(f"chair-22-with-large-logo-bar: query share {m.query_share:.0%}, coverage {m.coverage:.0%}")
    assert m.video_id == CHAIR and m.kind is MatchKind.PARTIAL
    assert 0.0 < m.query_share < 0.5


def test_match_with_own_ids_and_thresholds(clips: BankCache) -> None:
    """The banks layer keys frames by its own row ids: FrameTable maps them back to videos."""
    bank_side = clips.get("chair-orig-22-sd-bar")
    frames = [f for f in bank_side.frames if f.quality >= 50]
    ids = [10_000 + 7 * i for i in range(len(frames))]
    index, table = PdqIndex(), FrameTable()
    index.add(ids, [f.hash for f in frames])
    table.add(42, frames=frames, ids=ids, duration_s=bank_side.duration_s)
    q = clips.get("chair-19-sd-bar", interval=1.0)
    (m,) = match_video(q, index=index, table=table)
    assert m.video_id == 42 and m.kind is MatchKind.MATCH
    (strict,) = match_video(q, index=index, table=table, coverage=0.9)
    assert strict.kind is MatchKind.CLIP  # 84 % of the original is in the trimmed copy
    # Removing the video removes every frame from the table.
    index.remove(table.remove(42))
    assert match_video(q, index=index, table=table) == []


def test_query_sampling_rate_does_not_matter(bank: VideoIndex, clips: BankCache) -> None:
    """Why banks keep every distinct frame: queries at any rate or phase find their frames."""
    for interval in (0.5, 2.0):
        opts = VpdqOptions(interval=interval)
        result = vpdq_from_video(clips.root / "chair-19-sd-bar.mp4", options=opts)
        (m,) = bank.match(result)
        assert m.video_id == CHAIR and m.kind is MatchKind.MATCH, (interval, m)
