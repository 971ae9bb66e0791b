"""Benchmark ``takeback scan``: throughput, memory, resume after kill -9, against a naive baseline.

Modes (each builds its corpus in a temporary folder, synthetic images only):

* ``throughput`` — ``--n-2mp`` 2-MP JPEGs in per-person folders of 50. Baseline: ``sha256sum`` over
  the files plus a naive Python loop of Pillow decode + ``pdqhash.compute`` (Meta's C++ PDQ), one
  process. takeback: the real CLI with ``-j 2``, nudity off, then on. The processing rate is items
  over the span of their ``processed_at`` times; the end-to-end rate includes start-up, listing,
  grouping, report and exports.
* ``corpus`` — the mixed corpus (``--n``, default 20,000): photos 1-12 MP, PNGs with generator
  metadata, short videos, documents, 2 % damaged files and a nested ZIP; scanned with ``-j 2``.
* ``memory`` — ``--tiny`` tiny files (default 1,000,000) in 1,000 folders; peak RSS of the whole
  process tree (scan + workers), sampled every 0.2 s.
* ``resume`` — ``--kills`` kill -9 at random moments, then a final run; every item processed
  exactly once is checked, and the repeats counted against the in-flight bound.

Example: ``.venv/bin/python benchmarks/bench_scan.py --mode throughput --n-2mp 600``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


# --- corpus -------------------------------------------------------------------------------------------


def _base_images(rng: np.random.Generator, n: int, w: int, h: int) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        f = rng.uniform(20, 120, 2)
        base = 120 + 60 * np.sin(x / f[0]) + 50 * np.cos(y / f[1])
        img = np.stack([base + 25 * c for c in range(3)], axis=-1)
        for _ in range(8):
            cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(20, max(21, w // 5))
            img[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = rng.uniform(0, 255, 3)
        out.append(img.astype(np.float32))
    return out


def _variant(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A distinct picture from a base: shifted, recoloured, with its own noise (cheap to make)."""
    img = np.roll(
        base, (int(rng.integers(0, base.shape[0])), int(rng.integers(0, base.shape[1]))), axis=(0, 1)
    )
    img = img * rng.uniform(0.8, 1.2, 3) + rng.normal(0, 6, (1, 1, 3))
    noise = rng.normal(0, 8, (base.shape[0] // 8 + 1, base.shape[1] // 8 + 1, 1)).astype(np.float32)
    img += np.kron(noise, np.ones((8, 8, 1), np.float32))[: base.shape[0], : base.shape[1]]
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _a1111_png(img: np.ndarray, seed: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        f"portrait\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, "
        f"Size: {img.shape[1]}x{img.shape[0]}, Model: v1-5-pruned-emaonly",
    )
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", pnginfo=info, compress_level=1)
    return buf.getvalue()


def _video(path: Path, seed: int) -> None:
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        base = rng.uniform(0, 255, (240, 320, 3)).astype(np.uint8)
        for i in range(30):
            frame = np.roll(base, i * 4, axis=1)
            for pkt in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)


def build_2mp(root: Path, n: int, seed: int = 1) -> list[Path]:
    rng = np.random.default_rng(seed)
    bases = _base_images(rng, 24, 1632, 1224)
    paths = []
    for i in range(n):
        folder = root / f"person_{i // 50:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        p = folder / f"IMG_{i:06d}.jpg"
        p.write_bytes(_jpeg(_variant(bases[i % len(bases)], rng)))
        paths.append(p)
    return paths


def build_corpus(root: Path, n: int, seed: int = 2) -> dict[str, int]:
    """The mixed corpus; returns counts by kind."""
    rng = np.random.default_rng(seed)
    sizes = [(1224, 816), (1632, 1224), (2048, 1536), (2816, 2112), (4032, 3024)]  # 1, 2, 3, 6, 12 MP
    bases = {s: _base_images(rng, 4, *s) for s in sizes}
    small = _base_images(rng, 8, 768, 768)
    counts = {"photo": 0, "ai_png": 0, "video": 0, "document": 0, "damaged": 0, "zip_members": 0}
    for i in range(n):
        folder = root / f"person_{i // 50:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        r = rng.random()
        if r < 0.02:
            data = _jpeg(_variant(bases[sizes[1]][0], rng))
            (folder / f"broken_{i}.jpg").write_bytes(data[: len(data) // 3])
            counts["damaged"] += 1
        elif r < 0.12:
            kind = rng.integers(0, 3)
            name = folder / (f"doc_{i}." + ("pdf" if kind == 0 else "txt" if kind == 1 else "bin"))
            body = (
                b"%PDF-1.4\n" + os.urandom(int(rng.integers(2000, 60000))) if kind == 0 else os.urandom(4000)
            )
            name.write_bytes(body if kind != 1 else f"note {i}\n".encode() * 50)
            counts["document"] += 1
        elif r < 0.22:
            (folder / f"gen_{i}.png").write_bytes(_a1111_png(_variant(small[i % len(small)], rng), i))
            counts["ai_png"] += 1
        elif r < 0.225:
            _video(folder / f"clip_{i}.mp4", i)
            counts["video"] += 1
        else:
            weights = [0.45, 0.35, 0.1, 0.07, 0.03]
            size = sizes[int(rng.choice(len(sizes), p=weights))]
            (folder / f"IMG_{i:06d}.jpg").write_bytes(_jpeg(_variant(bases[size][i % 4], rng)))
            counts["photo"] += 1
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for k in range(20):
            z.writestr(f"deep/{k}.jpg", _jpeg(_variant(small[k % len(small)], rng)))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        for k in range(30):
            z.writestr(f"phone/{k}.jpg", _jpeg(_variant(small[k % len(small)], rng)))
        z.writestr("phone/backup.zip", inner.getvalue())
    (root / "phone_export.zip").write_bytes(outer.getvalue())
    counts["zip_members"] = 51
    return counts


def build_tiny(root: Path, n: int) -> None:
    payload = [os.urandom(16 + k) for k in range(64)]
    for i in range(n):
        folder = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"f{i % 1000:04d}.bin", "wb") as fh:
            fh.write(payload[i % 64] + i.to_bytes(8, "little"))


# --- measuring ----------------------------------------------------------------------------------------


def _tree_rss(pid: int) -> int:
    """Resident set size of ``pid`` and all its descendants, in bytes (from /proc)."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                parents[int(d)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        for c, pp in parents.items():
            if pp == p and c not in tree:
                tree.add(c)
                frontier.append(c)
    total = 0
    for p in tree:
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_scan(src: Path, case: Path, env: dict[str, str], *extra: str) -> dict[str, float]:
    cmd = [
        PY,
        "-m",
        "takeback.cli.main",
        "scan",
        str(src),
        "--case",
        str(case),
        "--no-progress",
        "--no-banks",
        *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            stop.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    stop.set()
    t.join()
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({proc.returncode}):\n{out}\n{err}")
    conn = sqlite3.connect(case / "case.db")
    first, last, n = conn.execute(
        "SELECT min(processed_at), max(processed_at), count(*) FROM item WHERE processed_at IS NOT NULL"
    ).fetchone()
    total_bytes = conn.execute("SELECT coalesce(sum(size), 0) FROM item").fetchone()[0]
    marks: dict[str, str] = {}
    for action, at in conn.execute("SELECT action, at FROM custody_entry ORDER BY seq"):
        marks.setdefault(action, at)
        marks[f"last:{action}"] = at
    conn.close()

    def t(x: str) -> datetime:
        return datetime.fromisoformat(x.replace("Z", "+00:00"))

    phases = {
        "listing_s": (t(first) - t(marks["scan.started"])).total_seconds(),
        "processing_s": (t(last) - t(first)).total_seconds(),
        "grouping_s": (t(marks["last:grouping.completed"]) - t(last)).total_seconds(),
        "report_and_exports_s": (
            t(marks["last:export.written"]) - t(marks["scan.completed"])
        ).total_seconds(),
    }
    span = (
        datetime.fromisoformat(last.replace("Z", "+00:00"))
        - datetime.fromisoformat(first.replace("Z", "+00:00"))
    ).total_seconds()
    return {
        "items": n,
        "wall_s": round(wall, 1),
        "processing_s": round(span, 1),
        "items_per_s_processing": round(n / max(span, 1e-3), 1),
        "items_per_s_end_to_end": round(n / wall, 1),
        "mb_per_s_processing": round(total_bytes / 1e6 / max(span, 1e-3), 1),
        "peak_rss_mb": round(peak / 1e6),
        "phases": {k: round(v, 1) for k, v in phases.items()},
    }


def baseline(paths: list[Path]) -> dict[str, float]:
    """``sha256sum`` + Pillow decode + ``pdqhash.compute`` in a naive loop, one process."""
    import pdqhash

    started = time.perf_counter()
    for i in range(0, len(paths), 500):
        subprocess.run(["sha256sum", *map(str, paths[i : i + 500])], check=True, capture_output=True)
    sha_s = time.perf_counter() - started
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            rgb = np.asarray(im.convert("RGB"))
        pdqhash.compute(rgb)
    pdq_s = time.perf_counter() - t
    total = time.perf_counter() - started
    return {
        "files_per_s": round(len(paths) / total, 1),
        "sha256sum_s": round(sha_s, 1),
        "pdqhash_s": round(pdq_s, 1),
    }


def machine() -> str:
    load = os.getloadavg()[0]
    return f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}, load {load:.1f}"


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TAKEBACK_DATA_DIR": str(tmp / "data"),
        "TAKEBACK_ACTOR": "bench",
        "PYTHONPATH": str(ROOT / "src"),
    }


# --- modes --------------------------------------------------------------------------------------------


def mode_throughput(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    src = tmp / "src"
    paths = build_2mp(src, args.n_2mp)
    env = _env(tmp)
    base = baseline(paths)
    plain = run_scan(src, tmp / "case-plain", env, "-j", str(args.jobs), "--no-nudity")
    nude = run_scan(src, tmp / "case-nudity", env, "-j", str(args.jobs), "--nudity")
    return {
        "files": len(paths),
        "baseline_sha256sum_pdqhash": base,
        "takeback_fingerprints_provenance": plain,
        "takeback_with_nudity": nude,
        "ratio_vs_baseline": round(plain["items_per_s_processing"] / base["files_per_s"], 2),
        "ratio_vs_baseline_with_nudity": round(nude["items_per_s_processing"] / base["files_per_s"], 2),
    }


def mode_corpus(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    src = tmp / "src"
    t = time.perf_counter()
    counts = build_corpus(src, args.n)
    built = time.perf_counter() - t
    env = _env(tmp)
    res = run_scan(
        src, tmp / "case", env, "-j", str(args.jobs), *(["--nudity"] if args.nudity else ["--no-nudity"])
    )
    conn = sqlite3.connect(tmp / "case" / "case.db")
    res["errors"] = conn.execute("SELECT count(*) FROM item WHERE error_code IS NOT NULL").fetchone()[0]
    res["ai_tier2"] = conn.execute("SELECT count(*) FROM item WHERE tier = 2").fetchone()[0]
    res["groups"] = dict(conn.execute("SELECT kind, count(*) FROM grp GROUP BY kind").fetchall())
    conn.close()
    return {"corpus": counts, "build_s": round(built), "scan": res}


def mode_memory(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    out = {}
    for n in sorted({max(1000, args.tiny // 10), args.tiny}):
        src = tmp / f"tiny-{n}"
        t = time.perf_counter()
        build_tiny(src, n)
        built = time.perf_counter() - t
        out[str(n)] = run_scan(src, tmp / f"case-{n}", _env(tmp), "-j", str(args.jobs), "--no-nudity") | {
            "build_s": round(built)
        }
    return out


def mode_resume(args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    from takeback.triage import pipeline

    src = tmp / "src"
    paths = build_2mp(src, args.n_2mp)
    case = tmp / "case"
    env = _env(tmp)
    cmd = [PY, "-m", "takeback.cli.main", "scan", str(src), "--case", str(case), "-j", str(args.jobs)]
    cmd += ["--no-banks", "--no-nudity", "--no-progress"]
    rng = random.Random(args.seed)
    kills = 0
    for _ in range(args.kills):
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(rng.uniform(3, 12))
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        time.sleep(0.5)
    subprocess.run(cmd, env=env, check=False, capture_output=True)
    conn = sqlite3.connect(case / "case.db")
    n, done, repeated, max_attempts = conn.execute(
        "SELECT count(*), sum(state = 'done'), sum(max(attempts - 1, 0)), max(attempts) FROM item"
    ).fetchone()
    conn.close()
    bound = pipeline.WINDOW_PER_JOB * args.jobs * pipeline.CHUNK_FILES + pipeline.COMMIT_EVERY_N
    return {
        "files": len(paths),
        "items": n,
        "done": done,
        "kills": kills,
        "repeated_items": repeated,
        "max_attempts": max_attempts,
        "in_flight_bound_per_kill": bound,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["throughput", "corpus", "memory", "resume"], default="corpus")
    ap.add_argument("--n", type=int, default=20_000, help="files in the mixed corpus")
    ap.add_argument("--n-2mp", type=int, default=600, help="2-MP JPEGs for throughput and resume")
    ap.add_argument("--tiny", type=int, default=1_000_000, help="tiny files for the memory run")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--nudity", action="store_true", help="corpus mode: score nudity too")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="build and keep the corpus here instead of a temporary folder")
    args = ap.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        tmp = args.keep
        result = globals()[f"mode_{args.mode}"](args, tmp)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-scan-") as d:
            result = globals()[f"mode_{args.mode}"](args, Path(d))
    print(
        json.dumps(
            {"mode": args.mode, "machine": machine(), "date": time.strftime("%Y-%m-%d"), **result}, indent=2
        )
    )


if __name__ == "__main__":
    main()
