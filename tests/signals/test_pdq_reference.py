"""PDQ against the published reference hashes and images in ../shared/data/pdq, and against Meta's C++
(``pdqhash``, the ``reference`` extra) on those images and on generated high-detail JPEG mosaics."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from takeback.media import Limits, decode_image, decode_pil
from takeback.media.decode import reference_luma
from takeback.signals.fingerprint import fingerprint_bytes, fingerprint_file
from takeback.signals.pdq import DIHEDRAL_NAMES, pdq_from_luma
from tests.conftest import encode, hamming_hex
from tests.signals.high_detail import detailed_image, write_mosaics

#: the compatibility rule: within 10 bits of the reference on images of quality >= 80
RULE = 10
MOSAIC_SEEDS = (0, 1, 2, 3)

PUBLISHED = {
    "bridge-1-original.jpg": "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22",
    "bridge-2-rotate-90.jpg": "b0a10efd71cc3f429413d48d0ffffe12e34e0e17ada952a9d29684210aa9e5af",
    "bridge-3-rotate-180.jpg": "adad5a64b5a142e55362a09057dacd5ae63b847fc23794b766b319361fc93188",
    "bridge-4-rotate-270.jpg": "a5f4a457a48995e8c9065c275aaa5498b61ba4bdf8fcf80387c32f8b0bfc4f05",
    "bridge-5-flipx.jpg": "f8f80f31e0f417b00e37f5cd028f980fb36ed02a9662c1e233e6cc634e9c64dd",
    "bridge-6-flipy.jpg": "8dad2599b1a1bd1853625f6553da32a1e63b7280c2374b4866b366c91bc9ce77",
    "bridge-7-flip-plus-1.jpg": "f0a1f102f1dcc0bd9c5309720fff018de34ef1e8ada9a956d2967ade0ea91a50",
    "bridge-8-flip-minus-1.jpg": "a5f05ba8a4896a17c106a3da5aaaab07b61b5b42f8fc07fc83c3d0740bfcb0fa",
}


def pdq_of(path: Path) -> tuple[str, int]:
    fp = fingerprint_file(path)
    assert fp.error is None, fp.error
    assert fp.hex("pdq") is not None and fp.quality("pdq") is not None
    return fp.hex("pdq"), fp.quality("pdq")


def test_dihedral_files_match_published(pdq_data: Path) -> None:
    dih = pdq_data / "reg-test-input" / "dih"
    assert sorted(p.name for p in dih.iterdir()) == sorted(PUBLISHED)
    for name, ref in PUBLISHED.items():
        got, quality = pdq_of(dih / name)
        assert hamming_hex(got, ref) <= 10, name
        assert quality == 100


def test_eight_orientations_from_one_decode(pdq_data: Path) -> None:
    dih = pdq_data / "reg-test-input" / "dih"
    fp = fingerprint_file(dih / "bridge-1-original.jpg", options=_dih())
    assert (
        fp.to_record(dihedral=True)["pdq_dihedral"] is not None
        and len(fp.to_record(dihedral=True)["pdq_dihedral"]) == 8
    )
    assert fp.to_record(dihedral=True)["pdq_dihedral"][0] == fp.hex("pdq")
    files = sorted(PUBLISHED)  # file order is the dihedral order
    for label, got, name in zip(
        DIHEDRAL_NAMES, fp.to_record(dihedral=True)["pdq_dihedral"], files, strict=True
    ):
        assert hamming_hex(got, PUBLISHED[name]) <= 10, (label, name)
        own, _ = pdq_of(dih / name)
        assert hamming_hex(got, own) <= 10, (label, name)
    # and the eight are genuinely different hashes, not one repeated
    assert all(
        hamming_hex(a, b) > 31
        for a, b in itertools.combinations(fp.to_record(dihedral=True)["pdq_dihedral"], 2)
    )


def _dih():  # type: ignore[no-untyped-def]
    from takeback.signals.fingerprint import FingerprintOptions

    return FingerprintOptions(dihedral=True)


def test_bridge_edits_match_original(pdq_data: Path) -> None:
    folder = pdq_data / "bridge-mods"
    orig, _ = pdq_of(folder / "aaa-orig.jpg")
    edits = [p for p in sorted(folder.iterdir()) if p.name != "aaa-orig.jpg"]
    assert len(edits) == 11
    for p in edits:
        got, _ = pdq_of(p)
        assert hamming_hex(got, orig) <= 31, p.name


def test_unrelated_photos_do_not_match(pdq_data: Path) -> None:
    rti = pdq_data / "reg-test-input"
    others = [*sorted((rti / "labelme-subset").iterdir()), rti / "pen-and-coaster.png"]
    hashes = {p.name: pdq_of(p)[0] for p in others}
    bridge, _ = pdq_of(pdq_data / "bridge-mods" / "aaa-orig.jpg")
    for (a, ha), (b, hb) in itertools.combinations(hashes.items(), 2):
        assert hamming_hex(ha, hb) > 31, (a, b)
    for name, h in hashes.items():
        assert hamming_hex(h, bridge) > 31, name


def test_mode_files_match_original(pdq_data: Path) -> None:
    modes = pdq_data / "misc-images" / "modes"
    orig, _ = pdq_of(modes / "original.jpg")
    files = [p for p in sorted(modes.iterdir()) if p.name != "original.jpg"]
    assert len(files) == 13
    for p in files:
        got, _ = pdq_of(p)
        assert hamming_hex(got, orig) <= 31, p.name


@pytest.mark.parametrize(
    "mode",
    [
        "1",
        "L",
        "LA",
        "La",
        "P",
        "PA",
        "RGB",
        "RGBA",
        "RGBa",
        "RGBX",
        "CMYK",
        "YCbCr",
        "I",
        "I;16",
        "I;16B",
        "F",
        "LAB",
        "HSV",
    ],
)
def test_every_pillow_mode_in_memory(pdq_data: Path, mode: str) -> None:
    """Each mode, converted from the original by Pillow, maps back to the same picture."""
    orig = Image.open(pdq_data / "misc-images" / "modes" / "original.jpg")
    ref = pdq_from_luma(decode_pil(orig.convert("RGB"))).hex
    img = orig.convert("RGBA").convert(mode) if mode in ("La", "RGBa") else orig.convert(mode)
    got = pdq_from_luma(decode_pil(img)).hex
    assert hamming_hex(got, ref) <= (31 if mode == "1" else 10), mode


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F", "LAB"]
)
def test_every_mode_through_a_tiff_file(tmp_path: Path, pdq_data: Path, mode: str) -> None:
    orig = Image.open(pdq_data / "misc-images" / "modes" / "original.jpg")
    ref, _ = pdq_of(pdq_data / "misc-images" / "modes" / "original.jpg")
    path = tmp_path / f"{mode.replace(';', '_')}.tif"
    orig.convert(mode).save(path, "TIFF")
    got, _ = pdq_of(path)
    assert hamming_hex(got, ref) <= 31, mode


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path, pdq_data: Path) -> None:
    """Pillow clips 16-bit grey to 255 when asked for L; we must keep the picture."""
    luma = np.asarray(Image.open(pdq_data / "bridge-mods" / "aaa-orig.jpg").convert("L"))
    deep = luma.astype(np.uint16) * 257
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    assert Image.open(path).mode.startswith("I")
    got, q = pdq_of(path)
    ref = pdq_from_luma(luma)
    assert hamming_hex(got, ref.hex) <= 4
    assert q == ref.quality


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_applied(tmp_path: Path, pdq_data: Path, orientation: int) -> None:
    """A photo stored sideways with the tag saying so hashes like the upright original."""
    upright = Image.open(pdq_data / "bridge-mods" / "aaa-orig.jpg").convert("RGB")
    # Store the pixels so that applying `orientation` gives back the upright picture.
    inverse = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = upright.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    stored.save(path, "JPEG", quality=95, exif=exif.tobytes())
    # sanity: Pillow's own idea of "displayed" agrees that this is upright
    shown = ImageOps.exif_transpose(Image.open(path))
    assert shown.size == upright.size
    ref, _ = pdq_of(pdq_data / "bridge-mods" / "aaa-orig.jpg")
    got, _ = pdq_of(path)
    assert hamming_hex(got, ref) <= 10
    raw = pdq_from_luma(np.asarray(stored.convert("L"))).hex
    assert hamming_hex(raw, ref) > 31  # without the tag applied it would not match


@pytest.mark.parametrize("name", ["exif-rotn-1.jpg", "exif-rotn-3.jpg", "exif-rotn-6.jpg", "exif-rotn-8.jpg"])
def test_exif_rotn_hash_as_displayed(pdq_data: Path, name: str) -> None:
    path = pdq_data / "reg-test-input" / "exif-rotn" / name
    displayed = ImageOps.exif_transpose(Image.open(path)).convert("L")
    expected = pdq_from_luma(np.asarray(displayed)).hex
    got, _ = pdq_of(path)
    assert hamming_hex(got, expected) <= 10
    decoded = decode_image(path.read_bytes(), limits=Limits())
    assert (decoded.width, decoded.height) == displayed.size
    if not name.endswith("-1.jpg"):
        stored = pdq_from_luma(np.asarray(Image.open(path).convert("L"))).hex
        assert hamming_hex(got, stored) > 31


def _reference_luma_of(rgb: np.ndarray) -> np.ndarray:
    """The luma ``pdqhash.compute`` hashes: its own NumPy expression, verbatim."""
    return (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype("float32")


def _reference_hash(path: Path) -> tuple[str, int, np.ndarray]:
    """Meta's C++ on Pillow's upright RGB decode: (hex, quality, the RGB)."""
    pdqhash = pytest.importorskip("pdqhash")
    with Image.open(path) as im:
        rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    bits, quality = pdqhash.compute(rgb)
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}", int(quality), rgb


@pytest.fixture(scope="module")
def mosaics(pdq_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_mosaics(pdq_data, tmp_path_factory.mktemp("mosaics"), MOSAIC_SEEDS)


def test_luma_is_the_references_for_every_colour() -> None:
    """Pillow's RGB -> F gives, for all 2^24 colours, the very float32 the reference hashes."""
    for chunk in range(16):
        v = np.arange(chunk << 20, (chunk + 1) << 20, dtype=np.uint32)
        rgb = np.stack([v >> 16, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8).reshape(1024, 1024, 3)
        got = reference_luma(Image.fromarray(rgb))
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), _reference_luma_of(rgb).view(np.uint32)), chunk


