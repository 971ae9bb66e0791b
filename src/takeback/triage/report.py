"""The case report: ``report.html`` (one self-contained file, works offline) and ``report.pdf``, in
English or Traditional Chinese, built once as a :class:`takeback.reports.Document`.

Thumbnails are **blurred and greyscale by default**: the report will be read by many people who need
to know what a group is without seeing intimate images. ``reveal=True`` renders them clear, and the
custody log records that it was done and by whom. Thumbnails are made from the evidence itself, read
again and checked against the SHA-256 recorded in the scan; an item whose bytes no longer match is
shown as a grey tile saying so.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFilter
from sqlalchemy import func, select

from takeback import __version__
from takeback.evidence.custody import CustodyEntry, SqlCustodyStore
from takeback.evidence.signing import PublicKey
from takeback.i18n import has, series, text_for, translate
from takeback.media import Limits, MediaError, decode_image
from takeback.reports import Bullets, Document, Heading, Image, KeyValues, Notice, Paragraph, Table
from takeback.signals.pdq import LOW_QUALITY
from takeback.triage import reviewlog
from takeback.triage.archives import ArchiveLimits
from takeback.triage.casedb import CaseDB
from takeback.triage.content import ContentAccess
from takeback.triage.models import (
    DONE,
    KNOWN,
    ScanSettings,
    bank_match,
    grp,
    grp_member,
    item,
    link,
    review,
    source,
)

THUMB = 112
SHEET_COLUMNS = 6
MAX_THUMBS_PER_GROUP = 12
MAX_GROUPS = 150
MAX_ROWS_PER_GROUP = 40
MAX_ERRORS = 300
MAX_MATCHES = 300
BLUR_RADIUS = 7


def t(key: str, lang: str, **kw: Any) -> str:
    """The report's words: ``report.<key>`` of the one catalogue (``takeback.i18n``)."""
    return translate(f"report.{key}", lang, **kw)


def _short(h: str | None, n: int = 16) -> str:
    return "" if not h else h[:n] + "…"


