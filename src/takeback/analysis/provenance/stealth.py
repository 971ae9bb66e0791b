"""NovelAI's "stealth" metadata: the same fields as its PNG text chunks, hidden in pixel LSBs.

NovelAI writes ``stealth_pngcomp`` into the lowest bit of the alpha channel, read column by column
(top to bottom, then left to right): the 15-byte magic, a 32-bit big-endian length in *bits*, then a
gzip-compressed JSON object. Community tools (the A1111 "stealth pnginfo" extension) also write
``stealth_pnginfo`` (uncompressed) in alpha and ``stealth_rgbinfo``/``stealth_rgbcomp`` in the RGB
LSBs. Metadata stripping leaves it in place, which is why it matters.

Bounded: the declared length is checked against the pixels available and :data:`MAX_PAYLOAD_BYTES`,
and gzip is inflated with a hard output limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from takeback.analysis.provenance.containers import bounded_inflate

MAGICS = {
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_rgbcomp": ("rgb", True),
    b"stealth_rgbinfo": ("rgb", False),
}
MAGIC_LEN = 15
MAX_PAYLOAD_BYTES = 4 << 20
MAX_INFLATED_BYTES = 8 << 20


@dataclass(slots=True)
class StealthPayload:
    magic: str
    channel: str
    compressed: bool
    declared_bits: int
    raw: bytes
    text: str | None = None
    fields: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None


def _lsb_stream(pixels: np.ndarray | Columns, channel: str, max_bits: int | None = None) -> np.ndarray:
    """LSBs in NovelAI's order: column-major over pixels; RGB mode takes R, G, B of each pixel.

    ``max_bits`` limits the work to the columns that hold them (the magic sits in column 0).
    """
    h = pixels.shape[0]
    per_pixel = 1 if channel == "alpha" else 3
    cols = pixels.shape[1] if max_bits is None else min(pixels.shape[1], -(-max_bits // (h * per_pixel)))
    part = pixels[:, :cols]
    if channel == "alpha":
        return np.ascontiguousarray((part[:, :, 3] & 1).T).reshape(-1)
    return np.ascontiguousarray((part[:, :, :3] & 1).transpose(1, 0, 2)).reshape(-1)


def _bytes_at(bits: np.ndarray, start_bit: int, n_bytes: int) -> bytes | None:
    end = start_bit + n_bytes * 8
    if end > bits.size:
        return None
    return np.packbits(bits[start_bit:end]).tobytes()


class Columns(Protocol):
    """What :func:`read` needs of an image: its shape and its first columns (``[:, :n]``) as a
    uint8 array, so that a large image is never converted whole (the payload sits in the columns
    at the left, read column by column)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def ndim(self) -> int: ...

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray: ...


def read(pixels: np.ndarray | Columns) -> StealthPayload | None:
    """Find and decode a stealth payload in an RGBA (H, W, 4) or RGB (H, W, 3) uint8 image."""
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        return None
    channels = ["alpha", "rgb"] if pixels.shape[2] == 4 else ["rgb"]
    for channel in channels:
        head = _bytes_at(_lsb_stream(pixels, channel, (MAGIC_LEN + 4) * 8), 0, MAGIC_LEN)
        if head is None or head not in MAGICS:
            continue
        mode, compressed = MAGICS[head]
        if mode != channel:
            continue
        length_bytes = _bytes_at(_lsb_stream(pixels, channel, (MAGIC_LEN + 4) * 8), MAGIC_LEN * 8, 4)
        if length_bytes is None:
            return _failed(
                head, channel, compressed, 0, "truncated_payload", "The payload ends after its magic."
            )
        declared = int.from_bytes(length_bytes, "big")
        n_bytes = declared // 8
        start = (MAGIC_LEN + 4) * 8
        available = pixels.shape[0] * pixels.shape[1] * (1 if channel == "alpha" else 3)
        if n_bytes > MAX_PAYLOAD_BYTES or start + n_bytes * 8 > available:
            return _failed(
                head,
                channel,
                compressed,
                declared,
                "invalid_length",
                f"The payload declares {declared:,} bits, more than the image holds or over the limit.",
            )
        # only the columns that hold the declared payload, never the whole image's bits
        raw = _bytes_at(_lsb_stream(pixels, channel, start + n_bytes * 8), start, n_bytes) or b""
        return _decode(StealthPayload(head.decode(), channel, compressed, declared, raw))
    return None


def _failed(
    head: bytes, channel: str, compressed: bool, declared: int, code: str, message: str
) -> StealthPayload:
    return StealthPayload(head.decode(), channel, compressed, declared, b"", None, None, code, message)


def _decode(p: StealthPayload) -> StealthPayload:
    data = p.raw
    if p.compressed:
        inflated, err = bounded_inflate(data, MAX_INFLATED_BYTES, wbits=31)  # 31: gzip framing
        if inflated is None:
            p.error_code = "invalid_gzip" if err == "invalid_compression" else err
            p.error_message = (
                "The hidden payload is not valid gzip (damaged, or not NovelAI's format)."
                if err == "invalid_compression"
                else "The hidden payload inflates past the size limit; not read."
            )
            return p
        data = inflated
    try:
        p.text = data.decode("utf-8")
    except UnicodeDecodeError:
        p.text = data.decode("utf-8", errors="replace")
        p.error_code, p.error_message = "invalid_utf8", "The hidden payload is not valid UTF-8 text."
        return p
    try:
        parsed = json.loads(p.text)
    except (ValueError, RecursionError):
        return p  # the A1111 extension stores its plain "parameters" text: the caller parses that
    if isinstance(parsed, dict):
        p.fields = {str(k): v for k, v in parsed.items()}
    return p
