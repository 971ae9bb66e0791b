"""Type detection by content, never by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from takeback.media import Kind, sniff
from tests.conftest import encode, synthetic_photo


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
        ("HEIF", "image/heic"),
        ("AVIF", "image/avif"),
    ],
)
def test_images_by_content(fmt: str, mime: str) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    data = encode(synthetic_photo(64, 48), fmt)
    mt = sniff(data[:4096])
    assert mt.mime == mime and mt.kind is Kind.IMAGE


def test_videos_and_documents() -> None:
    assert sniff(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom").mime == "video/mp4"
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ").mime == "video/quicktime"
    assert (
        sniff(b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm").mime
        == "video/webm"
    )
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST").mime == "video/x-msvideo"
    assert sniff(b"%PDF-1.7\n").kind is Kind.DOCUMENT
    assert sniff("héllo, world\n".encode()).kind is Kind.TEXT
    assert sniff(b"PK\x03\x04rest").kind is Kind.ARCHIVE
    assert sniff(np.random.default_rng(1).bytes(512)).kind is Kind.UNKNOWN
    assert sniff(b"").kind is Kind.UNKNOWN


def test_sample_videos(shared_data: Path) -> None:
    videos = sorted((shared_data / "video").glob("*.mp4"))
    assert videos
    for v in videos:
        assert sniff(v.read_bytes()[:4096]).kind is Kind.VIDEO, v.name
