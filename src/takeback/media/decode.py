"""The one safe image decoder.

Every consumer of pixels (hashing, nudity scoring, thumbnails, face matching) goes through
:func:`decode_image`, so limits, EXIF orientation and Pillow-mode mapping are applied in one place.

Luma is PDQ's reference luma: 0.299 R + 0.587 G + 0.114 B of the decoded RGB, in float and not
rounded (Meta's ``pdqhash`` on Pillow's RGB), so a hash lands where the reference's does. Not the
JPEG's own Y plane: libjpeg's Y is luma *before* the decoded RGB is clipped to 0..255, and on
saturated, detailed pictures that moved hashes by several bits.

Why the care over modes: Pillow clips 16-bit and 32-bit greyscale to 0..255 when asked for ``L``,
which turns most of a 16-bit scan white; and ``La`` cannot be converted to ``RGB`` directly.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from takeback.media import errors as codes
from takeback.media.errors import MediaError
from takeback.media.strip import strip_metadata
from takeback.media.types import MediaType, sniff

if TYPE_CHECKING:
    from takeback.config import Settings

try:  # HEIC/HEIF/AVIF through libheif
    import pillow_heif

    pillow_heif.register_heif_opener()
    _HEIF_OK = True
except ImportError:  # pragma: no cover - pillow-heif is a hard dependency
    _HEIF_OK = False

# We enforce our own, configurable pixel limit before any pixel is decoded; Pillow's global guard
# would otherwise raise at 2x its default with an unhelpful message, or only warn below that.
Image.MAX_IMAGE_PIXELS = None

Want = Literal["luma", "rgb"]

# EXIF orientation -> Pillow transpose that makes the image upright.
_ORIENTATION_OPS: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Decode limits; the defaults come from :class:`takeback.config.Settings`."""

    max_pixels: int = 200_000_000
    max_file_bytes: int = 512 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_pixels=settings.max_image_pixels, max_file_bytes=settings.max_file_bytes)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """Upright pixels plus what was learnt while decoding.

    ``pixels`` is ``float32`` (H, W) luma in 0..255 (:func:`reference_luma`) or ``uint8`` (H, W, 3)
    RGB, C-contiguous.
    """

    pixels: np.ndarray
    media_type: MediaType
    width: int
    height: int
    source_mode: str
    orientation: int
    frame_count: int


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not stop decoding; treat as upright
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _scale_to_uint8(a: np.ndarray) -> np.ndarray:
    """Map a single-channel numeric array onto 0..255 without clipping away the content.

    Integer data is read by its container's range (8- or 16-bit); floats in 0..1 are treated as
    normalised. Anything else is stretched min..max, which keeps the picture (PDQ bits are invariant
    to a positive scale and offset of luma; only clipping destroys them).
    """
    a = np.asarray(a)
    if a.size == 0:
        return a.astype(np.uint8)
    lo = float(np.nanmin(a)) if np.issubdtype(a.dtype, np.floating) else float(a.min())
    hi = float(np.nanmax(a)) if np.issubdtype(a.dtype, np.floating) else float(a.max())
    af = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=hi, neginf=lo)
    if np.issubdtype(a.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        out = af * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        out = af
    elif lo >= 0.0 and hi <= 65535.0 and not np.issubdtype(a.dtype, np.floating):
        out = af / 257.0
    else:
        span = hi - lo
        out = (af - lo) * (255.0 / span) if span > 0 else np.zeros_like(af)
    result: np.ndarray = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return result


def _high_depth_array(im: Image.Image) -> np.ndarray:
    """Pixels of I, I;16*, F images as a numeric array (Pillow cannot hand these to L faithfully)."""
    if im.mode.startswith("I;16"):
        big_endian = im.mode.endswith("B")
        raw = np.frombuffer(im.tobytes(), dtype=">u2" if big_endian else "<u2")
        return raw.reshape(im.height, im.width).astype(np.uint16)
    return np.asarray(im)


#: rows converted at a time by :func:`reference_luma`: the float strip stays in cache
_LUMA_STRIP = 64


def reference_luma(rgb: Image.Image) -> np.ndarray:
    """PDQ's reference luma of an RGB image: float32 (H, W), 0.299 R + 0.587 G + 0.114 B, unrounded.

    The reference (``pdqhash.compute``) evaluates that in float64 and casts to float32; Pillow's
    RGB -> F conversion computes (299 R + 587 G + 114 B) / 1000 in float32, which gives the same
    float32 for every one of the 2^24 colours (tested), in one C pass. Converted in strips of rows
    so that no second full-size float image is made and copied.
    """
    if rgb.mode != "RGB":
        raise ValueError("reference_luma needs an RGB image")
    w, h = rgb.size
    out = np.empty((h, w), dtype=np.float32)
    for top in range(0, h, _LUMA_STRIP):
        bottom = min(h, top + _LUMA_STRIP)
        out[top:bottom] = np.asarray(rgb.crop((0, top, w, bottom)).convert("F"))
    return out


def _to_array(im: Image.Image, want: Want) -> np.ndarray:
    mode = im.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        grey = _scale_to_uint8(_high_depth_array(im))
        if want == "luma":
            return grey.astype(np.float32)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "La":
        im = im.convert("LA")  # premultiplied alpha: Pillow has no direct route to RGB
    if want == "luma" and mode in ("1", "L", "LA", "La"):
        # grey: the reference's RGB is (v, v, v), whose luma is exactly v
        return np.asarray(im if im.mode == "L" else im.convert("L"), dtype=np.float32)
    # Alpha is dropped, not composited: the reference ignores it, and transparent pixels keep their
    # stored colour. Every other mode goes through Pillow's RGB, as the reference's does.
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    return reference_luma(rgb) if want == "luma" else np.asarray(rgb)


def _checked_type(data: bytes, limits: Limits, media_type: MediaType | None) -> MediaType:
    if not data:
        raise MediaError("The file is empty (0 bytes).", code=codes.EMPTY_FILE)
    if len(data) > limits.max_file_bytes:
        raise MediaError(
            f"The file is {len(data):,} bytes, over the limit of {limits.max_file_bytes:,} "
            "(TAKEBACK_MAX_FILE_BYTES).",
            code=codes.FILE_TOO_LARGE,
        )
    mt = media_type or sniff(data[:4096])
    if not mt.is_image or mt.pillow_format is None:
        raise MediaError(f"Not an image: the content looks like {mt.mime}.", code=codes.UNSUPPORTED_TYPE)
    if mt.pillow_format in ("HEIF", "AVIF") and not _HEIF_OK:  # pragma: no cover
        raise MediaError("HEIC/HEIF support (pillow-heif) is not installed.", code=codes.UNSUPPORTED_TYPE)
    return mt


@contextmanager
def _decode_errors(mt: MediaType) -> Iterator[None]:
    """Every expected decoder failure as a :class:`MediaError` with a stable code."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:  # pragma: no cover - we disabled Pillow's guard
        raise MediaError(str(exc), code=codes.TOO_MANY_PIXELS) from None
    except UnidentifiedImageError:
        raise MediaError(
            f"The content starts like {mt.mime} but could not be decoded.", code=codes.CORRUPT
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        text = str(exc)
        if "truncated" in text or isinstance(exc, EOFError) or "broken data stream" in text:
            raise MediaError(
                f"The {mt.mime} file is truncated: the image data ends early.", code=codes.TRUNCATED
            ) from None
        raise MediaError(
            f"The {mt.mime} file is damaged: {text or type(exc).__name__}.", code=codes.CORRUPT
        ) from None
    except MemoryError:
        raise MediaError("Not enough memory to decode this image.", code=codes.TOO_MANY_PIXELS) from None


def _open_loaded(data: bytes, mt: MediaType, limits: Limits) -> tuple[Image.Image, int, int]:
    """(the loaded first frame, its EXIF orientation, its frame count); call within _decode_errors."""
    formats = ["HEIF", "AVIF"] if mt.pillow_format in ("HEIF", "AVIF") else [str(mt.pillow_format)]
    # PNG and JPEG are decoded without their metadata: no text, ICC or EXIF chunk can stop the
    # pixels from being hashed (media.strip says why); orientation is read from the EXIF aside.
    stripped = strip_metadata(data) if mt.pillow_format in ("PNG", "JPEG") else None
    im = Image.open(stripped.open() if stripped else io.BytesIO(data), formats=formats)
    width, height = im.size
    if width <= 0 or height <= 0:
        raise MediaError("The image declares no pixels.", code=codes.CORRUPT)
    if width * height > limits.max_pixels:
        raise MediaError(
            f"The image declares {width:,} x {height:,} = {width * height:,} pixels, over the "
            f"limit of {limits.max_pixels:,} (TAKEBACK_MAX_IMAGE_PIXELS); not decoded, as a "
            "guard against decompression bombs.",
            code=codes.TOO_MANY_PIXELS,
        )
    frame_count = int(getattr(im, "n_frames", 1) or 1)
    orientation = stripped.orientation() if stripped else _orientation(im)
    # No draft("L") for JPEG luma: its Y plane is not the reference's luma (see above).
    im.load()
    return im, orientation, frame_count


def decode_image(
    data: bytes,
    *,
    limits: Limits,
    want: Want = "luma",
    media_type: MediaType | None = None,
) -> DecodedImage:
    """Decode the first frame of an image held in memory; upright, as 8-bit luma or RGB.

    Raises :class:`MediaError` with a stable code for every expected failure.
    """
    mt = _checked_type(data, limits, media_type)
    with _decode_errors(mt):
        im, orientation, frame_count = _open_loaded(data, mt, limits)
        source_mode = im.mode
        op = _ORIENTATION_OPS.get(orientation)
        upright: Image.Image = im if op is None else im.transpose(op)
        pixels = np.ascontiguousarray(_to_array(upright, want))
    h, w = pixels.shape[:2]
    return DecodedImage(
        pixels=pixels,
        media_type=mt,
        width=w,
        height=h,
        source_mode=source_mode,
        orientation=orientation,
        frame_count=frame_count,
    )


def open_image(data: bytes, *, limits: Limits, upright: bool = True) -> Image.Image:
    """The decoded first frame as a Pillow image, in its own mode (alpha kept), with the limits and
    metadata handling of :func:`decode_image`. For analyses that read a large image strip by strip
    (Pillow holds it once; a full NumPy copy, and float copies of it, would multiply that).
    ``upright=False`` keeps the stored pixel order (payloads embedded before EXIF rotation)."""
    mt = _checked_type(data, limits, None)
    with _decode_errors(mt):
        im, orientation, _ = _open_loaded(data, mt, limits)
        op = _ORIENTATION_OPS.get(orientation) if upright else None
        return im if op is None else im.transpose(op)


def decode_pil(image: Image.Image, *, want: Want = "luma") -> np.ndarray:
    """Map an already-open Pillow image (any mode) to upright luma or RGB, as :func:`decode_image`.

    For images produced in memory (animation frames, tests); files go through :func:`decode_image`.
    """
    op = _ORIENTATION_OPS.get(_orientation(image))
    if op is not None:
        image = image.transpose(op)
    return np.ascontiguousarray(_to_array(image, want))
