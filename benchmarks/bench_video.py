"""Video fingerprinting throughput against Meta's vPDQ (the ``vpdq`` PyPI package), bank storage cost,
and matching a 10-minute video against a large bank.

1. Hashing: seconds of video fingerprinted per wall-clock second at 1 frame/s (and every frame, as
   banks store), one core (the process is pinned to one CPU; decoder, scaler and BLAS threads off),
   takeback (``vpdq_from_video``) and ``vpdq.computeHash`` on the same files in the same run,
   interleaved, median of ``--repeat`` runs; wall-clock and CPU-time figures (on a shared machine
   the CPU figure is the steadier measure of one core's work). Files are H.264 made here with
   PyAV/libx264 (preset medium, 8 Mbit/s at 1080p and 2.5 Mbit/s at 480p, typical upload rates):
   pans and zooms over the shared benign photos with sensor-like noise and a scene cut every 6 s,
   with the x264 default GOP (keyint 250 + scene cuts) and with 2-second and 1-second GOPs (phones
   and streaming sites use short GOPs).
2. Storage: frames a bank keeps (every distinct frame) per minute of video, on the sample clips and
   the synthetic files.
3. Matching: ``--bank-videos`` videos of ``--frames-per-video`` frame hashes (random, plus one
   10-minute video the query was cut from) in a ``PdqIndex``; the time to match a 10-minute query
   sampled at 1 frame/s (600 frames, each 8 bits from its bank frame).

    python benchmarks/bench_video.py                       # everything, defaults
    python benchmarks/bench_video.py --only hash --seconds 20 --repeat 3
    python benchmarks/bench_video.py --only match --bank-videos 100000 --frames-per-video 100

Writes a JSON summary to stdout; copy the figures into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from takeback.index import PdqIndex
from takeback.matching.video import FRAME_BITS, FrameTable, match_video
from takeback.signals.vpdq import VpdqFrame, VpdqOptions, vpdq_from_video

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
VARIANTS = {  # name: (width, height, GOP frames or None for the x264 default, bit rate)
    "480p_gop_default": (854, 480, None, 2_500_000),
    "1080p_gop_default": (1920, 1080, None, 8_000_000),
    "1080p_gop_2s": (1920, 1080, 60, 8_000_000),
    "1080p_gop_1s": (1920, 1080, 30, 8_000_000),
}


def make_video(
    path: Path, width: int, height: int, seconds: float, gop: int | None, bit_rate: int, fps: int = 30
) -> None:
    photos = sorted(glob.glob(str(SHARED / "pdq" / "reg-test-input" / "exif-rotn" / "*.jpg")))
    photos.append(str(SHARED / "pdq" / "bridge-mods" / "aaa-orig.jpg"))
    sources = []
    for p in photos:
        im = Image.open(p).convert("RGB")
        sources.append(im.reduce(2) if im.width > 3000 else im)
    rng = np.random.default_rng(1)
    tmp = path.with_suffix(".part.mp4")
    out = av.open(str(tmp), "w")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.bit_rate = bit_rate
    opts = {"preset": "medium"}
    if gop:
        opts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    stream.options = opts
    scene = 6.0 * fps
    for i in range(int(seconds * fps)):
        src = sources[int(i // scene) % len(sources)]
        p = (i % scene) / scene
        zoom = 0.9 - 0.25 * p
        cw = min(src.width * zoom, src.height * zoom * width / height)
        ch = cw * height / width
        x0 = (src.width - cw) * (0.2 + 0.6 * p)
        y0 = (src.height - ch) * (0.5 + 0.3 * np.sin(p * 3))
        frame = np.asarray(src.resize((width, height), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)))
        noisy = np.clip(
            frame.astype(np.int16) + rng.integers(-3, 4, (height, width, 1), dtype=np.int16), 0, 255
        )
        vf = av.VideoFrame.from_ndarray(noisy.astype(np.uint8), format="rgb24")
        vf.pts, vf.time_base = i, Fraction(1, fps)
        for pkt in stream.encode(vf):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)
    out.close()
    tmp.replace(path)


def ensure_videos(cache: Path, seconds: float) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, (w, h, gop, rate) in VARIANTS.items():
        path = cache / f"{name}_{int(seconds)}s_v2.mp4"
        if not path.exists():
            print(f"making {path.name} ...", file=sys.stderr)
            make_video(path, w, h, seconds, gop, rate)
        files[name] = path
    return files


def describe(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        keys = sum(1 for p in c.demux(s) if p.is_keyframe)
        duration = float(s.duration * s.time_base)
    return {
        "duration_s": round(duration, 2),
        "keyframes": keys,
        "mbit_s": round(path.stat().st_size * 8 / duration / 1e6, 2),
    }


def time_takeback(path: Path, interval: float, keyframes_only: bool = False) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, frames kept)."""
    t, c = time.perf_counter(), time.process_time()
    opts = VpdqOptions(interval=interval, keyframes_only=keyframes_only, threads=1)
    result = vpdq_from_video(path, options=opts)
    return time.perf_counter() - t, time.process_time() - c, len(result.frames)


