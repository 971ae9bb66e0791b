"""The safe decoder: formats, limits, orientation, errors."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from takeback.media import Limits, MediaError, decode_image
from tests.conftest import encode, synthetic_photo


def reference_luma_of(rgb: np.ndarray) -> np.ndarray:
    """The luma ``pdqhash.compute`` (Meta's PDQ, PyPI) hashes: its own NumPy expression, verbatim."""
    return (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype("float32")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but carries almost no data (a decompression-bomb shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF"])
def test_decodes_every_format_to_luma_and_rgb(fmt: str) -> None:
    rgb = synthetic_photo(96, 64)
    data = encode(rgb, fmt)
    luma = decode_image(data, limits=Limits())
    assert luma.pixels.shape == (64, 96) and luma.pixels.dtype == np.float32
    colour = decode_image(data, limits=Limits(), want="rgb")
    assert colour.pixels.shape == (64, 96, 3) and colour.pixels.dtype == np.uint8
    expected = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    tolerance = 40 if fmt in ("GIF", "AVIF", "HEIF") else 12
    assert np.abs(luma.pixels - expected).mean() < tolerance
    # the luma is the PDQ reference's, computed from the very RGB that was decoded
    assert np.array_equal(luma.pixels, reference_luma_of(colour.pixels))


def test_gif_first_frame_only() -> None:
    frames = [Image.fromarray(np.full((32, 32, 3), v, np.uint8)) for v in (10, 240)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buf.getvalue(), limits=Limits())
    assert out.frame_count == 2 and abs(int(out.pixels.mean()) - 10) <= 2


def test_pixel_limit_checked_before_decoding() -> None:
    bomb = png_header_only(50_000, 50_000)
    with pytest.raises(MediaError) as err:
        decode_image(bomb, limits=Limits())
    assert err.value.code == "too_many_pixels" and "50,000 x 50,000" in err.value.message
    with pytest.raises(MediaError) as err:
        decode_image(encode(synthetic_photo(100, 100), "PNG"), limits=Limits(max_pixels=9_999))
    assert err.value.code == "too_many_pixels"


def test_file_size_limit() -> None:
    data = encode(synthetic_photo(100, 100), "PNG")
    with pytest.raises(MediaError) as err:
        decode_image(data, limits=Limits(max_file_bytes=len(data) - 1))
    assert err.value.code == "file_too_large"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\xff\xd8\xff\xe0" + bytes(200), "corrupt_image"),
        (np.random.default_rng(7).bytes(5000), "unsupported_type"),
        (b"%PDF-1.4\n%%EOF\n", "unsupported_type"),
    ],
)
def test_bad_bytes_give_coded_errors(data: bytes, code: str) -> None:
    with pytest.raises(MediaError) as err:
        decode_image(data, limits=Limits())
    assert err.value.code == code


def test_truncated_jpeg() -> None:
    data = encode(synthetic_photo(400, 300), "JPEG", quality=90)
    with pytest.raises(MediaError) as err:
        decode_image(data[: len(data) // 2], limits=Limits())
    assert err.value.code == "truncated_image"
