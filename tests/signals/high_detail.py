"""High-detail pictures for the PDQ cross-checks, generated on demand (never committed).

* :func:`mosaic`: a 4000 x 3000 JPEG-bound picture of 16 photo tiles from the benign photos in
  ``../shared/data/pdq``, the same for the same seed. Each tile is a random 4:3 crop of a random
  photo scaled to 1000 x 750, sometimes mirrored, with its own exposure and contrast (so some tiles
  clip): many detailed, unrelated tiles and saturated colour at hard edges.
* :func:`detailed_image`: synthetic texture at several scales plus strong per-channel noise, so
  that most of PDQ's coefficients sit near their median and a hash moves with small luma changes.

Both are where hashing anything but the reference's luma of the decoded RGB shows. Used by
``tests/signals/test_pdq_reference.py`` and ``benchmarks/bench_hash.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

TILE = (1000, 750)
GRID = (4, 4)
SIZE = (TILE[0] * GRID[0], TILE[1] * GRID[1])  # 4000 x 3000
#: smaller pictures in the folder (thumbnails, 34 x 42 px) would only be blurred up
MIN_SIDE = 128


def detailed_image(w: int, h: int, seed: int) -> np.ndarray:
    """High-detail synthetic RGB picture: texture at several scales plus sensor-like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = (
        128
        + 50 * np.sin(x / rng.uniform(20, 90) + seed)
        + 40 * np.cos(y / rng.uniform(15, 70))
        + 20 * np.sin((x + y) / rng.uniform(3, 9))
    )
    chans = [base + rng.normal(0, 18, (h, w)).astype(np.float32) + 25 * c for c in range(3)]
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


def load_sources(pdq_data: Path) -> list[Image.Image]:
    """Every picture under ``pdq_data`` with a short side of at least ``MIN_SIDE``, upright RGB,
    in path order (load once, then build many mosaics)."""
    out = []
    for path in sorted(p for p in pdq_data.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".webp")):
        with Image.open(path) as im:
            if min(im.size) >= MIN_SIDE:
                out.append(ImageOps.exif_transpose(im).convert("RGB"))
    if not out:
        raise FileNotFoundError(f"no pictures under {pdq_data}")
    return out


def mosaic(sources: list[Image.Image], seed: int) -> Image.Image:
    """One 4000 x 3000 RGB mosaic, determined by ``seed``."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", SIZE)
    tw, th = TILE
    for gy in range(GRID[1]):
        for gx in range(GRID[0]):
            src = sources[int(rng.integers(len(sources)))]
            w, h = src.size
            cw = int(min(w, h * 4 / 3) * rng.uniform(0.35, 1.0))
            ch = cw * 3 // 4
            x0 = int(rng.integers(0, w - cw + 1))
            y0 = int(rng.integers(0, h - ch + 1))
            tile = src.resize(TILE, Image.Resampling.LANCZOS, box=(x0, y0, x0 + cw, y0 + ch))
            if rng.random() < 0.5:
                tile = ImageOps.mirror(tile)
            gain, offset = rng.uniform(0.8, 1.5), rng.uniform(-40, 40)
            a = (np.asarray(tile, dtype=np.float32) - 128) * gain + 128 + offset
            canvas.paste(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), (gx * tw, gy * th))
    return canvas


def write_mosaics(pdq_data: Path, folder: Path, seeds: range | list[int], quality: int = 90) -> list[Path]:
    """One JPEG per seed in ``folder`` (``mosaic-SEED.jpg``; Pillow's defaults otherwise: 4:2:0)."""
    sources = load_sources(pdq_data)
    paths = []
    for seed in seeds:
        path = folder / f"mosaic-{seed:03d}.jpg"
        mosaic(sources, seed).save(path, "JPEG", quality=quality)
        paths.append(path)
    return paths