def time_vpdq(path: Path, seconds_per_hash: int) -> tuple[float, float, int]:
    import vpdq

    t, c = time.perf_counter(), time.process_time()
    features = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash, thread_count=1)
    return time.perf_counter() - t, time.process_time() - c, len(features)


def bench_hash(files: dict[str, Path], repeat: int, every_frame: bool) -> dict[str, Any]:
    try:
        import vpdq  # noqa: F401
    except ImportError:
        vpdq_ok = False
    else:
        vpdq_ok = True
    out: dict[str, Any] = {}
    for name, path in files.items():
        info = describe(path)
        ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
        for _ in range(repeat):  # interleaved, so load changes hit both alike
            dt, cpu, n_ours = time_takeback(path, 1.0)
            ours.append(dt)
            ours_cpu.append(cpu)
            if vpdq_ok:
                dt, cpu, n_theirs = time_vpdq(path, 1)
                theirs.append(dt)
                theirs_cpu.append(cpu)
        dur = info["duration_s"]
        med = statistics.median
        row: dict[str, Any] = {
            **info,
            "takeback_1fps_x_realtime_wall": round(dur / med(ours), 1),
            "takeback_1fps_x_realtime_cpu": round(dur / med(ours_cpu), 1),
            "takeback_frames": n_ours,
        }
        if theirs:
            row["vpdq_1fps_x_realtime_wall"] = round(dur / med(theirs), 1)
            row["vpdq_1fps_x_realtime_cpu"] = round(dur / med(theirs_cpu), 1)
            row["vpdq_frames"] = n_theirs
            row["speedup_wall"] = round(med(theirs) / med(ours), 2)
            row["speedup_cpu"] = round(med(theirs_cpu) / med(ours_cpu), 2)
        dt, cpu, n_keys = time_takeback(path, 1.0, keyframes_only=True)
        row["takeback_keyframes_only_x_realtime_wall"] = round(dur / dt, 1)
        row["takeback_keyframes_only_x_realtime_cpu"] = round(dur / cpu, 1)
        row["takeback_keyframes_only_frames"] = n_keys
        if every_frame:
            dt, cpu, kept = time_takeback(path, 0.0)
            row["takeback_every_frame_x_realtime_wall"] = round(dur / dt, 2)
            row["takeback_every_frame_x_realtime_cpu"] = round(dur / cpu, 2)
            row["bank_frames_kept"] = kept
            if vpdq_ok:
                dt, cpu, _ = time_vpdq(path, 0)
                row["vpdq_every_frame_x_realtime_wall"] = round(dur / dt, 2)
                row["vpdq_every_frame_x_realtime_cpu"] = round(dur / cpu, 2)
        out[name] = row
        print(name, row, file=sys.stderr)
    return out


