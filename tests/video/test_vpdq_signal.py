"""The ``vpdq`` signal type: registry, text form, packing, bag comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from takeback.signals import REGISTRY, ContentType, IndexKind, SignalError, get_signal_type
from takeback.signals.vpdq import VpdqFrame, VpdqSignal, pack, parse_text, unpack
from tests.video.conftest import BankCache, reference_frames


def test_registered() -> None:
    signal = get_signal_type("VPDQ")
    assert isinstance(signal, VpdqSignal) and REGISTRY["vpdq"] is signal
    assert signal.content_types == frozenset({ContentType.VIDEO})
    assert signal.index_kind is IndexKind.HAMMING256 and signal.default_threshold == 20


def test_validate_and_format_round_trip() -> None:
    signal = get_signal_type("vpdq")
    for example in signal.examples:
        value = signal.validate(example)
        assert len(value) == 2 * signal.size
        assert signal.format(value) == example
    # one line per frame, or ';'-separated on one line (as typed in a form field)
    assert signal.validate(signal.examples[0].strip().replace("\n", ";")) == signal.validate(
        signal.examples[0]
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0,100,abc,0.0",
        "0,100," + "0" * 64,
        "0,101," + "0" * 64 + ",0.0",
        "x,100," + "0" * 64 + ",0.0",
        "-1,5," + "0" * 64 + ",1",
    ],
)
def test_validate_rejects_malformed(bad: str) -> None:
    with pytest.raises(SignalError) as err:
        get_signal_type("vpdq").validate(bad, field="vpdq")
    assert err.value.message.startswith("vpdq:")


def test_pack_unpack_keeps_millisecond_timestamps() -> None:
    frames = [VpdqFrame(i, 50 + i, bytes([i]) * 32, i / 30) for i in range(5)]
    back = unpack(pack(frames))
    assert [(f.number, f.quality, f.hash) for f in back] == [(f.number, f.quality, f.hash) for f in frames]
    assert all(abs(a.timestamp - b.timestamp) <= 0.0005 for a, b in zip(back, frames, strict=True))
    with pytest.raises(SignalError):
        unpack(b"x" * 40)


def test_distance_between_videos(video_data: Path, clips: BankCache) -> None:
    signal = get_signal_type("vpdq")
    chair = pack(reference_frames(video_data, "chair-orig-22-sd-bar"))
    grey = pack(reference_frames(video_data, "chair-22-sd-grey-bar"))
    doorknob = pack(reference_frames(video_data, "doorknob-hd-no-bar"))
    assert signal.distance(chair, chair) == 0
    assert signal.matches(chair, grey)  # the reference matches this pair, and so do we
    assert signal.distance(chair, doorknob) == 100
    assert not signal.matches(chair, doorknob)
    assert parse_text(signal.format(chair)) == reference_frames(video_data, "chair-orig-22-sd-bar")


def test_distance_counts_frames_hashed_inside_the_border(clips: BankCache) -> None:
    """A letterboxed copy and its original share no whole-frame hashes; the frames hashed inside the
    border (kept in the packed value) make them the same video, as the bank matcher sees them."""
    from takeback.signals.vpdq import pack_result

    signal = get_signal_type("vpdq")
    bordered = clips.get("pattern-sd-grey-bar", interval=1.0)
    plain = clips.get("pattern-hd-no-bar", interval=1.0)
    assert signal.distance(pack(bordered.frames), pack(plain.frames)) == 100  # whole frames only
    assert signal.distance(pack_result(bordered), pack_result(plain)) <= 30  # 29 measured: 1 frame/s
    assert signal.distance(pack_result(plain), pack_result(bordered)) == signal.distance(
        pack_result(bordered), pack_result(plain)
    )
