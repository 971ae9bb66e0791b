"""Provenance benchmark: how long each trace survives ordinary handling, and how fast ``inspect`` runs.

1. Robustness: for each signal, N fixtures (synthetic pictures carrying it, built the way each tool
   writes it), each passed through an ordinary transformation done the way most software does it
   (Pillow re-save without copying metadata); the share of files on which ``inspect`` still reports the
   signal.
2. Throughput on 2-MP JPEGs, one core: ``inspect`` without and with watermark decoding, against two
   baselines measured in the same run: a plain Pillow full decode of the same file, and the reference
   ``imwatermark`` dwtDct decoder (when installed) for the watermark step.

Usage: .venv/bin/python benchmarks/bench_provenance.py [--n 8] [--n-throughput 40]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.analysis.c2pa_helpers import make_chain, sign_jpeg  # noqa: E402
from tests.analysis.fixtures import (  # noqa: E402
    A1111_TEXT,
    dst_description,
    embed_dwtdct,
    embed_stealth,
    jpeg_with_exif,
    novelai_fields,
    png_with_text,
    reference_maxdct,
    user_comment_unicode,
    xmp_packet,
)
from tests.conftest import synthetic_photo  # noqa: E402

from takeback.analysis.provenance import InspectOptions, inspect  # noqa: E402
from takeback.analysis.provenance.watermark import PAYLOADS  # noqa: E402

# --- transformations -----------------------------------------------------------------------------


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _save(arr: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def _same_format(data: bytes, arr: np.ndarray) -> bytes:
    fmt = Image.open(io.BytesIO(data)).format or "PNG"
    return _save(arr, fmt, **({"quality": 90} if fmt == "JPEG" else {}))


def _resize(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data))
    mode = "RGBA" if "A" in im.getbands() else "RGB"
    arr = np.asarray(im.convert(mode))
    small = cv2.resize(arr, (arr.shape[1] // 2, arr.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return _same_format(data, small)


def _crop(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data))
    mode = "RGBA" if "A" in im.getbands() else "RGB"
    arr = np.asarray(im.convert(mode))
    h, w = arr.shape[:2]
    dy, dx = h // 20, w // 20  # 5 % off each side: 10 % of each dimension
    return _same_format(data, np.ascontiguousarray(arr[dy : h - dy, dx : w - dx]))


def _screenshot(data: bytes) -> bytes:
    """Screen-capture-like: composited to RGB, scaled by 0.9 (display scaling), saved as PNG."""
    arr = _rgb(data)
    scaled = cv2.resize(
        arr, (int(arr.shape[1] * 0.9), int(arr.shape[0] * 0.9)), interpolation=cv2.INTER_LINEAR
    )
    return _save(scaled, "PNG")


TRANSFORMS: dict[str, Callable[[bytes], bytes]] = {
    "original": lambda d: d,
    # Two gentler handlings, to show what it takes to keep each trace (not in the list):
    "PNG re-save": lambda d: _save(np.asarray(Image.open(io.BytesIO(d))), "PNG"),
    "JPEG q95 4:4:4": lambda d: _save(_rgb(d), "JPEG", quality=95, subsampling=0),
    "JPEG q95": lambda d: _save(_rgb(d), "JPEG", quality=95),
    "JPEG q85": lambda d: _save(_rgb(d), "JPEG", quality=85),
    "JPEG q75": lambda d: _save(_rgb(d), "JPEG", quality=75),
    "JPEG q50": lambda d: _save(_rgb(d), "JPEG", quality=50),
    "resize 0.5x": _resize,
    "crop 10 %": _crop,
    "screenshot (0.9x, PNG)": _screenshot,
}

# --- fixtures per signal ---------------------------------------------------------------------------


def _png(seed: int, texts: dict[str, str]) -> bytes:
    del seed
    return png_with_text(texts)


def _wm(seed: int, bits: tuple[int, ...]) -> bytes:
    rgb = synthetic_photo(768, 768, seed=seed)
    bgr = embed_dwtdct(np.ascontiguousarray(rgb[:, :, ::-1]), bits)
    return _save(np.ascontiguousarray(bgr[:, :, ::-1]), "PNG")


def _stealth(seed: int) -> bytes:
    rgb = synthetic_photo(512, 768, seed=seed)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    payload = gzip.compress(json.dumps(novelai_fields()).encode())
    return _save(embed_stealth(rgba, payload), "PNG")


_CHAIN = None


def _c2pa(seed: int) -> bytes:
    global _CHAIN
    _CHAIN = _CHAIN or make_chain()
    return sign_jpeg(_save(synthetic_photo(640, 480, seed=seed), "JPEG", quality=92), _CHAIN)


def _xmp_jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(640, 480, seed=seed)).save(
        buf, "JPEG", quality=92, xmp=xmp_packet(dst_description("trainedAlgorithmicMedia"))
    )
    return buf.getvalue()


COMFY = {"3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}}}

SIGNALS: list[tuple[str, str, Callable[[int], bytes]]] = [
    ("C2PA manifest (tier 1)", "c2pa.manifest", _c2pa),
    ("A1111 PNG parameters", "generator.a1111", lambda s: _png(s, {"parameters": A1111_TEXT})),
    (
        "A1111 JPEG EXIF UserComment",
        "generator.a1111",
        lambda s: jpeg_with_exif({}, ifd_tags={0x9286: user_comment_unicode(A1111_TEXT)}),
    ),
    ("ComfyUI prompt/workflow", "generator.comfyui", lambda s: _png(s, {"prompt": json.dumps(COMFY)})),
    ("NovelAI PNG text", "generator.novelai", lambda s: _png(s, novelai_fields())),
    ("NovelAI alpha stealth_pngcomp", "generator.novelai_stealth", _stealth),
    (
        "InvokeAI invokeai_metadata",
        "generator.invokeai",
        lambda s: _png(s, {"invokeai_metadata": json.dumps({"seed": s, "positive_prompt": "x"})}),
    ),
    ("XMP DigitalSourceType", "xmp.digital_source_type", _xmp_jpeg),
    *[
        (f"dwtDct watermark {p.name}", "watermark.dwtdct", (lambda bits: lambda s: _wm(s, bits))(p.bits))
        for p in PAYLOADS
    ],
]


def robustness(n: int) -> list[tuple[str, dict[str, float]]]:
    rows = []
    for label, kind, make in SIGNALS:
        fixtures = [make(seed) for seed in range(n)]
        shares: dict[str, float] = {}
        for tname, transform in TRANSFORMS.items():
            hits = 0
            for data in fixtures:
                found = inspect(transform(data))
                hits += any(f.kind == kind and f.error is None for f in found.findings)
            shares[tname] = hits / len(fixtures)
        rows.append((label, shares))
        print(f"  {label}: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()), flush=True)
    return rows


# --- throughput ----------------------------------------------------------------------------------


def two_mp_jpegs(n: int) -> list[bytes]:
    out = []
    for seed in range(n):
        arr = synthetic_photo(1632, 1224, seed=seed)
        exif = Image.Exif()
        exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "EOS R5", "Firmware 1.8"
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=90, exif=exif.tobytes())
        out.append(buf.getvalue())
    return out


def rate(fn: Callable[[bytes], object], files: list[bytes], repeats: int = 3) -> float:
    best = []
    for _ in range(repeats):
        t = time.perf_counter()
        for data in files:
            fn(data)
        best.append(len(files) / (time.perf_counter() - t))
    return max(best)


def throughput(n: int) -> dict[str, float]:
    files = two_mp_jpegs(n)
    no_wm = InspectOptions(watermarks=False)
    with_wm = InspectOptions(watermarks=True)
    ref = reference_maxdct()
    results: dict[str, float] = {}
    with threadpool_limits(1):
        cv2.setNumThreads(1)
        inspect(files[0], options=no_wm)  # warm imports
        results["inspect, no watermark decoding"] = rate(lambda d: inspect(d, options=no_wm), files)
        results["inspect, with watermark decoding"] = rate(lambda d: inspect(d, options=with_wm), files)
        results["baseline: Pillow full decode"] = rate(lambda d: Image.open(io.BytesIO(d)).load(), files)
        if ref is not None:

            def reference_wm(d: bytes) -> None:
                bgr = np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(d)).convert("RGB"))[:, :, ::-1])
                for p in PAYLOADS:
                    ref.EmbedMaxDct([], wmLen=len(p.bits)).decode(bgr)

            results["baseline: reference imwatermark decode (4 payloads)"] = rate(
                reference_wm, files, repeats=1
            )
        # PNGs cost more: the NovelAI stealth check reads every pixel's alpha/RGB lowest bit.
        pngs = [_save(np.asarray(Image.open(io.BytesIO(d))), "PNG") for d in files[: max(4, len(files) // 4)]]
        results["2-MP PNG: inspect, no watermark decoding (stealth check decodes)"] = rate(
            lambda d: inspect(d, options=no_wm), pngs
        )
        results["2-MP PNG: baseline Pillow full decode"] = rate(
            lambda d: Image.open(io.BytesIO(d)).load(), pngs
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8, help="fixtures per signal for the robustness table")
    ap.add_argument("--n-throughput", type=int, default=40, help="2-MP JPEGs for the throughput run")
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print("robustness (share still detected):")
    rows = robustness(args.n)
    print()
    header = "| signal | " + " | ".join(TRANSFORMS) + " |"
    print(header)
    print("|" + "---|" * (len(TRANSFORMS) + 1))
    for label, shares in rows:
        print(f"| {label} | " + " | ".join(f"{v:.0%}" for v in shares.values()) + " |")
    print()
    print(f"throughput, one core, {args.n_throughput} synthetic 2-MP (1632x1224) JPEGs q90 with camera EXIF:")
    res = throughput(args.n_throughput)
    base = res["baseline: Pillow full decode"]
    for k, v in res.items():
        print(f"  {k}: {v:.1f} img/s ({v / base:.2f}x the Pillow decode); {1000 / v:.1f} ms per image")
    wm_cost = 1000 / res["inspect, with watermark decoding"] - 1000 / res["inspect, no watermark decoding"]
    print(f"  watermark decoding adds {wm_cost:.1f} ms per image")


if __name__ == "__main__":
    main()
