"""Measure source → derivative linking: what each kind of derivative is caught by, and false links.

Each folder holds one synthetic scene's original (camera EXIF), its derivatives (re-encode,
img2img-style re-render, face swap, torso repaint, figure pasted into another room, crops to 70 % and
50 %; saved as PNG with AUTOMATIC1111 metadata, as AI tools do), a photo of another figure in the
same room (a hard negative: a shared background, not a derivative) and unrelated distractors. The
real ``takeback scan`` runs over it; then, per derivative kind: how often it ended up linked to its
original (and by which link kind), with the right direction, or in the original's near-duplicate
stack; and how many links join pictures of different scenes.

Example: ``.venv/bin/python benchmarks/bench_grouping.py --scenes 12``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.triage import scenes  # noqa: E402

from takeback.evidence.signing import Signer  # noqa: E402
from takeback.triage import service  # noqa: E402
from takeback.triage.models import ScanSettings  # noqa: E402
from takeback.triage.pipeline import RunOptions  # noqa: E402


def build(root: Path, n: int, distractors: int, size: tuple[int, int]) -> dict[str, tuple[int, str]]:
    """File name -> (scene, role) where role is 'original', a derivative kind, 'same_room' or 'other'."""
    w, h = size
    truth: dict[str, tuple[int, str]] = {}
    for k in range(n):
        folder = root / f"person_{k:03d}"
        folder.mkdir(parents=True)
        sc = scenes.scene(5000 + k, w, h)
        name = f"k{k}_original.jpg"
        (folder / name).write_bytes(
            scenes.jpeg(sc.image, camera=("Canon", "EOS 80D"), taken=f"2024:05:01 10:{k % 60:02d}:00")
        )
        truth[name] = (k, "original")
        for kind, fn in scenes.DERIVATIVES.items():
            name = f"k{k}_{kind}.png"
            (folder / name).write_bytes(scenes.ai_png(fn(sc, 77 + k), k))
            truth[name] = (k, kind)
        name = f"k{k}_same_room.jpg"
        (folder / name).write_bytes(scenes.jpeg(scenes.scene(9000 + k, w, h, room_seed=5000 + k).image))
        truth[name] = (k, "same_room")
        for d in range(distractors):
            name = f"k{k}_other{d}.jpg"
            (folder / name).write_bytes(scenes.jpeg(scenes.scene(20000 + k * 100 + d, w, h).image))
            truth[name] = (-1 - (k * 100 + d), "other")
    return truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--distractors", type=int, default=4)
    ap.add_argument("--size", default="960x720")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--min-inliers", type=int, default=ScanSettings().derivative_min_inliers)
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-grouping-") as d:
        tmp = Path(d)
        truth = build(tmp / "src", args.scenes, args.distractors, (w, h))
        settings = ScanSettings(nudity=False, match_banks=False, derivative_min_inliers=args.min_inliers)
        run = RunOptions(signer=Signer.generate(), examiner="bench", jobs=args.jobs)
        t = time.perf_counter()
        case, _ = service.scan(tmp / "case", [str(tmp / "src")], settings=settings, run=run)
        case.close()
        elapsed = time.perf_counter() - t
        conn = sqlite3.connect(tmp / "case" / "case.db")
        name_of = {i: n for i, n in conn.execute("SELECT id, name FROM item")}
        links = conn.execute("SELECT source_item, derived_item, kind, directed FROM link").fetchall()
        stacks = defaultdict(set)
        for gid, item_id in conn.execute(
            "SELECT m.group_id, m.item_id FROM grp_member m JOIN grp g ON g.id = m.group_id "
            "WHERE g.kind = 'near_duplicates'"
        ):
            stacks[gid].add(item_id)
        conn.close()
    by_name = {v: k for k, v in name_of.items()}
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    linked: dict[frozenset[int], tuple[int, int, str, int]] = {
        frozenset((a, b)): (a, b, k, dr) for a, b, k, dr in links
    }
    for k in range(args.scenes):
        orig = by_name[f"k{k}_original.jpg"]
        for kind in [*scenes.DERIVATIVES, "same_room"]:
            item = by_name[f"k{k}_{kind}.png" if kind != "same_room" else f"k{k}_same_room.jpg"]
            c = per_kind[kind]
            c["n"] += 1
            hit = linked.get(frozenset((orig, item)))
            if hit:
                c["linked"] += 1
                c[f"by_{hit[2]}"] += 1
                if hit[3] and hit[0] == orig:
                    c["direction_right"] += 1
                elif hit[3]:
                    c["direction_wrong"] += 1
            if any(orig in s and item in s for s in stacks.values()):
                c["in_stack"] += 1
            if hit or any(orig in s and item in s for s in stacks.values()):
                c["found"] += 1
    false_links = 0
    for a, b, _, _ in links:
        sa, sb = truth[name_of[a]][0], truth[name_of[b]][0]
        if sa != sb:
            false_links += 1
    # Pairs in one folder showing different scenes (distractors vs the scene, distractors together):
    # the pairs the step actually had a chance to link wrongly.
    per_folder = Counter(name.split("_", 1)[0] for name in truth)
    wrong_pairs = 0
    for folder in per_folder:
        scenes_in = [truth[n][0] for n in truth if n.split("_", 1)[0] == folder]
        wrong_pairs += sum(1 for i, a in enumerate(scenes_in) for b in scenes_in[i + 1 :] if a != b)
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{os.cpu_count()}-core {platform.machine()}, load {os.getloadavg()[0]:.1f}",
                "scenes": args.scenes,
                "distractors_per_folder": args.distractors,
                "size": args.size,
                "min_inliers": args.min_inliers,
                "scan_s": round(elapsed, 1),
                "per_kind": {k: dict(v) for k, v in per_kind.items()},
                "links": len(links),
                "false_links_across_scenes": false_links,
                "different_scene_pairs_in_folders": wrong_pairs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
