"""PDQ: Meta's 256-bit perceptual hash for photos, reimplemented in NumPy.

The reference C++ blurs the *full-resolution* luma with four box-filter passes (two per axis,
"Jarosz" filters) and then keeps 64 x 64 samples. Those passes are linear, so we fold "two box
passes, then decimate" into one (n x 64) weight matrix per axis. Each of the 64 outputs depends
only on a band of about n / 64 consecutive lines, so the vertical pass is 64 weighted sums of
bands (every pixel read once) and the horizontal one a small (64 x w) @ (w x 64) product: the
same numbers as the reference up to float rounding, several times faster, because nothing is
computed for the pixels that decimation throws away. The luma itself must be the reference's
(:func:`takeback.media.decode.reference_luma`): float, not rounded, from the decoded RGB.

Steps: 64 x 64 downsample -> quality from gradients -> 16 x 16 DCT (DC dropped) -> bit set where a
coefficient exceeds the median. The eight dihedral hashes (rotations and flips) come from sign
flips and a transpose of the same 16 x 16 coefficients, with no second decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from takeback.signals.base import ContentType, IndexKind, SignalType, SignalValue

#: Matches at distance <= 31 of 256 bits (the PDQ paper's operating point).
MATCH_THRESHOLD = 31
#: Below this quality the hash mostly encodes noise or flat regions; flagged, never dropped.
LOW_QUALITY = 50
#: The reference refuses images smaller than this in either dimension (hash of all zeros, quality 0).
MIN_DIMENSION = 5

DIHEDRAL_NAMES: tuple[str, ...] = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)


@lru_cache(maxsize=256)
def _downsample_matrix(n: int) -> np.ndarray:
    """(n, 64) float32 weights reproducing the reference's 2 box passes + decimation along one axis.

    The reference box filter of odd or even width ``w`` averages ``in[i - (w - h) .. i + (h - 1)]``
    with ``h = (w + 2) // 2``, clipped to the vector (fewer samples at the edges); decimation keeps
    ``int((k + 0.5) * n / 64)`` for k = 0..63.
    """
    w = (n + 128 - 1) // 128
    half = (w + 2) // 2
    lo, hi = w - half, half - 1
    idx = np.arange(n)
    starts = np.maximum(idx - lo, 0)
    ends = np.minimum(idx + hi, n - 1)  # inclusive
    counts = (ends - starts + 1).astype(np.float64)
    out = np.zeros((64, n), dtype=np.float64)
    for k in range(64):
        i = int(((k + 0.5) * n) / 64)
        for j in range(starts[i], ends[i] + 1):  # samples feeding the second pass at i
            out[k, starts[j] : ends[j] + 1] += 1.0 / counts[i] / counts[j]
    return np.ascontiguousarray(out.T.astype(np.float32))


@lru_cache(maxsize=256)
def _bands(n: int) -> tuple[tuple[int, int, np.ndarray], ...]:
    """Per output k, ``(start, stop, weights)``: the band of lines it depends on and their weights.

    The support of each column of :func:`_downsample_matrix` is contiguous (a box of boxes), about
    2 * ceil(n / 128) lines wide, so the bands of neighbouring outputs barely overlap.
    """
    m = _downsample_matrix(n)
    bands = []
    for k in range(64):
        nz = np.flatnonzero(m[:, k])
        start, stop = int(nz[0]), int(nz[-1]) + 1
        bands.append((start, stop, np.ascontiguousarray(m[start:stop, k])))
    return tuple(bands)


_DCT = np.array(
    [
        [math.sqrt(2.0 / 64.0) * math.cos((math.pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)) for j in range(64)]
        for i in range(16)
    ],
    dtype=np.float64,
)
# Sign pattern of the DCT basis under reversal: cos basis u+1 picks up (-1)^(u+1).
_S = np.array([(-1.0) ** (u + 1) for u in range(16)])


def downsample64(luma: np.ndarray) -> np.ndarray:
    """64 x 64 float64 downsample of a (H, W) luma array (any numeric dtype, values 0..255)."""
    h, w = luma.shape
    acc = np.empty((64, w), dtype=np.float32)
    for k, (start, stop, weights) in enumerate(_bands(h)):
        # one weighted sum of a band of rows: every pixel is read about once, in memory order
        np.matmul(weights, luma[start:stop].astype(np.float32, copy=False), out=acc[k])
    out: np.ndarray = (acc @ _downsample_matrix(w)).astype(np.float64)
    return out


def quality_of(b64: np.ndarray) -> int:
    """The reference's quality: summed absolute gradients (each truncated to int) / 90, capped at 100."""
    b = b64.astype(np.float32)
    dv = np.trunc((b[:-1, :] - b[1:, :]) * np.float32(100) / np.float32(255))
    dh = np.trunc((b[:, :-1] - b[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(dv).sum(dtype=np.int64) + np.abs(dh).sum(dtype=np.int64))
    return min(100, total // 90)


def _bits(coeffs: np.ndarray) -> bytes:
    """Bit k (row-major over 16 x 16) is set where the coefficient exceeds the lower median.

    Packed so that the hex string equals the reference's (bit k is bit k of a 256-bit big-endian int).
    """
    flat = coeffs.reshape(256)
    median = np.partition(flat, 127)[127]
    return np.packbits((flat > median)[::-1]).tobytes()


def _dihedral_coeffs(c: np.ndarray) -> tuple[np.ndarray, ...]:
    """The 8 orientations' DCT coefficients, in DIHEDRAL_NAMES order, from the original's."""
    s = _S
    return (
        c,
        (c * s[None, :]).T,  # rotate 90
        s[:, None] * c * s[None, :],  # rotate 180
        (s[:, None] * c).T,  # rotate 270
        s[:, None] * c,  # flip x
        c * s[None, :],  # flip y
        c.T,  # flip +1 (transpose)
        (s[:, None] * c * s[None, :]).T,  # flip -1 (anti-transpose)
    )


@dataclass(frozen=True, slots=True)
class PdqResult:
    """A PDQ hash (32 bytes), its quality 0-100 and, when asked, the 8 dihedral hashes."""

    hash: bytes
    quality: int
    dihedral: tuple[bytes, ...] | None = None

    @property
    def hex(self) -> str:
        return self.hash.hex()

    @property
    def low_quality(self) -> bool:
        return self.quality < LOW_QUALITY


def pdq_from_luma(luma: np.ndarray, *, dihedral: bool = False) -> PdqResult:
    """PDQ of an upright (H, W) luma image; ``dihedral`` adds the 8 orientation hashes."""
    if luma.ndim != 2:
        raise ValueError("luma must be a 2-D array")
    h, w = luma.shape
    if h < MIN_DIMENSION or w < MIN_DIMENSION:
        zero = bytes(32)
        return PdqResult(zero, 0, (zero,) * 8 if dihedral else None)
    b64 = downsample64(luma)
    quality = quality_of(b64)
    coeffs = _DCT @ b64 @ _DCT.T
    if not dihedral:
        return PdqResult(_bits(coeffs), quality)
    hashes = tuple(_bits(c) for c in _dihedral_coeffs(coeffs))
    return PdqResult(hashes[0], quality, hashes)


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


class PdqSignal(SignalType):
    """PDQ perceptual hash of a photo (256 bits + quality).

    Robust to re-encoding, resizing, mild blur and colour changes; not to crops or rotations (use the
    dihedral hashes for rotations and flips). Quality below 50 means the image is too flat or small for
    the hash to be trusted: such hashes are kept and flagged, since dropping them would silently hide a
    possible match.
    """

    name = "pdq"
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PHOTO})
    index_kind = IndexKind.HAMMING256
    default_threshold = MATCH_THRESHOLD
    size = 32
    has_quality = True
    low_quality_below = LOW_QUALITY
    variant_names = DIHEDRAL_NAMES
    variants_field = "pdq_dihedral"
    examples = ("f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22",)

    def distance(self, a: bytes, b: bytes) -> int:
        return hamming(a, b)

    def from_luma(self, luma: np.ndarray, *, variants: bool = False) -> SignalValue:
        """The PDQ value of an upright luma image; ``variants``: its eight orientations too."""
        r = pdq_from_luma(luma, dihedral=variants)
        return SignalValue(self.name, r.hash, r.quality, r.dihedral or ())
