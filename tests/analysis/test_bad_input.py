"""Hostile and broken files: each yields a finding with ``error``, never a crash or unbounded memory."""

from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import zlib

import pytest

from takeback.analysis.provenance import Findings, inspect
from takeback.analysis.provenance.metadata import XmpError, parse_xmp
from tests.analysis.fixtures import (
    insert_png_chunks,
    jpeg_with_xmp,
    png_chunk,
    png_with_text,
    stealth_png,
    xmp_packet,
)
from tests.conftest import encode, synthetic_photo


def errors(found: Findings) -> dict[str, str]:
    return {f.error.code: f.kind for f in found.findings if f.error is not None}


def base_png() -> bytes:
    return encode(synthetic_photo(320, 240), "PNG")


def test_itxt_with_invalid_utf8() -> None:
    body = b"parameters\x00\x00\x00\x00\x00" + b"prompt \xff\xfe broken\nSteps: 20, Seed: 5"
    found = inspect(insert_png_chunks(base_png(), png_chunk(b"iTXt", body)))
    assert errors(found)["invalid_utf8"] == "metadata.malformed"
    # the readable part is still parsed, with replacement characters
    assert any(f.kind == "generator.a1111" for f in found.findings)


def test_chunk_declaring_a_huge_size() -> None:
    png = base_png()
    evil = struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"parameters\x00abc"
    found = inspect(png[:33] + evil + png[33:])
    assert "truncated_chunk" in errors(found)


def test_text_chunk_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from takeback.analysis.provenance import containers

    monkeypatch.setattr(containers, "MAX_TEXT_BYTES", 1000)
    found = inspect(png_with_text({"parameters": "x" * 5000}))
    assert "text_too_large" in errors(found)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_zip_bomb_text_chunk_is_bounded(kind: bytes) -> None:
    bomb = zlib.compress(b"A" * (200 << 20), 9)  # 200 MiB inflated, ~200 KB compressed
    header = b"parameters\x00\x00" if kind == b"zTXt" else b"parameters\x00\x01\x00\x00\x00"
    body = header + bomb
    data = insert_png_chunks(base_png(), png_chunk(kind, body))
    tracemalloc.start()
    found = inspect(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert errors(found)["decompression_limit"] == "metadata.malformed"
    assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB"


def test_damaged_compressed_text() -> None:
    data = insert_png_chunks(base_png(), png_chunk(b"zTXt", b"parameters\x00\x00not zlib at all"))
    assert "invalid_compression" in errors(inspect(data))


def test_crc_mismatch_is_reported_but_text_still_read() -> None:
    chunk = bytearray(png_chunk(b"tEXt", b"Software\x00NovelAI"))
    chunk[-1] ^= 0xFF
    found = inspect(insert_png_chunks(base_png(), bytes(chunk)))
    assert "crc_mismatch" in errors(found)


def test_deeply_nested_xmp() -> None:
    deep = "<a>" * 5000 + "</a>" * 5000
    with pytest.raises(XmpError) as exc:
        parse_xmp(xmp_packet(deep))
    assert exc.value.code == "xmp_too_deep"
    found = inspect(jpeg_with_xmp(xmp_packet(deep)))
    assert "xmp_too_deep" in errors(found)


def test_xmp_entity_bomb_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b"<rdf:Description>&lol2;</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    found = inspect(jpeg_with_xmp(bomb))
    assert "xmp_forbidden_dtd" in errors(found)


def test_oversized_xmp_is_not_read() -> None:
    big = xmp_packet("<rdf:Description>" + "x" * (5 << 20) + "</rdf:Description>")
    body = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + big
    found = inspect(insert_png_chunks(base_png(), png_chunk(b"iTXt", body)))
    assert "xmp_too_large" in errors(found)


def test_malformed_xmp() -> None:
    found = inspect(jpeg_with_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><unclosed></x:xmpmeta>"))
    assert "xmp_malformed" in errors(found)


def test_novelai_alpha_payload_that_is_not_gzip() -> None:
    found = inspect(stealth_png(b"this is not gzip data at all" * 4))
    (f,) = [f for f in found.findings if f.kind == "generator.stealth"]
    assert f.error is not None and f.error.code == "invalid_gzip"
    assert f.generator == "NovelAI"


def test_stealth_payload_declaring_more_bits_than_the_image_holds() -> None:
    data = stealth_png(b"x" * 10)
    # Rewrite the declared length: rebuild with a payload header claiming 2^31 bits.
    import io

    import numpy as np
    from PIL import Image

    from tests.analysis.fixtures import embed_stealth

    rgba = np.asarray(Image.open(io.BytesIO(data))).copy()
    header = b"stealth_pngcomp" + struct.pack(">I", 0x7FFFFFFF)
    bits = np.unpackbits(np.frombuffer(header, dtype=np.uint8))
    alpha = np.ascontiguousarray(rgba[:, :, 3].T).reshape(-1)
    alpha[: bits.size] = (alpha[: bits.size] & 0xFE) | bits
    rgba[:, :, 3] = alpha.reshape(rgba.shape[1], rgba.shape[0]).T
    assert embed_stealth is not None
    (f,) = [f for f in inspect(encode(rgba, "PNG")).findings if f.kind == "generator.stealth"]
    assert f.error is not None and f.error.code == "invalid_length"


def test_deeply_nested_json_in_a_generator_chunk() -> None:
    found = inspect(png_with_text({"prompt": "[" * 100_000 + "]" * 100_000, "workflow": "{not json"}))
    assert "invalid_json" in errors(found)


def test_stealth_payload_with_deep_json_does_not_crash() -> None:
    found = inspect(stealth_png(gzip.compress(b"[" * 50_000 + b"]" * 50_000)))
    json.dumps(found.to_record())


def test_malformed_c2pa_store() -> None:
    jpeg = encode(synthetic_photo(320, 240), "JPEG")
    # An APP11 JUMBF segment that claims to be a C2PA store but holds garbage.
    junk = (
        b"JP\x00\x01\x00\x00\x00\x01"
        + struct.pack(">I", 64)
        + b"jumb"
        + struct.pack(">I", 40)
        + b"jumdc2pa"
        + b"\x00" * 20
        + b"\xde\xad" * 10
    )
    segment = b"\xff\xeb" + struct.pack(">H", len(junk) + 2) + junk
    found = inspect(jpeg[:2] + segment + jpeg[2:])
    c2pa = [f for f in found.findings if f.kind == "c2pa.manifest"]
    assert c2pa and c2pa[0].error is not None and c2pa[0].error.code == "c2pa_malformed"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe1\xff\xff",
        b"RIFF\x10\x00\x00\x00WEBPVP8X",
        b"%PDF-1.7 not an image",
        encode(synthetic_photo(64, 64), "PNG")[:100],
        encode(synthetic_photo(64, 64), "JPEG")[:300],
    ],
    ids=[
        "empty",
        "png-signature-only",
        "jpeg-truncated-app1",
        "webp-stub",
        "pdf",
        "png-truncated",
        "jpeg-truncated",
    ],
)
def test_truncated_and_foreign_files_never_raise(data: bytes) -> None:
    found = inspect(data)
    json.dumps(found.to_record())


def test_unreadable_paths_become_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert inspect(tmp_path / "missing.png").error.code == "not_found"  # type: ignore[union-attr]
    assert inspect(tmp_path).error.code == "not_a_file"  # type: ignore[union-attr]
