"""PDQ properties and agreement with Meta's C++ reference (the ``pdqhash`` package, when installed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from takeback.signals import REGISTRY, SignalError, get_signal_type
from takeback.signals.pdq import PdqSignal, hamming, pdq_from_luma
from tests.conftest import synthetic_photo


def _reference(rgb: np.ndarray) -> tuple[str, int]:
    pdqhash = pytest.importorskip("pdqhash")
    bits, quality = pdqhash.compute(rgb)
    return "{:064x}".format(int("".join(str(int(b)) for b in bits), 2)), int(quality)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


@pytest.mark.parametrize(("w", "h"), [(640, 480), (1001, 333), (64, 64), (127, 2000), (40, 50), (4032, 3024)])
def test_matches_reference_implementation(w: int, h: int) -> None:
    rgb = synthetic_photo(w, h, seed=w + h)
    ref, ref_q = _reference(rgb)
    got = pdq_from_luma(_luma(rgb))
    assert hamming(bytes.fromhex(ref), got.hash) <= 2
    assert abs(got.quality - ref_q) <= 1


def test_dihedral_matches_reference() -> None:
    pdqhash = pytest.importorskip("pdqhash")
    rgb = synthetic_photo(500, 300, seed=3)
    ref_bits, _ = pdqhash.compute_dihedral(rgb)
    got = pdq_from_luma(_luma(rgb), dihedral=True)
    assert got.dihedral is not None
    for mine, theirs in zip(got.dihedral, ref_bits, strict=True):
        ref = int("".join(str(int(b)) for b in theirs), 2).to_bytes(32, "big")
        assert hamming(mine, ref) <= 2


def test_tiny_images_hash_to_zero_with_quality_zero() -> None:
    got = pdq_from_luma(np.full((4, 100), 128, np.uint8))
    assert got.hash == bytes(32) and got.quality == 0 and got.low_quality


def test_flat_image_is_low_quality_but_still_hashed() -> None:
    got = pdq_from_luma(np.full((200, 200), 77, np.uint8))
    assert got.quality == 0 and got.low_quality
    assert len(got.hash) == 32


@settings(max_examples=25, deadline=None)
@given(st.integers(5, 300), st.integers(5, 300), st.integers(0, 2**31))
def test_half_the_bits_are_set_on_detailed_images(w: int, h: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    got = pdq_from_luma(rng.integers(0, 256, (h, w), dtype=np.uint8))
    ones = int.from_bytes(got.hash, "big").bit_count()
    assert 0 < ones <= 128  # strictly greater than the median: never more than half


def test_hash_invariant_to_brightness_scaling() -> None:
    luma = synthetic_photo(300, 200, seed=9)[..., 1].astype(np.float32)
    a = pdq_from_luma(luma)
    b = pdq_from_luma(luma * 0.5 + 20)
    assert hamming(a.hash, b.hash) <= 2


def test_signal_registry_and_validation() -> None:
    pdq = get_signal_type("PDQ")
    assert isinstance(pdq, PdqSignal) and pdq.default_threshold == 31
    assert set(REGISTRY) >= {"pdq", "md5", "sha256"}
    value = pdq.validate("  " + pdq.examples[0].upper() + " ")
    assert pdq.format(value) == pdq.examples[0]
    with pytest.raises(SignalError, match="64 hex characters"):
        pdq.validate("abc")
    with pytest.raises(SignalError, match="0-9 and a-f"):
        pdq.validate("z" * 64)
    with pytest.raises(SignalError, match="Unknown signal type"):
        get_signal_type("phash")
    md5 = get_signal_type("md5")
    assert md5.distance(b"a" * 16, b"a" * 16) == 0 and md5.distance(b"a" * 16, b"b" * 16) == 1
    for t in REGISTRY.values():
        for ex in t.examples:
            assert t.format(t.validate(ex)) == ex
