"""Detect + embed speed of the ``face`` signal on 2-MP images: detection on a 640-px copy (what
takeback does) against detection at full resolution (the baseline), in the same run (issue 18).

Each image is a synthetic 1920 x 1080 picture with one ORL face (ORL Database of Faces, courtesy of
Olivetti Research Laboratory) raised to about 300 px tall pasted in; timings start from decoded
pixels (decoding is the fingerprint step's cost, measured in bench_hash.py). ``--jobs`` worker
processes (OpenCV limited to one thread each) share the images, so ``--jobs 2`` is "2 cores".

    PYTHONPATH=src .venv/bin/python benchmarks/bench_faces_speed.py --images 60 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ORL = Path(os.environ.get("TAKEBACK_SHARED_DATA", ROOT.parent / "shared" / "data")) / "faces" / "orl"


def _image(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:1080, 0:1920].astype(np.float32)
    base = 110 + 50 * np.sin(x / rng.uniform(20, 90)) + 40 * np.cos(y / rng.uniform(20, 90))
    img = np.clip(np.stack([base + 25 * c for c in range(3)], -1) + rng.normal(0, 8, (1080, 1920, 3)), 0, 255)
    face = Image.open(ORL / f"s{1 + i % 20}" / f"{1 + (i // 20) % 10}.pgm").convert("RGB")
    face = np.asarray(face.resize((246, 300), Image.Resampling.BICUBIC))
    top, left = int(rng.integers(50, 700)), int(rng.integers(50, 1600))
    img[top : top + 300, left : left + 246] = face
    return img.astype(np.uint8)


def _work(args: tuple[list[int], bool]) -> tuple[int, int, float]:
    import cv2

    from takeback.signals.face import FaceOptions, faces_in_pixels
    from takeback.signals.facemodel import get_face_model

    cv2.setNumThreads(1)
    indices, full = args
    images = [_image(i) for i in indices]
    opts = FaceOptions(full_resolution=full)
    faces_in_pixels(images[0], model=get_face_model(), options=opts)  # load and warm up
    t = time.perf_counter()
    found = sum(len(faces_in_pixels(im, options=opts).faces) for im in images)
    return len(images), found, time.perf_counter() - t


def run(n: int, jobs: int, full: bool) -> tuple[float, int]:
    chunks = [list(range(j, n, jobs)) for j in range(jobs)]
    with ProcessPoolExecutor(jobs) as pool:
        results = list(pool.map(_work, [(c, full) for c in chunks]))
    wall = max(r[2] for r in results)
    return sum(r[0] for r in results) / wall, sum(r[1] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    if not ORL.is_dir():
        sys.exit(f"ORL faces not found at {ORL}")
    load = os.getloadavg()
    fast, found_fast = run(a.images, a.jobs, full=False)
    slow, found_slow = run(a.images, a.jobs, full=True)
    after = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; jobs {a.jobs}")
    print(f"load average before {load[0]:.2f}, after {after[0]:.2f}")
    print(
        f"detect at 640 px: {fast:.1f} images/s ({1000 * a.jobs / fast:.0f} ms per image per core), "
        f"faces found {found_fast}/{a.images}"
    )
    print(
        f"detect at full resolution: {slow:.1f} images/s ({1000 * a.jobs / slow:.0f} ms per image per core), "
        f"faces found {found_slow}/{a.images}"
    )
    print(f"speed-up: {fast / slow:.2f}x")


if __name__ == "__main__":
    main()
