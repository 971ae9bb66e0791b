"""Review thumbnails made from an item's own bytes: blurred and greyscale unless one item is revealed.

Why made here and not in the browser: the browser must never receive clear pixels it was not asked
for, so the blur happens before any byte leaves the server. The grey blurred tile is small (160 px,
JPEG), so a page of them is cheap; a reveal is one item, larger, in colour, and never written to
disk. A video shows its first decodable keyframe (greyscale luma, which is what the decoder gives).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from takeback.media import Limits, MediaError, decode_image
from takeback.media.video import VideoReader

#: the blurred tile's long side, and the blur at that size (strong enough that no body detail reads)
THUMB = 160
BLUR_RADIUS = 9
#: a revealed item's long side
REVEAL = 1024


@dataclass(frozen=True, slots=True)
class Picture:
    """Encoded pixels ready to send: ``data`` in ``media_type``."""

    data: bytes
    media_type: str


class UndecodableError(Exception):
    """The bytes were read but hold no picture that decodes; ``code`` says why (a media code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _frame(data: bytes, kind: str | None, limits: Limits) -> Image.Image:
    if kind == "video":
        try:
            with VideoReader(data) as reader:
                for frame in reader.frames(interval=1.0, keyframes_only=True):
                    luma = frame.luma
                    if luma.dtype != np.uint8:
                        luma = np.clip(luma, 0, 255).astype(np.uint8)
                    return Image.fromarray(luma, "L")
        except MediaError as exc:
            raise UndecodableError(exc.code, exc.message) from None
        raise UndecodableError("no_frames", "The video has no frame that decodes.")
    try:
        return Image.fromarray(decode_image(data, limits=limits, want="rgb").pixels, "RGB")
    except MediaError as exc:
        raise UndecodableError(exc.code, exc.message) from None


def _jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def blurred(data: bytes, *, kind: str | None, limits: Limits, size: int = THUMB) -> Picture:
    """A greyscale, blurred tile of at most ``size`` pixels on its long side."""
    im = _frame(data, kind, limits)
    im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    im = im.convert("L").filter(ImageFilter.GaussianBlur(BLUR_RADIUS * size / THUMB))
    return Picture(_jpeg(im, 70), "image/jpeg")


def revealed(data: bytes, *, kind: str | None, limits: Limits, size: int = REVEAL) -> Picture:
    """The item's picture, clear, at most ``size`` pixels on its long side (metadata dropped)."""
    im = _frame(data, kind, limits)
    im.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return Picture(_jpeg(im.convert("RGB") if im.mode != "L" else im, 88), "image/jpeg")


def placeholder(size: int = THUMB) -> Picture:
    """The tile shown for an item with no picture to show (the page says why beside it)."""
    tile = Image.new("L", (size, size), 215)
    draw = ImageDraw.Draw(tile)
    draw.rectangle([0, 0, size - 1, size - 1], outline=150, width=2)
    draw.line([(size // 4, size // 4), (3 * size // 4, 3 * size // 4)], fill=130, width=3)
    draw.line([(size // 4, 3 * size // 4), (3 * size // 4, size // 4)], fill=130, width=3)
    return Picture(_jpeg(tile, 80), "image/jpeg")
