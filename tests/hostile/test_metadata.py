"""Issue 12 §1: no metadata stops an image's pixels from being hashed, at any entry point.

Every file of the generated corpus (``tests/hostile/metadata.py``) holds the clean image's pixels
plus hostile metadata (text/ICC bombs, damaged or huge EXIF/XMP, short chunks, thousands of
segments). Each must hash exactly as the clean file does (PDQ 0 bits apart: the pixels are the
same) through ``takeback hash``, ``bank add`` + ``match``, ``POST /m/lookup``, bank content uploads
and ``takeback scan``; provenance reads the metadata under its own limits and says where it stopped.
A file that truly cannot be decoded is an error wherever it is matched, never "no match".
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from takeback.analysis.provenance import inspect
from takeback.media import Limits, decode_image
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_bytes
from tests.banks.helpers import Cli, cli, jsonl
from tests.hostile.metadata import (
    OLD_FAILURES,
    clean_jpeg,
    clean_png,
    corpus,
    exif_orientation,
    jpeg_segment,
    jpeg_with,
    pixels,
    png_chunk,
    png_with,
)
from tests.triage.conftest import ScanFn, rows, scan, signer
from tests.web.conftest import Service, service

__all__ = ["cli", "scan", "service", "signer"]

CORPUS = corpus()
#: small enough to upload to the test service (2 MB), and one of each kind that failed before
UPLOADS = [*sorted(OLD_FAILURES), "png/exif_huge", "jpeg/many_segments", "webp/webp_icc_garbage"]


def _pdq(data: bytes) -> tuple[str | None, list[str] | None]:
    fp = fingerprint_bytes(data, options=FingerprintOptions(dihedral=True))
    assert fp.error is None, fp.error
    return fp.hex("pdq"), fp.to_record(dihedral=True)["pdq_dihedral"]


def _write(folder: Path, names: list[str]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        p = folder / name.replace("/", "__")
        p.write_bytes(CORPUS[name][0])
        paths[name] = p
    return paths


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_pixels_hash_as_the_clean_file_whatever_the_metadata(name: str) -> None:
    hostile, clean = CORPUS[name]
    fp = fingerprint_bytes(hostile, options=FingerprintOptions(dihedral=True))
    assert fp.error is None, fp.error
    assert (fp.hex("pdq"), fp.to_record(dihedral=True)["pdq_dihedral"]) == _pdq(clean)
    assert (fp.width, fp.height) == (320, 240)


def test_the_corpus_holds_the_files_that_failed_before() -> None:
    assert set(CORPUS) >= OLD_FAILURES


def _jpeg_exif(value: int) -> bytes:
    return jpeg_with(jpeg_segment(0xE1, b"Exif\x00\x00" + exif_orientation(value, big_endian=True)))


def _raw_profile(value: int) -> bytes:
    hexed = exif_orientation(value).hex()
    text = f"\nexif\n{len(hexed) // 2:8d}\n{hexed}\n".encode()
    return png_chunk(b"zTXt", b"Raw profile type exif\x00\x00" + zlib.compress(text))


XMP_6 = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'

#: file -> the orientation it declares (the hostile ones: beside a chunk that stopped the decoder)
ORIENTED = {
    "png_exif": (png_with(png_chunk(b"eXIf", exif_orientation(6))), 6),
    "png_exif_and_bomb": (
        png_with(
            png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 1_100_000, 9)),
            png_chunk(b"eXIf", exif_orientation(6)),
        ),
        6,
    ),
    "png_raw_profile": (png_with(_raw_profile(8)), 8),
    "png_xmp": (png_with(png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_6)), 6),
    "jpeg_exif": (_jpeg_exif(3), 3),
    "jpeg_exif_and_short_jfif": (jpeg_with(jpeg_segment(0xE0, b"JFIF\x00"), data=_jpeg_exif(5)), 5),
    "jpeg_xmp": (jpeg_with(jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP_6)), 6),
}
_UPRIGHT = {
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    8: Image.Transpose.ROTATE_90,
}


@pytest.mark.parametrize("name", sorted(ORIENTED))
def test_orientation_is_read_as_pillow_reads_it(name: str) -> None:
    """The metadata is dropped before decoding, but the orientation it held still applies."""
    data, orientation = ORIENTED[name]
    if "bomb" not in name and "short" not in name:  # Pillow reads these files itself
        with Image.open(io.BytesIO(data)) as im:
            assert im.getexif().get(0x0112) == orientation
    decoded = decode_image(data, limits=Limits(), want="rgb")
    assert decoded.orientation == orientation
    upright = np.asarray(Image.fromarray(pixels()).transpose(_UPRIGHT[orientation]))
    assert decoded.pixels.shape == upright.shape
    if name.startswith("png"):
        assert (decoded.pixels == upright).all()


# --- the entry points -------------------------------------------------------------------------------


def test_cli_hash_bank_add_and_match(cli: Cli, tmp_path: Path) -> None:
    clean = tmp_path / "clean.png"
    clean.write_bytes(clean_png())
    files = _write(tmp_path / "hostile", sorted(CORPUS))
    expected = {name: _pdq(CORPUS[name][1])[0] for name in CORPUS}

    r = cli("hash", str(tmp_path / "hostile"), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 0, r.stderr
    by_path = {rec["path"]: rec for rec in jsonl(r.stdout)}
    for name, path in files.items():
        rec = by_path[str(path)]
        assert rec["error"] is None and rec["pdq"] == expected[name], (name, rec["error"])

    # A banked image with a bomb added is matched by its clean copy, and the other way round.
    assert cli("bank", "create", "ncii").exit_code == 0
    r = cli("bank", "add", "ncii", str(files["png/ztxt_bomb"]), str(files["jpeg/jfif_short"]), "-j", "1")
    assert r.exit_code == 0, r.stderr
    jpeg = tmp_path / "clean.jpg"
    jpeg.write_bytes(clean_jpeg())
    r = cli("match", str(clean), str(jpeg), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 0, r.stderr
    for rec in jsonl(r.stdout):
        assert rec["status"] == "match" and rec["matches"][0]["distance"] == 0, rec

    assert cli("bank", "add", "ncii", str(clean), "-j", "1").exit_code == 0
    r = cli("match", *(str(files[n]) for n in sorted(OLD_FAILURES) if n.startswith("png")), "-f", "jsonl")
    assert r.exit_code == 0, r.stderr
    recs = jsonl(r.stdout)
    assert len(recs) == sum(n.startswith("png") for n in OLD_FAILURES)
    for rec in recs:
        pdq = [m for m in rec["matches"] if m["signal_type"] == "pdq"]
        assert rec["status"] == "match" and pdq and pdq[0]["distance"] == 0, rec


def test_an_undecodable_image_is_an_error_never_no_match(cli: Cli, tmp_path: Path) -> None:
    """Its SHA-256 and MD5 are known and match nothing, but its pixels were never compared."""
    broken = tmp_path / "broken.png"
    broken.write_bytes(clean_png()[:2000])
    garbled = tmp_path / "garbled.jpg"
    garbled.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    assert cli("bank", "create", "ncii").exit_code == 0
    r = cli("match", str(broken), str(garbled), "-f", "jsonl", "-j", "1")
    assert r.exit_code == 1
    recs = jsonl(r.stdout)
    assert [(rec["status"], rec["error"]["code"]) for rec in recs] == [
        ("error", "truncated_image"),
        ("error", "corrupt_image"),
    ]
    table = cli("match", str(broken), "-f", "table", "-j", "1")
    assert "no match" not in table.stdout and "failed" in table.stdout


def test_http_lookup_and_bank_uploads(service: Service) -> None:
    c = service.client(service.admin)
    bank = service.bank("hostile")
    clean = {"png": clean_png(), "jpeg": clean_jpeg()}
    ids = {}
    for fmt, data in clean.items():
        r = c.post(f"/c/bank/{bank}/content", files={"photo": (f"clean.{fmt}", data)})
        assert r.status_code in (200, 201), r.text
        ids[fmt] = r.json()["id"]
    webp = c.post(f"/c/bank/{bank}/content", files={"photo": ("w.webp", CORPUS["webp/webp_icc_garbage"][1])})
    ids["webp"] = webp.json()["id"]
    for name in UPLOADS:
        hostile = CORPUS[name][0]
        r = c.post("/m/lookup", params={"banks": bank}, files={"photo": ("x", hostile)})
        assert r.status_code == 200, (name, r.text)
        hits = r.json()["pdq"][bank]
        # the clean copy of its own format is found, exactly (the clean copies are one picture, and
        # HMA's routes keep each added copy as its own entry, so the other formats' copies match too)
        pairs = [(h["bank_content_id"], h["distance"]) for h in hits]
        assert (ids[name.split("/")[0]], "0") in pairs and {d for _, d in pairs} == {"0"}, name

    # A hostile upload to a bank is hashed from its pixels: the clean copy finds it.
    other = service.bank("hostile-upload")
    r = c.post(f"/c/bank/{other}/content", files={"photo": ("b.png", CORPUS["png/ztxt_bomb"][0])})
    assert r.status_code in (200, 201), r.text
    got = c.post("/m/lookup", params={"banks": other}, files={"photo": ("c.png", clean["png"])}).json()
    assert [h["distance"] for h in got["pdq"][other]] == ["0"]


def test_scan_hashes_every_hostile_file(scan: ScanFn, tmp_path: Path) -> None:
    files = _write(tmp_path / "seized", sorted(CORPUS))
    (tmp_path / "seized" / "broken.png").write_bytes(clean_png()[:2000])
    case = tmp_path / "case"
    summary = scan(case, [tmp_path / "seized"])
    got = {r["path"]: r for r in rows(case, "SELECT path, pdq, error_code FROM item")}
    for name, path in files.items():
        rec = got[str(path)]
        assert rec["error_code"] is None and rec["pdq"] == _pdq(CORPUS[name][1])[0], (name, rec["error_code"])
    assert got[str(tmp_path / "seized" / "broken.png")]["error_code"] == "truncated_image"
    assert summary.errors == 1


# --- provenance reads the metadata under its own limits ------------------------------------------


def test_inspect_records_where_it_stopped_reading() -> None:
    big = zlib.compress(b"\x00" * (9 << 20), 9)  # past provenance's 8 MiB for one text chunk
    data = png_with(
        png_chunk(b"zTXt", b"parameters\x00\x00" + big),
        png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(b"\x00" * (5 << 20))),
    )
    result = inspect(data)
    codes = {(f.evidence[0].source, f.error.code) for f in result.findings if f.error is not None}
    assert ("png:zTXt", "decompression_limit") in codes and ("png:iCCP", "decompression_limit") in codes
    assert result.error is None and (result.width, result.height) == (320, 240)


def test_inspect_reads_the_1_mb_text_and_stops_at_its_text_budget() -> None:
    """The issue's 1-KB chunk inflates within provenance's limits: read. A flood of such chunks
    stops at the file's text budget (32 MiB) without inflating the rest."""
    result = inspect(CORPUS["png/ztxt_bomb"][0])
    assert not [f for f in result.findings if f.error is not None]
    flood = png_with(
        *(png_chunk(b"zTXt", b"k%d\x00\x00" % i + zlib.compress(b"B" * (4 << 20), 9)) for i in range(40))
    )
    codes = [f.error.code for f in inspect(flood).findings if f.error is not None]
    assert codes.count("text_budget_exceeded") == 32


def test_stealth_check_reads_pixels_behind_hostile_chunks() -> None:
    from tests.analysis.fixtures import novelai_stealth_png

    data = png_with(png_chunk(b"zTXt", b"Comment\x00\x07abc"), data=novelai_stealth_png())
    kinds = {f.kind for f in inspect(data).findings}
    assert "generator.novelai_stealth" in kinds, kinds
