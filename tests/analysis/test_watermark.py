"""dwtDct watermark decoding: bit-exact with the published reference, every known payload, no false alarms."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from takeback.analysis.provenance import InspectOptions, inspect
from takeback.analysis.provenance import watermark as wm
from tests.analysis.fixtures import embed_dwtdct, reference_maxdct, watermarked_png
from tests.conftest import encode, synthetic_photo

REF = reference_maxdct()
needs_ref = pytest.mark.skipif(
    REF is None, reason="invisible-watermark not installed (pip install --no-deps)"
)


def test_payload_bits_match_the_published_messages() -> None:
    by = {p.name: p for p in wm.PAYLOADS}
    assert len(by["StableDiffusionV1"].bits) == 136
    assert len(by["SDV2"].bits) == 32
    assert len(by["SDXL"].bits) == 48
    # FLUX's reference turns its 48-bit message into bits with bin(x)[2:], dropping two leading zeros.
    assert len(by["FLUX"].bits) == 46
    assert "".join(map(str, by["SDXL"].bits)) == "101100111110110010010000011110111011000110011110"
    assert np.packbits(np.array(by["SDV2"].bits, dtype=np.uint8)).tobytes() == b"SDV2"


@needs_ref
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decoder_is_bit_exact_with_the_reference(seed: int) -> None:
    assert REF is not None
    img = np.ascontiguousarray(synthetic_photo(640, 448, seed=seed)[:, :, ::-1])
    for payload in wm.PAYLOADS:
        n = len(payload.bits)
        for candidate in (img, REF.EmbedMaxDct(list(payload.bits), wmLen=n).encode(img.copy())):
            ref_bits = "".join(str(int(b)) for b in REF.EmbedMaxDct([], wmLen=n).decode(candidate))
            ours, _ = wm.decode_bits(wm.block_votes(candidate), n)
            assert "".join(map(str, ours.tolist())) == ref_bits


@needs_ref
def test_fixture_encoder_matches_the_reference_encoder() -> None:
    assert REF is not None
    img = np.ascontiguousarray(synthetic_photo(512, 384, seed=9)[:, :, ::-1])
    for payload in wm.PAYLOADS:
        ref = REF.EmbedMaxDct(list(payload.bits), wmLen=len(payload.bits)).encode(img.copy())
        assert np.array_equal(embed_dwtdct(img.copy(), payload.bits), ref)


@pytest.mark.parametrize("payload", wm.PAYLOADS, ids=lambda p: p.name)
def test_each_payload_is_reported_with_its_bit_errors(payload: wm.Payload) -> None:
    found = inspect(watermarked_png(payload.bits))
    marks = [f for f in found.findings if f.kind == "watermark.dwtdct"]
    assert [f.details["payload"] for f in marks] == [payload.name]
    mark = marks[0]
    assert mark.tier == 2 and mark.indicates == "ai_generated"
    assert mark.details["bits"] == len(payload.bits)
    assert mark.details["bit_errors"] <= 2
    assert f"{mark.details['bit_errors']}/{len(payload.bits)} bit errors" in mark.summary
    assert mark.confidence > 0.999999
    assert "4:2:0 JPEG" in mark.fragility


def test_clean_images_raise_no_watermark() -> None:
    for seed in range(6):
        for data in (
            encode(synthetic_photo(512, 512, seed=seed), "PNG"),
            encode(np.full((300, 400, 3), 128, np.uint8), "PNG"),
        ):
            found = inspect(data)
            assert not [f for f in found.findings if f.kind == "watermark.dwtdct"]
            assert "watermark" in found.checks


def test_watermark_decoding_can_be_turned_off() -> None:
    data = watermarked_png(wm.PAYLOADS[2].bits)
    found = inspect(data, options=InspectOptions(watermarks=False))
    assert "watermark" not in found.checks
    assert not [f for f in found.findings if f.kind == "watermark.dwtdct"]


def test_small_images_are_not_decoded() -> None:
    assert wm.detect(np.zeros((200, 200, 3), np.uint8)) == []


def test_chance_agreement_is_a_binomial_tail() -> None:
    assert wm.chance_of(0, 32) == pytest.approx(2.0**-32)
    assert wm.chance_of(32, 32) == pytest.approx(1.0)
    assert wm.chance_of(7, 48) < wm.FALSE_ALARM < wm.chance_of(8, 48)


def test_survives_png_resave_but_not_ordinary_jpeg() -> None:
    """The fragility the finding states: lossless keeps it; a 4:2:0 JPEG at q95 destroys it."""
    data = watermarked_png(wm.PAYLOADS[2].bits)
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    kinds = lambda b: [f.kind for f in inspect(b).findings]  # noqa: E731
    assert "watermark.dwtdct" in kinds(encode(rgb, "PNG", optimize=True))
    assert "watermark.dwtdct" not in kinds(encode(rgb, "JPEG", quality=95, subsampling=2))


def test_haar_approximation_equals_pywavelets_exactly() -> None:
    import pywt

    rng = np.random.default_rng(0)
    for shape in [(64, 64), (130, 258), (512, 384)]:
        u = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(wm.haar_approximation(u), pywt.dwt2(u, "haar")[0])
    flat = np.full((64, 64), 135, np.uint8)  # 135*2 = 270 = 18 (mod 36): the boundary case
    assert np.array_equal(wm.haar_approximation(flat), pywt.dwt2(flat, "haar")[0])


def test_rgb_and_bgr_orders_read_the_same() -> None:
    rgb = synthetic_photo(512, 512, seed=4)
    assert np.array_equal(
        wm.block_votes(rgb, order="rgb"), wm.block_votes(np.ascontiguousarray(rgb[:, :, ::-1]))
    )
