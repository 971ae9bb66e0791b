"""The grouping steps that ship: near-duplicate stacks, folder groups, source → derivative links."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from takeback.index import PdqIndex
from takeback.signals.fingerprint import Fingerprint
from takeback.signals.pdq import DIHEDRAL_NAMES, LOW_QUALITY
from takeback.triage import features as feat
from takeback.triage import video
from takeback.triage.grouping.base import Group, GroupingContext, Link, Member, StepResult, UnionFind
from takeback.triage.models import item

#: Above this many videos, pairwise vPDQ comparison is skipped (noted in the report).
MAX_VIDEOS_PAIRWISE = 2000
VIDEO_SIMILARITY = 0.8
#: Above this many images, loose-PDQ candidate search for derivatives is skipped (noted).
MAX_IMAGES_LOOSE = 200_000
#: Local edits (measured, benchmarks/RESULTS.md): whole-image PDQ within this, at least this many of
#: the 9 regions unchanged (<= 40), and one region changed by at least this much.
#: Pairs compared in one large folder at most (items of interest x the rest of the folder).
FOLDER_PAIR_BUDGET = 20_000
LOCAL_EDIT_MAX_PDQ = 48
LOCAL_EDIT_MIN_KEPT = 4
LOCAL_EDIT_MIN_CHANGE = 56
#: Region hashes of regions smaller than this (pixels, short side) move too much under plain
#: re-encoding to tell an edit from noise.
LOCAL_EDIT_MIN_TILE = 128


def _images(ctx: GroupingContext) -> tuple[np.ndarray, np.ndarray, list[tuple[bytes, ...]], np.ndarray]:
    """(ids, original hashes (n, 32), dihedral hashes per item, qualities) of images with PDQ."""
    ids: list[int] = []
    hashes: list[bytes] = []
    dihedral: list[tuple[bytes, ...]] = []
    quality: list[int] = []
    for r in ctx.rows(
        item.c.id, item.c.pdq, item.c.pdq_dihedral, item.c.pdq_quality, where=item.c.pdq.is_not(None)
    ):
        ids.append(r.id)
        pdq = Fingerprint.from_record(dict(r._mapping)).signals["pdq"]  # case.db's hex, read back
        hashes.append(pdq.value)
        dihedral.append(pdq.searched)
        quality.append(pdq.quality or 0)
    arr = (
        np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(-1, 32)
        if hashes
        else np.zeros((0, 32), np.uint8)
    )
    return np.array(ids, dtype=np.int64), arr, dihedral, np.array(quality, dtype=np.int32)


def _pdq_pairs(
    ctx: GroupingContext, radius: int, *, min_quality: int = LOW_QUALITY
) -> dict[tuple[int, int], tuple[int, int]]:
    """Pairs (a < b) of usable images within ``radius``: (distance, orientation of a that matched)."""
    ids, arr, dihedral, quality = _images(ctx)
    keep = quality >= min_quality
    ids, arr = ids[keep], arr[keep]
    dihedral = [d for d, k in zip(dihedral, keep.tolist(), strict=True) if k]
    pairs: dict[tuple[int, int], tuple[int, int]] = {}
    if len(ids) < 2:
        return pairs
    index = PdqIndex.build(ids, arr, background=False)
    for start in range(0, len(ids), 4096):
        block_ids = ids[start : start + 4096]
        queries = [
            (int(i), o, h)
            for i, ds in zip(block_ids, dihedral[start : start + 4096], strict=True)
            for o, h in enumerate(ds)
        ]
        found = index.search_batch(
            np.frombuffer(b"".join(q[2] for q in queries), np.uint8).reshape(-1, 32), radius
        )
        for (qid, orient, _), res in zip(queries, found, strict=True):
            for other, d in zip(res.ids.tolist(), res.distances.tolist(), strict=True):
                if other == qid:
                    continue
                key = (min(qid, other), max(qid, other))
                best = pairs.get(key)
                if best is None or d < best[0]:
                    pairs[key] = (int(d), orient)
    return pairs


class NearDuplicates:
    """Stacks of the same picture: identical bytes (SHA-256), PDQ within the threshold in any of the 8
    orientations (quality ≥ 50; flatter hashes match too easily), and videos sharing most frames."""

    name: ClassVar[str] = "near_duplicates"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Near-duplicate stacks"

    def run(self, ctx: GroupingContext) -> StepResult:
        result = StepResult()
        uf = UnionFind()
        how: dict[tuple[int, int], dict[str, Any]] = {}
        for ids in ctx.duplicates():
            for other in ids[1:]:
                uf.union(ids[0], other)
                how[(ids[0], other)] = {"method": "sha256", "distance": 0}
        threshold = ctx.settings.near_duplicate_threshold
        for (a, b), (d, orient) in _pdq_pairs(ctx, threshold).items():
            uf.union(a, b)
            how.setdefault((a, b), {"method": "pdq", "distance": d, "orientation": DIHEDRAL_NAMES[orient]})
        self._videos(ctx, uf, how, result)
        comps = uf.components()
        sizes = {r.id: (r.width or 0) * (r.height or 0) for r in ctx.item_rows(x for c in comps for x in c)}
        for n, comp in enumerate(sorted(comps, key=lambda c: (-len(c), c[0])), start=1):
            rep = max(comp, key=lambda i: (sizes.get(i, 0), -i))
            members = []
            for i in comp:
                edge = how.get((min(rep, i), max(rep, i)))
                role = "representative" if i == rep else "member"
                members.append(Member(i, role, edge or {}))
            methods = sorted({e["method"] for (a, b), e in how.items() if a in comp and b in comp})
            result.groups.append(
                Group(
                    "near_duplicates",
                    f"Stack {n}",
                    f"stack:{comp[0]}",
                    members,
                    {"methods": methods, "threshold": threshold},
                )
            )
        return result

    def _videos(
        self,
        ctx: GroupingContext,
        uf: UnionFind,
        how: dict[tuple[int, int], dict[str, Any]],
        result: StepResult,
    ) -> None:
        vids = [
            (r.id, bytes(r.vpdq)) for r in ctx.rows(item.c.id, item.c.vpdq, where=item.c.vpdq.is_not(None))
        ]
        if len(vids) > MAX_VIDEOS_PAIRWISE:
            result.notes.append(
                f"{len(vids):,} videos: over {MAX_VIDEOS_PAIRWISE:,}, videos were stacked by identical bytes "
                "only."
            )
            return
        for i, (a, pa) in enumerate(vids):
            for b, pb in vids[i + 1 :]:
                sa, sb = video.bag_similarity(pa, pb)
                if min(sa, sb) >= VIDEO_SIMILARITY:
                    uf.union(a, b)
                    how.setdefault(
                        (min(a, b), max(a, b)), {"method": "vpdq", "shared_frames": f"{min(sa, sb):.2f}"}
                    )


class Folders:
    """One group per folder holding images or videos: the folder name is a *candidate* subject label
    (seized devices are often organised per person, as in the Hong Kong case); an examiner confirms it."""

    name: ClassVar[str] = "folders"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Folder groups (candidate subjects)"

    def run(self, ctx: GroupingContext) -> StepResult:
        folders: dict[str, list[int]] = defaultdict(list)
        for r in ctx.rows(item.c.id, item.c.folder, where=item.c.kind.in_(("image", "video"))):
            folders[r.folder].append(r.id)
        result = StepResult()
        for folder in sorted(folders):
            ids = folders[folder]
            label = _folder_label(folder)
            result.groups.append(
                Group(
                    "folder",
                    label,
                    folder,
                    [Member(i) for i in ids],
                    {"candidate_subject": label, "folder": folder, "items": len(ids)},
                )
            )
        return result


def _folder_label(folder: str) -> str:
    inner = folder.rsplit("!", 1)
    tail = inner[-1].strip("/")
    if not tail and len(inner) == 2:  # the root of an archive: name it after the archive
        return os.path.basename(inner[0]) or inner[0]
    return os.path.basename(tail.rstrip("/")) or tail or folder


class Derivatives:
    """Links from a source picture to pictures made from it (edits, crops, composites, AI "undressing").

    Candidates: every pair in the same folder (up to ``derivative_max_folder_images`` images), pairs
    within PDQ ``derivative_loose_threshold`` anywhere, and pairs sharing a creation trace (capture
    key, EXIF ImageUniqueID, XMP document ids). Each candidate is then checked on its pixels
    (:mod:`takeback.triage.features`): a link needs ORB geometric inliers ≥ ``derivative_min_inliers``,
    or a localised change (PDQ ≤ loose threshold with most 3 × 3 regions unchanged and some changed),
    or a shared creation trace. Re-encodes of the whole picture are near-duplicates, not links.

    Direction, when there is evidence for one: an item with AI provenance (tier ≤ 2) is derived from one
    without; a camera original (EXIF make/model) is the source of an item without; an item showing the
    other's content enlarged is a crop of it; otherwise the earlier capture time. Without evidence
    the link is "related".
    """

    name: ClassVar[str] = "derivatives"
    version: ClassVar[int] = 1
    title: ClassVar[str] = "Source → derivative links"

    def run(self, ctx: GroupingContext) -> StepResult:
        s = ctx.settings
        result = StepResult()
        info: dict[int, Any] = {}
        folders: dict[str, list[int]] = defaultdict(list)
        traces: dict[str, list[int]] = defaultdict(list)
        for r in ctx.rows(
            item.c.id,
            item.c.folder,
            item.c.pdq_quality,
            item.c.tier,
            item.c.exif,
            item.c.traces,
            item.c.mtime,
            item.c.sha256,
            item.c.explicit,
            where=item.c.pdq.is_not(None),
        ):
            info[r.id] = r
            if (r.pdq_quality or 0) >= LOW_QUALITY:
                folders[r.folder].append(r.id)
            for key in _trace_keys(r.traces or {}):
                traces[key].append(r.id)
        candidates: dict[tuple[int, int], set[str]] = defaultdict(set)
        for folder, ids in folders.items():
            if len(ids) <= s.derivative_max_folder_images:
                for i, a in enumerate(ids):
                    for b in ids[i + 1 :]:
                        candidates[(a, b)].add("same_folder")
                continue
            # A large folder: every pair would cost O(n^2) keypoint matches. Pair only the items of
            # interest (AI provenance, nudity flag) with the rest of their folder.
            keen = [i for i in ids if _interesting(info[i])]
            budget = FOLDER_PAIR_BUDGET
            for a in keen:
                for b in ids:
                    if a != b and budget > 0:
                        candidates[(min(a, b), max(a, b))].add("same_folder")
                        budget -= 1
            result.notes.append(
                f"Folder {folder} holds {len(ids):,} images, over {s.derivative_max_folder_images}: only its "
                f"{len(keen):,} items with AI provenance or a nudity flag were compared with the rest"
                + (" (up to the pair budget)" if budget <= 0 else "")
                + "; other pairs only where PDQ or creation traces suggested a link."
            )
        if len(info) <= MAX_IMAGES_LOOSE:
            loose = _pdq_pairs(ctx, s.derivative_loose_threshold)
        else:
            loose = {}
            result.notes.append(f"{len(info):,} images: the loose PDQ search for edited copies was skipped.")
        for pair in loose:
            candidates[pair].add("pdq")
        shared_trace: dict[tuple[int, int], list[str]] = defaultdict(list)
        for key, ids in traces.items():
            uniq = sorted(set(ids))
            if 1 < len(uniq) <= 50:
                for i, a in enumerate(uniq):
                    for b in uniq[i + 1 :]:
                        candidates[(a, b)].add("trace")
                        shared_trace[(a, b)].append(key.split(":", 1)[0])
        # Exact copies are near-duplicates, not derivatives.
        pairs = [p for p in candidates if info[p[0]].sha256 != info[p[1]].sha256]
        if not pairs:
            return result
        # Features come from the worker pool (pixels read again, checked against the recorded
        # SHA-256); pairs are compared there too, a few hundred per task with only the features they need.
        feats = _FeatureCache(ctx)
        measured: dict[tuple[int, int], feat.PairResult] = {}
        for block in _blocks(sorted(pairs), 2000):
            feats.ensure({x for p in block for x in p})
            tasks = []
            for part in _blocks(block, 250):
                need = {x for p in part for x in p}
                tasks.append(({i: w for i in need if (w := feats.wire(i)) is not None}, part))
            for res in ctx.map(feat.match_pairs, tasks, on_crash=lambda t: []):
                for m in res:
                    measured[(m[0], m[1])] = m
        for a, b in sorted(pairs):
            link = self._judge(
                ctx,
                a,
                b,
                info,
                measured.get((a, b)),
                loose.get((a, b)),
                shared_trace.get((a, b)),
                candidates[(a, b)],
            )
            if link is not None:
                result.links.append(link)
        stacks = UnionFind()
        for (a, b), (d, _) in loose.items():
            if d <= s.near_duplicate_threshold:
                stacks.union(a, b)
        result.links = _prune(result.links, info, stacks, s.derivative_min_inliers)
        result.groups.extend(_link_groups(result.links))
        return result

    def _judge(
        self,
        ctx: GroupingContext,
        a: int,
        b: int,
        info: dict[int, Any],
        m: feat.PairResult | None,
        pdq: tuple[int, int] | None,
        trace_keys: list[str] | None,
        why: set[str],
    ) -> Link | None:
        s = ctx.settings
        details: dict[str, Any] = {"candidate": sorted(why)}
        if pdq is not None:
            details["pdq_distance"] = pdq[0]
        kind = None
        score = 0
        geo: feat.Geometric | None = None
        if m is not None:
            _, _, inliers, scale, votes, worst, tile = m
            geo = feat.Geometric(inliers, scale, 0.0, 0.0)
            details["regions_unchanged"] = f"{votes}/{feat.GRID * feat.GRID}"
            details["orb_inliers"] = inliers
            if inliers:
                details["scale"] = f"{scale:.2f}"
            # A local edit keeps most regions and changes a few far beyond re-encoding noise (re-encodes
            # and resizes move every region by up to ~46; an inpainted torso moves one by 56-100).
            local_edit = (
                pdq is not None
                and pdq[0] <= LOCAL_EDIT_MAX_PDQ
                and votes >= LOCAL_EDIT_MIN_KEPT
                and worst >= LOCAL_EDIT_MIN_CHANGE
                and tile >= LOCAL_EDIT_MIN_TILE
            )
            # Regions are compared in place, so a rotated or mirrored copy (its PDQ matched in another
            # of the 8 orientations) shows every region changed: its orientation match is the evidence.
            whole = (
                pdq is not None
                and pdq[0] <= s.near_duplicate_threshold
                and (worst < LOCAL_EDIT_MIN_CHANGE or pdq[1] != 0)
            )
            if whole and not trace_keys:
                return None  # the same picture throughout: a near-duplicate, not a derivative
            if local_edit:
                kind, score = "local_edit", max(votes * 10, inliers)
            elif inliers >= s.derivative_min_inliers:
                kind, score = "shared_content", inliers
        if kind is None and trace_keys:
            kind, score = "shared_trace", 100
        if kind is None:
            return None
        if trace_keys:
            details["shared_traces"] = sorted(set(trace_keys))
        strong = geo if geo is not None and geo.inliers >= s.derivative_min_inliers else None
        src, dst, directed, reason = _direction(info[a], info[b], strong)
        if reason:
            details["direction"] = reason
        return Link(src, dst, kind, directed, int(score), details)


def _trace_keys(t: dict[str, Any]) -> list[str]:
    """Keys two items share when they come from the same capture or document lineage."""
    keys = []
    if t.get("capture_key"):
        keys.append(f"same_capture:{t['capture_key']}")
    if t.get("image_unique_id"):
        keys.append(f"exif_image_unique_id:{t['image_unique_id']}")
    docs = {t.get("xmp_document_id"), t.get("xmp_original_document_id"), *(t.get("xmp_derived_from") or [])}
    keys.extend(f"xmp_document:{d}" for d in sorted(x for x in docs if x))
    return keys


def _prune(links: list[Link], info: dict[int, Any], stacks: UnionFind, min_inliers: int) -> list[Link]:
    """Keep the star around each source.

    * Near-duplicates (one PDQ stack: a copy, a face swap) stand for one picture: the stack's best
      source (no AI provenance, camera metadata, most pixels) keeps the links; the same link from another
      member of the stack, or between two members that are not the best, says nothing new.
    * Siblings (two items derived from the same source) are not linked to each other.
    * Byte-identical copies repeat no link.
    Each kept link is marked strong (a local edit, a shared trace, or twice the inliers needed) or weak.
    """

    def rank(i: int) -> tuple[int, int, int, int]:
        r = info[i]
        return (int(_ai(r)), int(not _camera(r)), -int(r.pdq_quality or 0), i)

    best: dict[int, int] = {}
    for i in {x for lk in links for x in (lk.source_item, lk.derived_item)}:
        root = stacks.find(i)
        if root not in best or rank(i) < rank(best[root]):
            best[root] = i

    def rep(i: int) -> int:
        return best.get(stacks.find(i), i)

    direct = {(rep(lk.source_item), lk.derived_item) for lk in links if lk.source_item == rep(lk.source_item)}
    children: dict[int, set[int]] = defaultdict(set)
    for lk in links:
        if lk.directed:
            children[lk.source_item].add(lk.derived_item)
    siblings = {frozenset((x, y)) for kids in children.values() for x in kids for y in kids if x != y}
    seen: set[tuple[str, str]] = set()
    out = []
    for lk in sorted(links, key=lambda k: (k.source_item, k.derived_item)):
        a, b = lk.source_item, lk.derived_item
        same_stack = stacks.find(a) == stacks.find(b)
        if same_stack and rep(a) != a and rep(b) != b:
            continue
        if not same_stack and rep(a) != a and (rep(a), b) in direct:
            continue
        if frozenset((a, b)) in siblings:
            continue
        key = (info[a].sha256, info[b].sha256)
        if key in seen:
            continue
        seen.add(key)
        strong = lk.kind in ("local_edit", "shared_trace") or lk.score >= 2 * min_inliers
        lk.details["strength"] = "strong" if strong else "weak"
        out.append(lk)
    return out


def _blocks(pairs: list[tuple[int, int]], n: int) -> Iterable[list[tuple[int, int]]]:
    for i in range(0, len(pairs), n):
        yield pairs[i : i + n]


class _FeatureCache:
    """Features (wire form) of recently used items, computed in the worker pool; bounded memory."""

    def __init__(self, ctx: GroupingContext, capacity: int = 6000) -> None:
        self.ctx = ctx
        self.capacity = capacity
        self.cache: dict[int, dict[str, Any] | None] = {}

    def ensure(self, ids: set[int]) -> None:
        missing = sorted(i for i in ids if i not in self.cache)
        if len(self.cache) + len(missing) > self.capacity:
            for k in [k for k in self.cache if k not in ids][
                : len(self.cache) + len(missing) - self.capacity
            ]:
                del self.cache[k]
        for item_id, wire in self.ctx.map_contents(feat.run_chunk, missing):
            self.cache[item_id] = wire

    def wire(self, item_id: int) -> dict[str, Any] | None:
        return self.cache.get(item_id)


def _interesting(row: Any) -> bool:
    return _ai(row) or bool(row.explicit)


def _camera(row: Any) -> bool:
    exif = row.exif or {}
    return bool(exif.get("Make") or exif.get("Model"))


def _ai(row: Any) -> bool:
    return row.tier is not None and row.tier <= 2


def _direction(ra: Any, rb: Any, geo: feat.Geometric | None) -> tuple[int, int, bool, str | None]:
    """(source, derived, directed, why)."""
    a, b = ra.id, rb.id
    if _ai(ra) != _ai(rb):
        return (
            (b, a, True, "AI provenance on the derivative only")
            if _ai(ra)
            else (a, b, True, "AI provenance on the derivative only")
        )
    if _camera(ra) != _camera(rb):
        return (
            (a, b, True, "camera metadata on the source only")
            if _camera(ra)
            else (b, a, True, "camera metadata on the source only")
        )
    if geo is not None and geo.inliers and (geo.scale > 1.2 or geo.scale < 1 / 1.2):
        # geo maps b into a: scale > 1 means b's content appears enlarged in a, so a is a crop of b
        return (
            (b, a, True, "a crop of the source") if geo.scale > 1.2 else (a, b, True, "a crop of the source")
        )
    ta, tb = (ra.exif or {}).get("DateTimeOriginal"), (rb.exif or {}).get("DateTimeOriginal")
    if ta and tb and ta != tb:
        return (
            (a, b, True, "earlier capture time")
            if str(ta) < str(tb)
            else (b, a, True, "earlier capture time")
        )
    return a, b, False, None


def _link_groups(links: list[Link]) -> list[Group]:
    uf = UnionFind()
    for link in links:
        uf.union(link.source_item, link.derived_item)
    groups = []
    for n, comp in enumerate(sorted(uf.components(), key=lambda c: (-len(c), c[0])), start=1):
        members = set(comp)
        sources = {lk.source_item for lk in links if lk.directed and lk.source_item in members}
        derived = {lk.derived_item for lk in links if lk.directed and lk.derived_item in members}
        out = []
        for i in comp:
            role = "derivative" if i in derived else "source" if i in sources else "related"
            out.append(Member(i, role))
        groups.append(
            Group(
                "derivation",
                f"Derivation set {n}",
                f"derivation:{comp[0]}",
                out,
                {"links": sum(1 for lk in links if lk.source_item in members)},
            )
        )
    return groups


BUILTIN = {cls.name: cls for cls in (NearDuplicates, Folders, Derivatives)}
