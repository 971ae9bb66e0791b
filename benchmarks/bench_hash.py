"""Images per second for ``takeback hash`` against the naive baseline, in the same run.

Baseline: Pillow full decode (+ EXIF orientation) -> RGB array -> ``pdqhash.compute`` (Meta's C++
reference via the PyPI ``pdqhash`` package), plus SHA-256 and MD5 of the bytes, so both sides do the
same job. The baseline's hash is also the reference: every set reports the bits between the two.

``jpeg_mosaic_12mp``: 4000 x 3000 mosaics of 16 photo tiles from ../shared/data/pdq at quality 90
(``tests/signals/high_detail.py``, seeded, generated here): the compatibility check on high detail.

    python benchmarks/bench_hash.py                 # default corpus sizes
    python benchmarks/bench_hash.py --n-large 12 --n-small 60 --n-png 40 --n-mosaic 8

Writes a JSON summary to stdout; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from threadpoolctl import threadpool_limits

from takeback.signals.batch import fingerprint_paths
from takeback.signals.fingerprint import FingerprintOptions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.signals.high_detail import detailed_image, write_mosaics  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "pdq"


def build_corpus(root: Path, n_large: int, n_small: int, n_png: int, n_mosaic: int) -> dict[str, list[Path]]:
    sets: dict[str, list[Path]] = {
        "jpeg_12mp": [],
        "jpeg_mosaic_12mp": [],
        "jpeg_1mp": [],
        "png_1mp": [],
        "real_photos_12mp": [],
    }
    if n_mosaic:
        sets["jpeg_mosaic_12mp"] = write_mosaics(SHARED, root, range(n_mosaic))
    real = sorted((SHARED / "reg-test-input" / "exif-rotn").glob("*.jpg"))
    for i in range(3):  # four real 4032x3024 phone photos, repeated for a steadier timing
        for p in real:
            dst = root / f"real_{i}_{p.name}"
            shutil.copy(p, dst)
            sets["real_photos_12mp"].append(dst)
    big = detailed_image(4032, 3024, 1)
    for i in range(n_large):
        p = root / f"large_{i:03d}.jpg"
        # vary content cheaply: roll the big image so each file differs
        Image.fromarray(np.roll(big, i * 97, axis=1)).save(p, "JPEG", quality=90)
        sets["jpeg_12mp"].append(p)
    for i in range(n_small):
        p = root / f"small_{i:03d}.jpg"
        Image.fromarray(detailed_image(1152, 864, 100 + i)).save(p, "JPEG", quality=90)
        sets["jpeg_1mp"].append(p)
    for i in range(n_png):
        p = root / f"png_{i:03d}.png"
        Image.fromarray(detailed_image(1152, 864, 500 + i)).save(p, "PNG", compress_level=6)
        sets["png_1mp"].append(p)
    return sets


def baseline_one(path: Path) -> str:
    import pdqhash

    data = path.read_bytes()
    hashlib.sha256(data).hexdigest()
    hashlib.md5(data, usedforsecurity=False).hexdigest()
    # exif_transpose so hashes are comparable on the real (rotated-tag) photos; cheap next to hashing
    rgb = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    bits, _q = pdqhash.compute(rgb)
    return f"{int(''.join(str(int(b)) for b in bits), 2):064x}"


def rate(fn, paths: list[Path]) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(paths)
    return len(paths) / (time.perf_counter() - t), out


def ours(paths: list[Path], jobs: int) -> list[str]:
    recs = list(fingerprint_paths([str(p) for p in paths], options=FingerprintOptions(), jobs=jobs))
    assert all(r.error is None for r in recs), [r.error for r in recs if r.error]
    return [str(r.hex("pdq")) for r in recs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-large", type=int, default=12)
    ap.add_argument("--n-small", type=int, default=60)
    ap.add_argument("--n-png", type=int, default=40)
    ap.add_argument("--n-mosaic", type=int, default=8, help="4000x3000 photo mosaics (seeds 0..N-1)")
    ap.add_argument("--keep", help="reuse/keep the corpus in this folder")
    args = ap.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tb-bench-hash-"))
    root.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    sets = build_corpus(root, args.n_large, args.n_small, args.n_png, args.n_mosaic)
    print(f"corpus built in {time.perf_counter() - t:.1f}s at {root}", file=sys.stderr)

    results: dict[str, object] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    for name, paths in sets.items():
        if not paths:
            continue
        ours(paths[:2], 1)  # warm caches (filter matrices, page cache)
        with threadpool_limits(1):
            base_rate, base_hashes = rate(lambda ps: [baseline_one(p) for p in ps], paths)
        one_rate, one_hashes = rate(lambda ps: ours(ps, 1), paths)
        two_rate, _ = rate(lambda ps: ours(ps, 2), paths)
        dists = [(int(a, 16) ^ int(b, 16)).bit_count() for a, b in zip(one_hashes, base_hashes, strict=True)]
        results[name] = {
            "files": len(paths),
            "baseline_img_per_s_1core": round(base_rate, 2),
            "takeback_img_per_s_1core": round(one_rate, 2),
            "takeback_img_per_s_2jobs": round(two_rate, 2),
            "speedup_vs_baseline_1core": round(one_rate / base_rate, 2),
            "parallel_scaling_2jobs": round(two_rate / one_rate, 2),
            "max_bits_from_baseline": max(dists),
            "mean_bits_from_baseline": round(float(np.mean(dists)), 2),
        }
        print(name, results[name], file=sys.stderr)
    # the CLI end to end on the 1-MP set, as a user runs it
    exe = shutil.which("takeback")
    if exe and sets["jpeg_1mp"]:
        t = time.perf_counter()
        subprocess.run(
            [exe, "hash", "-f", "jsonl", *map(str, sets["jpeg_1mp"])], check=True, stdout=subprocess.DEVNULL
        )
        results["cli_jpeg_1mp_img_per_s"] = round(len(sets["jpeg_1mp"]) / (time.perf_counter() - t), 2)
    print(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
