"""Find uniform borders (letterbox / pillarbox bars, plain frames around a picture) in luma.

Why: a perceptual hash sees the whole frame, so the same picture with and without black bars (or a
grey frame, or a screenshot's plain margin) hashes far apart: on the sample clips ``pattern-sd-grey-bar``
shares 0 % of its frame hashes with ``pattern-hd-no-bar`` as decoded, 99 % once the bars are cropped.
Callers hash the content inside the border *as well as* the whole frame, so a wrong guess only
adds a hash and never loses one.

A border line (row or column) is flat (low spread) and the same shade as the outermost line;
bars stop at the first line that is not. Flat pictures (a plain wall) are not borders: the content
left inside must keep a real share of the frame and have detail of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest standard deviation (0..255 luma) of a line that still counts as flat: compressed black
#: bars measure 0-2.5 here, real picture content far more.
FLAT_STD = 6.0
#: Largest difference between a line's mean and the outermost line's mean within one bar.
SAME_SHADE = 10.0
#: A border must be at least this share of its dimension (and 2 pixels) to count.
MIN_BAR_SHARE = 0.01
#: What is left inside must be at least this share of each dimension.
MIN_CONTENT_SHARE = 0.2
#: ... and not itself flat.
MIN_CONTENT_STD = 2.0 * FLAT_STD


@dataclass(frozen=True, slots=True)
class Box:
    """The content rectangle inside a border, in pixels of the analysed image (end-exclusive)."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def crop(self, pixels: np.ndarray) -> np.ndarray:
        return pixels[self.top : self.bottom, self.left : self.right]

    def to_list(self) -> list[int]:
        """``[top, bottom, left, right]``: the form records carry."""
        return [self.top, self.bottom, self.left, self.right]


def _bar_length(means: np.ndarray, stds: np.ndarray, limit: int) -> int:
    """How many lines from index 0 are flat and of the outermost line's shade (at most ``limit``)."""
    flat = (stds[:limit] <= FLAT_STD) & (np.abs(means[:limit] - means[0]) <= SAME_SHADE)
    if not flat.size or not flat[0]:
        return 0
    stops = np.flatnonzero(~flat)
    return int(stops[0]) if stops.size else int(flat.size)


def find_border(luma: np.ndarray) -> Box | None:
    """The content box inside a uniform border of an (H, W) luma image, or ``None`` if there is none.

    Works on a subsampled view (every 2nd or 4th pixel), so it costs well under a millisecond on a
    1080p frame; the box is exact to the sampling step, which moves a PDQ hash by a bit or two.
    """
    if luma.ndim != 2:
        raise ValueError("luma must be a 2-D array")
    h, w = luma.shape
    step = 4 if min(h, w) >= 1000 else 2 if min(h, w) >= 200 else 1
    small = np.asarray(luma[::step, ::step], dtype=np.float32)
    sh, sw = small.shape
    if sh < 8 or sw < 8:
        return None
    row_mean, row_std = small.mean(axis=1), small.std(axis=1)
    col_mean, col_std = small.mean(axis=0), small.std(axis=0)
    # A side may take up to (1 - MIN_CONTENT_SHARE) of the frame (a portrait clip in a landscape
    # frame leaves ~30 % per side); the content test below decides.
    lim_h, lim_w = sh - 1, sw - 1
    top = _bar_length(row_mean, row_std, lim_h)
    bottom = _bar_length(row_mean[::-1], row_std[::-1], lim_h)
    left = _bar_length(col_mean, col_std, lim_w)
    right = _bar_length(col_mean[::-1], col_std[::-1], lim_w)
    min_h, min_w = max(2, MIN_BAR_SHARE * h), max(2, MIN_BAR_SHARE * w)
    top, bottom = (n * step if n * step >= min_h else 0 for n in (top, bottom))
    left, right = (n * step if n * step >= min_w else 0 for n in (left, right))
    if not (top or bottom or left or right):
        return None
    box = Box(top=top, bottom=h - bottom, left=left, right=w - right)
    if box.height < MIN_CONTENT_SHARE * h or box.width < MIN_CONTENT_SHARE * w:
        return None
    inner = small[top // step : (h - bottom) // step, left // step : (w - right) // step]
    if inner.size == 0 or float(inner.std()) < MIN_CONTENT_STD:
        return None
    return box