def test_jpeg_mosaics_hash_what_the_reference_hashes(mosaics: list[Path]) -> None:
    """4000 x 3000 mosaics of 16 photo tiles at JPEG quality 90: the luma hashed is the reference's
    luma of the decoded RGB (not libjpeg's Y plane), and the hash is within the rule."""
    for path in mosaics:
        ref, ref_quality, rgb = _reference_hash(path)
        decoded = decode_image(path.read_bytes(), limits=Limits())
        assert (decoded.width, decoded.height) == (4000, 3000)
        assert np.array_equal(decoded.pixels, _reference_luma_of(rgb)), path.name
        got, quality = pdq_of(path)
        assert ref_quality == quality == 100
        assert hamming_hex(got, ref) <= RULE, path.name


def test_high_detail_jpegs_hash_like_the_reference() -> None:
    """Noisy synthetic texture (1152 x 864, JPEG quality 90), where most coefficients sit near the
    median: libjpeg's Y plane put seed 17 12 bits from the reference and averaged ~3 bits; the
    reference's luma leaves only float rounding in the downsample."""
    pdqhash = pytest.importorskip("pdqhash")
    bits = []
    for seed in range(24):
        data = encode(detailed_image(1152, 864, seed), "JPEG", quality=90)
        rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        ref_bits, ref_quality = pdqhash.compute(rgb)
        ref = f"{int(''.join(str(int(b)) for b in ref_bits), 2):064x}"
        fp = fingerprint_bytes(data)
        assert fp.hex("pdq") is not None and fp.quality("pdq") == ref_quality == 100
        bits.append(hamming_hex(fp.hex("pdq"), ref))
    assert max(bits) <= RULE, bits
    assert sum(bits) / len(bits) <= 1.0, bits


