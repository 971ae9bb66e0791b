"""Visual features for source → derivative links, computed in worker processes from an image's bytes.

Measured on synthetic scenes (``benchmarks/bench_grouping.py``, results in ``benchmarks/RESULTS.md``):
whole-image PDQ catches re-encodes and most local edits but not crops, background swaps or a body
moved into another picture (distance ≈ 115, like unrelated images). Two cheap, explainable
signals cover those:

* **ORB keypoints + a RANSAC similarity transform** (OpenCV): how many keypoints of one image land,
  under one rotation/scale/shift, on matching keypoints of the other. Crops, background swaps and
  pasted bodies keep tens to hundreds of such inliers; unrelated pictures keep few. The transform's
  scale says which image shows the other's content enlarged (the crop).
* **PDQ of a 3 × 3 grid of regions**: a local edit (a face swap, an "undressing" inpaint) leaves
  most regions within distance 40 of the original's while changing a few; a re-encode changes none.

Features are computed on at most 640 pixels on the long side (plenty for both, and fast), from the
one decoder :func:`takeback.media.decode_image`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from takeback.media import Limits, MediaError, decode_image
from takeback.signals.pdq import hamming, pdq_from_luma

MAX_SIDE = 640
ORB_FEATURES = 500
RATIO = 0.8
RANSAC_PX = 4.0
REGION_MATCH = 40  # region hashes within this distance count as the same region
GRID = 3


@dataclass(frozen=True, slots=True)
class Features:
    width: int  # of the analysed (reduced) luma
    height: int
    points: np.ndarray  # (n, 2) float32, pixels of the reduced luma
    descriptors: np.ndarray | None  # (n, 32) uint8
    regions: tuple[bytes, ...]  # GRID*GRID PDQ hashes, row-major
    tile: int = 0  # the short side of a region, in pixels of the original image


def compute(data: bytes, limits: Limits) -> Features | None:
    import cv2

    try:
        luma = decode_image(data, limits=limits, want="luma").pixels
    except MediaError:
        return None
    h, w = luma.shape
    regions = tuple(
        pdq_from_luma(
            np.ascontiguousarray(
                luma[i * h // GRID : (i + 1) * h // GRID, j * w // GRID : (j + 1) * w // GRID]
            )
        ).hash
        for i in range(GRID)
        for j in range(GRID)
    )
    scale = MAX_SIDE / max(h, w)
    small = (
        luma
        if scale >= 1
        else cv2.resize(
            luma, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    )
    orb = cv2.ORB.create(nfeatures=ORB_FEATURES)
    kps, desc = orb.detectAndCompute((small + 0.5).astype(np.uint8), None)  # ORB wants 8-bit
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return Features(small.shape[1], small.shape[0], pts, desc, regions, min(h, w) // GRID)


def region_votes(a: Features, b: Features) -> tuple[int, int]:
    """(regions within REGION_MATCH, the largest region distance)."""
    d = [hamming(x, y) for x, y in zip(a.regions, b.regions, strict=True)]
    return sum(1 for v in d if v <= REGION_MATCH), max(d)


@dataclass(frozen=True, slots=True)
class Geometric:
    inliers: int
    scale: float  # b's content appears this many times larger in a (a is a crop of b when > 1)
    covered_a: float  # share of a's area spanned by the inliers
    covered_b: float


def geometric_match(a: Features, b: Features) -> Geometric:
    """ORB matches (ratio test) verified by one similarity transform from b to a (RANSAC)."""
    import cv2

    if a.descriptors is None or b.descriptors is None or len(a.descriptors) < 8 or len(b.descriptors) < 8:
        return Geometric(0, 1.0, 0.0, 0.0)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 8:
        return Geometric(0, 1.0, 0.0, 0.0)
    pa = a.points[[m.queryIdx for m in good]]
    pb = b.points[[m.trainIdx for m in good]]
    m, mask = cv2.estimateAffinePartial2D(pb, pa, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    if m is None or mask is None:
        return Geometric(0, 1.0, 0.0, 0.0)
    inl = mask.ravel().astype(bool)
    # scale in "share of the picture" units: pixels are of two differently reduced images
    pixel_scale = float(np.hypot(m[0, 0], m[1, 0]))
    scale = pixel_scale * (max(b.width, b.height) / max(a.width, a.height))
    if not 0.2 < scale < 5.0:
        return Geometric(0, scale, 0.0, 0.0)
    return Geometric(int(inl.sum()), scale, _coverage(pa[inl], a), _coverage(pb[inl], b))


def _coverage(points: np.ndarray, f: Features) -> float:
    if len(points) < 3:
        return 0.0
    lo, hi = points.min(axis=0), points.max(axis=0)
    return float((hi[0] - lo[0]) * (hi[1] - lo[1]) / max(1, f.width * f.height))


def to_wire(f: Features | None) -> dict[str, Any] | None:
    """Plain types for the trip back from a worker."""
    if f is None:
        return None
    return {
        "w": f.width,
        "h": f.height,
        "pts": f.points.tobytes(),
        "desc": None if f.descriptors is None else f.descriptors.tobytes(),
        "regions": list(f.regions),
        "tile": f.tile,
    }


def from_wire(d: dict[str, Any] | None) -> Features | None:
    if d is None:
        return None
    pts = np.frombuffer(d["pts"], dtype=np.float32).reshape(-1, 2)
    desc = None if d["desc"] is None else np.frombuffer(d["desc"], dtype=np.uint8).reshape(-1, 32)
    return Features(d["w"], d["h"], pts, desc, tuple(d["regions"]), int(d.get("tile", 0)))


#: a, b, inliers, scale, regions kept, worst region distance, smaller region side (pixels)
PairResult = tuple[int, int, int, float, int, int, int]


def match_pairs(
    chunk: list[tuple[dict[int, dict[str, Any]], list[tuple[int, int]]]],
) -> list[list[PairResult]]:
    """Worker entry point: geometric and region comparison of pairs, given their items' features."""
    out = []
    for wires, pairs in chunk:
        feats = {i: from_wire(w) for i, w in wires.items()}
        res: list[PairResult] = []
        for a, b in pairs:
            fa, fb = feats.get(a), feats.get(b)
            if fa is None or fb is None:
                continue
            votes, worst = region_votes(fa, fb)
            g = geometric_match(fa, fb)
            res.append((a, b, g.inliers, g.scale, votes, worst, min(fa.tile, fb.tile)))
        out.append(res)
    return out


def run_chunk(chunk: list[tuple[int, bytes]]) -> list[tuple[int, dict[str, Any] | None]]:
    """Worker entry point: features for (item id, bytes) pairs."""
    from takeback.triage.tasks import worker_options

    limits = worker_options().limits
    out = []
    for item_id, data in chunk:
        try:
            out.append((item_id, to_wire(compute(data, limits))))
        except Exception:  # a bad image gets no features; the link step skips it
            out.append((item_id, None))
    return out