def _thumb(data: bytes | None, *, reveal: bool, limits: Limits) -> PILImage.Image:
    tile = PILImage.new("L", (THUMB, THUMB), 200)
    if data is None:
        ImageDraw.Draw(tile).line([(0, 0), (THUMB, THUMB)], fill=120, width=2)
        return tile
    try:
        rgb = decode_image(data, limits=limits, want="rgb").pixels
    except MediaError:
        ImageDraw.Draw(tile).line([(0, THUMB), (THUMB, 0)], fill=120, width=2)
        return tile
    im = PILImage.fromarray(rgb)
    im.thumbnail((THUMB, THUMB), PILImage.Resampling.LANCZOS)
    if not reveal:
        im = im.convert("L").filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    canvas = PILImage.new(
        "L" if not reveal else "RGB", (THUMB, THUMB), 230 if not reveal else (230, 230, 230)
    )
    canvas.paste(im, ((THUMB - im.width) // 2, (THUMB - im.height) // 2))
    return canvas


def contact_sheet(thumbs: list[PILImage.Image], *, reveal: bool) -> bytes:
    cols = min(SHEET_COLUMNS, max(1, len(thumbs)))
    rows = (len(thumbs) + cols - 1) // cols
    pad = 4
    sheet = PILImage.new("RGB", (cols * (THUMB + pad) + pad, rows * (THUMB + pad) + pad), (255, 255, 255))
    for n, th in enumerate(thumbs):
        x, y = pad + (n % cols) * (THUMB + pad), pad + (n // cols) * (THUMB + pad)
        sheet.paste(th.convert("RGB"), (x, y))
    if not reveal:
        sheet = sheet.convert("L").convert("RGB")  # greyscale throughout, whatever a tile held
    buf = io.BytesIO()
    sheet.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _custody_details(e: CustodyEntry) -> str:
    d = dict(e.details)
    for k in ("environment", "settings"):
        if k in d and isinstance(d[k], dict):
            env = d.pop(k)
            if k == "environment":
                d["version"] = env.get("version")
                d["host"] = env.get("host")
                d["jobs"] = env.get("jobs")
            else:
                d["settings"] = "recorded"
    parts = []
    for k, v in d.items():
        text = v if isinstance(v, str) else str(v)
        if isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
            text = _short(v)
        parts.append(f"{k}={text}")
    return ", ".join(parts)[:400]


def _quality(quality: int | None, lang: str) -> str:
    """A PDQ quality below 50 says it is unreliable (such hashes match unrelated flat pictures)."""
    if quality is None:
        return ""
    return f"{quality} {t('unreliable', lang)}" if quality < LOW_QUALITY else str(quality)


def _source_hashes(r: Any, lang: str) -> tuple[str, str]:
    """The SHA-256 cells of a source, never silently empty: a folder has no single hash (its files
    are hashed one by one), a missing source none, a plain file is hashed again as its item."""
    if r.kind == "folder":
        return t("source_folder", lang), "—"
    if r.kind == "missing":
        return t("source_missing", lang), "—"
    before = r.sha256_before or t("source_pending", lang)
    if r.sha256_after:
        return before, r.sha256_after
    return before, t("source_file_after", lang) if r.kind == "file" else t("source_pending", lang)


def build_document(
    case: CaseDB,
    *,
    lang: str = "en",
    reveal: bool = False,
    reveal_entry: CustodyEntry | None = None,
    content: ContentAccess | None = None,
) -> Document:
    """The report for a case, as a document model (rendered by ``takeback.reports``)."""
    lang = "zh-Hant" if lang == "zh-Hant" else "en"
    with case.session() as s:
        settings = ScanSettings.from_json(case.get_meta(s, "settings", {}))
        created = case.get_meta(s, "created_at")
        completed = case.get_meta(s, "completed_at")
        examiner = case.get_meta(s, "examiner", "")
        entries = list(SqlCustodyStore(s, case.log_id).entries())
        srcs = s.execute(select(source).order_by(source.c.id)).all()
        counts = _counts(s)
        tiers: dict[int | None, int] = dict(
            s.execute(
                select(item.c.tier, func.count())
                .where(item.c.state == DONE, item.c.kind.in_(("image", "video")))
                .group_by(item.c.tier)
            ).all()
        )
        matches = s.execute(
            select(bank_match, item.c.path)
            .join(item, item.c.id == bank_match.c.item_id)
            .where(bank_match.c.allow_list.is_(False), bank_match.c.suppressed.is_(False))
            .order_by(bank_match.c.item_id)
            .limit(MAX_MATCHES)
        ).all()
        groups = list(s.execute(select(grp).order_by(grp.c.id)).all())
        errors_total = counts["errors"] + counts["warned"]
        errors = s.execute(
            select(item.c.id, item.c.path, item.c.error_code, item.c.error_message, item.c.warnings)
            .where((item.c.error_code.is_not(None)) | (item.c.warnings.is_not(None)))
            .order_by(item.c.id)
            .limit(MAX_ERRORS)
        ).all()
        notes: list[str] = []
        for name in settings.grouping:
            meta = case.get_meta(s, f"grouping:{name}") or {}
            notes.extend(meta.get("notes") or [])
        reviewed = _review_summary(s, case)
    at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc = Document(
        title=t("title", lang),
        lang=lang,
        subtitle=t("subtitle", lang, case=case.case_id, at=at),
        footer=t("footer", lang, version=__version__, case=case.case_id),
    )
    if reveal and reveal_entry is not None:
        doc.add(
            Notice(
                t("sensitive", lang),
                [t("revealed", lang, seq=reveal_entry.seq, actor=reveal_entry.actor)],
                tone="danger",
            )
        )
    else:
        doc.add(Notice(t("sensitive", lang), [t("sensitive_body", lang)], tone="warning"))
    keys = {e.key for e in entries}
    doc.add(
        Heading(t("case", lang)),
        KeyValues(
            [
                (t("case_id", lang), case.case_id),
                (t("examiner", lang), str(examiner)),
                (t("created", lang), str(created or "")),
                (t("completed", lang), str(completed or t("not_completed", lang))),
                (t("tool", lang), f"takeback {__version__}"),
                *[(t("key", lang), PublicKey.from_b64(k).fingerprint) for k in sorted(keys)],
            ]
        ),
        Heading(t("sources", lang), 3),
        Table(
            t("source_cols", lang).split("|"),
            [[str(r.id), r.arg, r.kind, *_source_hashes(r, lang)] for r in srcs],
            widths=[0.4, 3, 0.9, 2.2, 2.2],
            mono=frozenset({3, 4}),
        ),
        Paragraph(t("sources_note", lang), "small"),
    )
    doc.add(
        Heading(t("summary", lang)),
        Table(t("count_cols", lang).split("|"), _count_rows(counts, groups, lang), widths=[4, 1]),
    )
    tier_rows = [
        ["1", t("tier1", lang), str(tiers.get(1, 0))],
        ["2", t("tier2", lang), str(tiers.get(2, 0))],
        ["3", t("tier3", lang), str(tiers.get(3, 0))],
        ["4", t("tier4", lang), str(tiers.get(4, 0))],
        ["—", t("tier_none", lang), str(tiers.get(None, 0))],
    ]
    doc.add(
        Heading(t("tiers", lang)),
        Paragraph(t("tiers_intro", lang), "muted"),
        Table(t("tier_cols", lang).split("|"), tier_rows, widths=[0.6, 4, 1]),
    )
    doc.add(Heading(t("matches", lang)))
    if matches:
        doc.add(
            Table(
                t("match_cols", lang).split("|"),
                [[str(m.item_id), m.path, f"{m.bank} #{m.content_id}", m.explanation] for m in matches],
                widths=[0.5, 3, 1.2, 3],
            )
        )
    else:
        doc.add(Paragraph(t("no_matches", lang), "muted"))
    access = content or ContentAccess(case, ArchiveLimits(in_memory_bytes=settings.max_file_bytes))
    _groups_section(doc, case, groups, settings, access, lang=lang, reveal=reveal)
    if reviewed is not None:
        _review_section(doc, reviewed, lang)
    doc.add(Heading(t("error_table", lang)))
    if errors:
        rows = []
        for e in errors:
            if e.error_code:
                rows.append([str(e.id), e.path, e.error_code, e.error_message or ""])
            for w in e.warnings or []:
                if w.get("code") != e.error_code:
                    rows.append([str(e.id), e.path, w.get("code", ""), w.get("message", "")])
        doc.add(Table(t("error_cols", lang).split("|"), rows, widths=[0.5, 3, 1.4, 3.5]))
        if errors_total > len(errors):
            doc.add(Paragraph(t("more_errors", lang, n=errors_total - len(errors)), "small"))
    else:
        doc.add(Paragraph(t("no_errors", lang), "muted"))
    doc.add(
        Heading(t("methods", lang)),
        Bullets(
            series(
                "report.method",
                lang,
                threshold=settings.near_duplicate_threshold,
                loose=settings.derivative_loose_threshold,
                inliers=settings.derivative_min_inliers,
            )
        ),
        Heading(t("limitations", lang)),
        Bullets(series("report.limit", lang) + notes),
    )
    doc.add(Heading(t("custody", lang)), Paragraph(t("custody_intro", lang), "muted"))
    doc.add(
        Table(
            t("custody_cols", lang).split("|"), _custody_rows(entries, lang), widths=[0.5, 1.5, 1.0, 1.8, 3.8]
        )
    )
    if entries:
        doc.add(KeyValues([(t("head", lang), entries[-1].hash)]))
    return _clip_cells(doc)


#: characters of one table cell the report shows (items.csv/jsonl keep everything): a PDF table row
#: cannot break across pages, so a ZIP member's legal 40-KB name made the report fail
CELL_CHARS = 600


def _clip_cells(doc: Document) -> Document:
    """Every table cell at most :data:`CELL_CHARS` characters, cut in the middle (a path keeps its
    start and its file name)."""
    half = CELL_CHARS // 2

    def clip(text: str) -> str:
        if len(text) <= CELL_CHARS:
            return text
        return f"{text[:half]} … [{len(text) - 2 * half:,} characters] … {text[-half:]}"

    doc.blocks = [
        Table(b.headers, [[clip(c) for c in row] for row in b.rows], widths=b.widths, mono=b.mono)
        if isinstance(b, Table)
        else b
        for b in doc.blocks
    ]
    return doc


def _review_summary(s: Any, case: CaseDB) -> dict[str, Any] | None:
    """Categorisations as the review table holds them, and the review log's size and head (None:
    the case was never opened for review)."""
    if not reviewlog.has_review(s):
        return None
    entries = list(SqlCustodyStore(s, reviewlog.log_id(case.case_id)).entries())
    meta = case.get_meta(s, "review") or {}
    by_reviewer = s.execute(
        select(review.c.reviewer, func.count()).group_by(review.c.reviewer).order_by(review.c.reviewer)
    ).all()
    return {
        "log": reviewlog.log_id(case.case_id),
        "entries": len(entries),
        "head": entries[-1].hash if entries else None,
        "categories": list(meta.get("categories") or []),
        "counts": reviewlog.counts_by_category(s),
        "reviewers": [(str(a), int(n)) for a, n in by_reviewer],
        "reveals": sum(1 for e in entries if e.action == reviewlog.REVEALED),
        "notes": sum(1 for e in entries if e.action == reviewlog.NOTE_ADDED),
    }


def category_label(key: str, lang: str) -> str:
    """A category's name for a person: the catalogue's for the default ones, else the key itself
    (an installation's own categories are named in its configuration)."""
    return translate(f"review.category.{key}", lang) if has(f"review.category.{key}") else key


def _review_section(doc: Document, r: dict[str, Any], lang: str) -> None:
    doc.add(
        Heading(t("review", lang)),
        Paragraph(t("review_intro", lang, log=r["log"], entries=r["entries"]), "muted"),
    )
    counts: dict[str, int] = r["counts"]
    if not counts:
        doc.add(Paragraph(t("review_none", lang), "muted"))
    else:
        order = [k for k in r["categories"] if k in counts] + sorted(
            k for k in counts if k not in r["categories"]
        )
        doc.add(
            Table(
                t("review_cols", lang).split("|"),
                [[category_label(k, lang), f"{counts[k]:,}"] for k in order],
                widths=[4, 1],
            ),
            Table(
                t("reviewer_cols", lang).split("|"),
                [[who, f"{n:,}"] for who, n in r["reviewers"]],
                widths=[4, 1],
            ),
        )
    doc.add(
        KeyValues(
            [
                (t("review_notes", lang), f"{r['notes']:,}"),
                (t("review_reveals", lang), f"{r['reveals']:,}"),
                *([(t("review_head", lang), r["head"])] if r["head"] else []),
            ]
        )
    )


def _counts(s: Any) -> dict[str, int]:
    def n(*where: Any) -> int:
        return int(s.scalar(select(func.count()).select_from(item).where(*where)) or 0)

    return {
        "items": n(),
        "processed": n(item.c.state == DONE),
        "known": n(item.c.state == KNOWN),
        "errors": n(item.c.error_code.is_not(None)),
        "warned": n(item.c.error_code.is_(None), item.c.warnings.is_not(None)),
        "images": n(item.c.kind == "image"),
        "videos": n(item.c.kind == "video"),
        "archives": n(item.c.kind == "archive"),
        "others": n(item.c.state == DONE, item.c.kind.not_in(("image", "video", "archive"))),
        "bytes": int(
            s.scalar(select(func.coalesce(func.sum(item.c.size), 0)).where(item.c.state != "pending")) or 0
        ),
        "ai": n(item.c.ai.is_(True)),
        "explicit": n(item.c.explicit.is_(True)),
        "matched": int(
            s.scalar(
                select(func.count(func.distinct(bank_match.c.item_id))).where(
                    bank_match.c.allow_list.is_(False), bank_match.c.suppressed.is_(False)
                )
            )
            or 0
        ),
    }


def _count_rows(c: dict[str, int], groups: list[Any], lang: str) -> list[list[str]]:
    rows = [
        [t(k, lang), f"{c[k]:,}"]
        for k in (
            "items",
            "processed",
            "known",
            "errors",
            "images",
            "videos",
            "archives",
            "others",
            "bytes",
            "ai",
            "explicit",
            "matched",
        )
    ]
    kinds = Counter(g.kind for g in groups)
    for kind in ("derivation", "near_duplicates", "folder"):
        if kinds.get(kind):
            rows.append([t("groups_n", lang, kind=t(f"kind_{kind}", lang)), f"{kinds[kind]:,}"])
    for kind, n in sorted(kinds.items()):
        if kind not in ("derivation", "near_duplicates", "folder"):
            rows.append([t("groups_n", lang, kind=kind), f"{n:,}"])
    return rows


def _kind_label(kind: str, lang: str) -> str:
    key = f"kind_{kind}"
    return text_for(f"report.{key}", lang, kind)


def _groups_section(
    doc: Document,
    case: CaseDB,
    groups: list[Any],
    settings: ScanSettings,
    access: ContentAccess,
    *,
    lang: str,
    reveal: bool,
) -> None:
    doc.add(Heading(t("groups", lang)), Paragraph(t("groups_intro", lang), "muted"))
    order = {"derivation": 0, "near_duplicates": 1, "folder": 2}
    ranked = sorted(groups, key=lambda g: (order.get(g.kind, 3), -g.size, g.id))
    shown = ranked[:MAX_GROUPS]
    limits = Limits(max_pixels=settings.max_image_pixels, max_file_bytes=settings.max_file_bytes)
    tiles: dict[int, PILImage.Image] = {}  # an item in several groups is read and decoded once
    for g in shown:
        with case.session() as s:
            members = s.execute(
                select(grp_member.c.role, item)
                .join(item, item.c.id == grp_member.c.item_id)
                .where(grp_member.c.group_id == g.id)
                .order_by(grp_member.c.role != "source", grp_member.c.role != "representative", item.c.id)
            ).all()
            links = (
                s.execute(
                    select(link)
                    .where(link.c.source_item.in_([m.id for m in members]), link.c.step == g.step)
                    .order_by(link.c.id)
                ).all()
                if g.kind == "derivation"
                else []
            )
        doc.add(Heading(t("group_head", lang, label=g.label, kind=_kind_label(g.kind, lang), n=g.size), 3))
        thumb_rows = [m for m in members if m.kind == "image"][:MAX_THUMBS_PER_GROUP]
        if thumb_rows:
            todo = [r for r in thumb_rows if r.id not in tiles]
            for row, data, _ in access.read_items(todo):
                tiles[row.id] = _thumb(data, reveal=reveal, limits=limits)
            thumbs = [tiles[r.id] for r in thumb_rows]
            caption = ", ".join(f"#{r.id}" for r in thumb_rows) + (
                "" if reveal else f" · {t('thumbs_blurred', lang)}"
            )
            doc.add(
                Image(
                    contact_sheet(thumbs, reveal=reveal),
                    caption=caption,
                    width_mm=min(170, 30 * min(SHEET_COLUMNS, len(thumbs))),
                )
            )
        rows = [
            [
                str(m.id),
                text_for(f"role.{m.role}", lang, m.role),
                m.path,
                m.sha256 or "",
                _quality(m.pdq_quality, lang),
                "" if m.tier is None else str(m.tier),
                "" if m.nudity is None else f"{m.nudity:.2f}",
            ]
            for m in members[:MAX_ROWS_PER_GROUP]
        ]
        doc.add(
            Table(
                t("member_cols", lang).split("|"),
                rows,
                widths=[0.6, 1.3, 2.5, 2.4, 0.7, 0.5, 0.75],
                mono=frozenset({3}),
            )
        )
        if len(members) > MAX_ROWS_PER_GROUP:
            doc.add(Paragraph(t("more_rows", lang, n=len(members) - MAX_ROWS_PER_GROUP), "small"))
        if links:
            doc.add(
                Table(
                    t("link_cols", lang).split("|"),
                    [
                        [
                            f"#{lk.source_item}",
                            f"#{lk.derived_item}" + ("" if lk.directed else " (?)"),
                            lk.kind,
                            _link_evidence(lk.details),
                        ]
                        for lk in links
                    ],
                    widths=[0.7, 0.8, 1.2, 5],
                )
            )
    if len(ranked) > len(shown):
        doc.add(Paragraph(t("more_groups", lang, n=len(ranked) - len(shown)), "small"))


def _link_evidence(d: dict[str, Any]) -> str:
    parts = []
    for k in (
        "strength",
        "direction",
        "pdq_distance",
        "regions_unchanged",
        "orb_inliers",
        "scale",
        "shared_traces",
        "candidate",
    ):
        if k in d:
            v = d[k]
            parts.append(f"{k.replace('_', ' ')}: {', '.join(v) if isinstance(v, list) else v}")
    return "; ".join(parts)


def _custody_rows(entries: Iterable[CustodyEntry], lang: str) -> list[list[str]]:
    rows: list[list[str]] = []
    run: list[CustodyEntry] = []

    def flush() -> None:
        if run:
            rows.append(
                [
                    f"{run[0].seq}–{run[-1].seq}" if len(run) > 1 else str(run[0].seq),
                    run[-1].at[:19].replace("T", " "),
                    run[-1].actor,
                    "items.sealed",
                    t("sealed_rows", lang, n=len(run), a=run[0].seq, b=run[-1].seq),
                ]
            )
            run.clear()

    for e in entries:
        if e.action == "items.sealed":
            run.append(e)
            continue
        flush()
        rows.append([str(e.seq), e.at[:19].replace("T", " "), e.actor, e.action, _custody_details(e)])
    flush()
    return rows