def bench_storage(files: dict[str, Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    clips = sorted((SHARED / "video").glob("*.mp4"))
    for path in [*clips, *files.values()]:
        r = vpdq_from_video(path, options=VpdqOptions(interval=0))
        q = vpdq_from_video(path, options=VpdqOptions(interval=1.0))
        minutes = r.duration_s / 60
        hashes = len(r.frames) + len(r.cropped)
        out[path.stem] = {
            "frames": r.frame_count,
            "bank_frames": len(r.frames),
            "bank_cropped": len(r.cropped),
            "bank_hashes_per_minute": round(hashes / minutes),
            "query_1fps_hashes_per_minute": round((len(q.frames) + len(q.cropped)) / minutes),
        }
    return out


def bench_match(n_videos: int, frames_per_video: int, runs: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    n = n_videos * frames_per_video
    t = time.perf_counter()
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    video = np.repeat(np.arange(1, n_videos + 1, dtype=np.int64), frames_per_video)
    k = np.tile(np.arange(frames_per_video, dtype=np.int64), n_videos)
    # One bank video is a 10-minute video stored at 1 distinct frame a second (600 frames).
    target = n_videos + 1
    base = rng.integers(0, 256, (600, 32), dtype=np.uint8)
    hashes = np.concatenate([hashes, base])
    video = np.concatenate([video, np.full(600, target, np.int64)])
    k = np.concatenate([k, np.arange(600, dtype=np.int64)])
    ids = (video << FRAME_BITS) | k  # as VideoMatcher numbers frames
    index = PdqIndex.build(ids, hashes)
    table = FrameTable(id_bits=FRAME_BITS)
    table.add_many(video, ids, k.astype(np.float64), k + 1.0)
    build_s = time.perf_counter() - t
    # The query: the same 10 minutes re-encoded, sampled at 1 frame/s (8 bits moved per frame).
    noisy = base.copy()
    bits = np.unpackbits(noisy, axis=1)
    for row in bits:
        row[rng.choice(256, 8, replace=False)] ^= 1
    noisy = np.packbits(bits, axis=1)
    query = [VpdqFrame(i * 30, 100, noisy[i].tobytes(), float(i)) for i in range(600)]
    unrelated = [
        VpdqFrame(i * 30, 100, rng.integers(0, 256, 32, dtype=np.uint8).tobytes(), float(i))
        for i in range(600)
    ]
    times, times_miss = [], []
    for _ in range(runs):
        t = time.perf_counter()
        found = match_video(query, index=index, table=table, interval=1.0)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        missed = match_video(unrelated, index=index, table=table, interval=1.0)
        times_miss.append(time.perf_counter() - t)
    assert found and found[0].video_id == target and found[0].is_match, found[:1]
    assert not missed
    return {
        "bank_videos": n_videos + 1,
        "bank_frame_hashes": len(ids),
        "build_s": round(build_s, 1),
        "match_10min_query_s_median": round(statistics.median(times), 3),
        "match_10min_query_s_max": round(max(times), 3),
        "unrelated_10min_query_s_median": round(statistics.median(times_miss), 3),
        "verdict": found[0].to_record(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["hash", "storage", "match"], action="append")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each generated video")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-every-frame", action="store_true", help="skip the every-frame (bank side) timing")
    ap.add_argument("--bank-videos", type=int, default=100_000)
    ap.add_argument("--frames-per-video", type=int, default=100)
    ap.add_argument("--match-runs", type=int, default=5)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "takeback-bench-video")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last allowed)")
    args = ap.parse_args()
    parts = set(args.only or ["hash", "storage", "match"])
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    cpu_name = platform.processor()
    with open("/proc/cpuinfo") as fh:
        cpu_name = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu_name)
    report: dict[str, Any] = {
        "machine": {
            "cpu": cpu_name,
            "cores": os.cpu_count(),
            "load_before": os.getloadavg(),
            "python": platform.python_version(),
            "av": av.__version__,
        }
    }
    files = ensure_videos(args.cache, args.seconds) if parts & {"hash", "storage"} else {}
    with threadpool_limits(1):
        if "hash" in parts:
            os.sched_setaffinity(0, {cpu})  # one core for both sides
            report["hash_one_core"] = bench_hash(files, args.repeat, not args.no_every_frame)
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        if "storage" in parts:
            report["storage"] = bench_storage(files)
    if "match" in parts:
        report["match"] = bench_match(args.bank_videos, args.frames_per_video, args.match_runs)
    report["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