def test_every_reference_picture_hashes_like_the_reference(pdq_data: Path) -> None:
    """Every picture in ../shared/data/pdq (any mode, EXIF-rotated phone photos included)."""
    pictures = sorted(p for p in pdq_data.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".webp"))
    assert len(pictures) >= 40
    for path in pictures:
        ref, ref_quality, rgb = _reference_hash(path)
        decoded = decode_image(path.read_bytes(), limits=Limits())
        assert np.array_equal(decoded.pixels, _reference_luma_of(rgb)), path.name
        got, quality = pdq_of(path)
        assert abs(quality - ref_quality) <= 1, path.name
        if ref_quality >= 80:
            assert hamming_hex(got, ref) <= RULE, path.name


def test_border_crop_hashes_like_the_reference_on_the_crop(tmp_path: Path, mosaics: list[Path]) -> None:
    """``pdq_cropped`` uses the same luma: a mosaic in a plain frame, cropped, is the mosaic."""
    with Image.open(mosaics[0]) as im:
        framed = ImageOps.expand(im.convert("RGB"), border=(0, 300, 0, 300), fill=(12, 12, 12))
    path = tmp_path / "framed.jpg"
    framed.save(path, "JPEG", quality=90)
    fp = fingerprint_file(path)
    assert fp.border == [300, 3300, 0, 4000] and fp.to_record().get("pdq_cropped") is not None
    ref, _, _ = _reference_hash(mosaics[0])
    assert hamming_hex(fp.to_record().get("pdq_cropped"), ref) <= RULE
