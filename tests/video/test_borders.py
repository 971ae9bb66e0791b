"""Border detection (letterbox, pillarbox, plain frames) on frames and still images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from takeback.media.borders import find_border
from takeback.signals.fingerprint import fingerprint_file
from takeback.signals.pdq import hamming, pdq_from_luma
from tests.conftest import encode, synthetic_photo


def luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).convert("L"))


def framed(picture: np.ndarray, *, top: int, bottom: int, left: int, right: int, shade: int) -> np.ndarray:
    h, w = picture.shape[:2]
    out = np.full((h + top + bottom, w + left + right, 3), shade, np.uint8)
    out[top : top + h, left : left + w] = picture
    return out


@pytest.mark.parametrize(
    ("top", "bottom", "left", "right", "shade"),
    [
        (60, 60, 0, 0, 0),  # letterbox, black
        (0, 0, 80, 80, 16),  # pillarbox, video black
        (0, 0, 120, 120, 128),  # a portrait clip in a landscape frame, grey bars
        (30, 30, 30, 30, 255),  # a white frame all round (a screenshot's margin)
        (40, 0, 0, 0, 30),  # one bar only
    ],
)
def test_finds_uniform_borders(top: int, bottom: int, left: int, right: int, shade: int) -> None:
    picture = synthetic_photo(480, 320, seed=7)
    image = framed(picture, top=top, bottom=bottom, left=left, right=right, shade=shade)
    box = find_border(luma(image))
    assert box is not None
    h, w = image.shape[:2]
    assert abs(box.top - top) <= 4 and abs((h - box.bottom) - bottom) <= 4
    assert abs(box.left - left) <= 4 and abs((w - box.right) - right) <= 4
    # The content inside hashes like the picture without its border.
    inner = pdq_from_luma(box.crop(luma(image)))
    assert hamming(inner.hash, pdq_from_luma(luma(picture)).hash) <= 16


@pytest.mark.parametrize(
    "image",
    [
        synthetic_photo(480, 320, seed=3),  # content to the edges
        np.full((240, 320, 3), 90, np.uint8),  # entirely flat
        framed(
            np.full((200, 300, 3), 20, np.uint8), top=20, bottom=20, left=0, right=0, shade=0
        ),  # flat inside
        framed(synthetic_photo(40, 40), top=140, bottom=140, left=140, right=140, shade=0),  # too little left
    ],
)
def test_no_border(image: np.ndarray) -> None:
    assert find_border(luma(image)) is None


def test_noisy_compressed_bars_still_count(tmp_path: Path) -> None:
    image = framed(synthetic_photo(400, 300, seed=5), top=0, bottom=0, left=64, right=64, shade=17)
    path = tmp_path / "bars.jpg"
    path.write_bytes(encode(image, "JPEG", quality=60))  # ringing and noise in the bars
    box = find_border(np.asarray(Image.open(path).convert("L")))
    assert box is not None and abs(box.left - 64) <= 4 and abs(box.right - 464) <= 4


def test_letterboxed_screenshot_of_an_image_still_matches(tmp_path: Path) -> None:
    """Still images get both hashes: the whole image and the content inside its border."""
    picture = synthetic_photo(640, 480, seed=11)
    (tmp_path / "orig.jpg").write_bytes(encode(picture, "JPEG", quality=90))
    boxed = framed(picture, top=0, bottom=0, left=214, right=214, shade=0)  # 4:3 shown on 16:9
    (tmp_path / "shot.png").write_bytes(encode(boxed, "PNG"))
    orig, shot = fingerprint_file(tmp_path / "orig.jpg"), fingerprint_file(tmp_path / "shot.png")
    assert not orig.inside_border and "pdq_cropped" not in orig.to_record()
    whole, inner = shot.signals["pdq"].value, shot.inside_border["pdq"].value
    assert shot.border == [0, 480, 214, 854]
    assert hamming(whole, orig.signals["pdq"].value) > 31  # as a whole: no match
    assert hamming(inner, orig.signals["pdq"].value) <= 10  # inside: a match
    rec = shot.to_record()
    assert rec["pdq_cropped"] == inner.hex() and rec["border"] == [0, 480, 214, 854]
