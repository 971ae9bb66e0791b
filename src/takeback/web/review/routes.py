"""The review grid's pages: the scan folders one may open, a folder's grid (groups or items in
review order, blurred greyscale tiles), an item, a group, and the actions on them.

Who: investigators (the folders assigned to them) and supervisors (every registered folder), as
``staff.service.can_open_scan`` decides; anyone else gets 403, a folder id that is not registered
404. Every view of a folder, an item or a group, and every change, is an audit row naming
``staff:<handle>``; every change is also an entry in the folder's review log (the service writes
it). Nothing here decides anything the service does not: categories, notes, reveals, bank imports
and exports are :class:`takeback.triage.review.CaseReview` calls, run off the event loop.

Reveals: the clear picture is produced for one item by a POST (logged first by the service) and
sent inside that one answer as a ``data:`` image, never cached (``no-store``) and never stored.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from takeback.banks import service as banks
from takeback.errors import TakebackError
from takeback.evidence.signing import Signer
from takeback.i18n import has, translate
from takeback.staff import service as staff_service
from takeback.staff.models import StaffRole
from takeback.store import record_audit
from takeback.triage.report import category_label
from takeback.triage.review import (
    GROUP_KINDS,
    MAX_NOTE_CHARS,
    NOT_RELEVANT,
    CaseReview,
    Integrity,
    ItemCard,
    ReviewError,
    ReviewService,
)
from takeback.triage.service import NothingToImportError
from takeback.web.console.pages import page_lang, render
from takeback.web.forms import Form
from takeback.web.jsonbody import GuardedRoute
from takeback.web.staffauth import (
    Staff,
    StaffDenied,
    in_db,
    reuse_of,
    staff_form,
    staff_json,
    staff_with,
    state_of,
)

router = APIRouter(include_in_schema=False, route_class=GuardedRoute)

ROLES = (StaffRole.INVESTIGATOR, StaffRole.SUPERVISOR)
Reviewer = Annotated[Staff, Depends(staff_with(*ROLES))]
#: a grid page: groups (each with its first members) or items
GROUPS_PER_PAGE, MEMBERS_PER_GROUP, ITEMS_PER_PAGE = 12, 6, 48
T = TypeVar("T")
_SERVICE_LOCK = threading.Lock()


def review_service(request: Request) -> ReviewService:
    """This worker's one review service (opened cases, their caches and verifiers)."""
    app_state = request.app.state
    svc: ReviewService | None = getattr(app_state, "review_service", None)
    if svc is None:
        with _SERVICE_LOCK:
            svc = getattr(app_state, "review_service", None)
            if svc is None:
                settings = state_of(request).settings
                svc = ReviewService(
                    signer=Signer.load_or_create(settings.ensure_data_dir()),
                    categories=settings.review_categories.split(","),
                )
                app_state.review_service = svc
    return svc


async def off_loop(work: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(work)


@dataclass(frozen=True)
class Opened:
    scan_id: int
    label: str
    case: CaseReview


def _number(value: str) -> int:
    """A path's number, or 404 (a forged or mangled id is a page that does not exist)."""
    if not value.isdigit() or len(value) > 12:
        raise StaffDenied(404, "review.error.missing")
    return int(value)


async def _open(request: Request, who: Staff, scan: str, viewed: str | None = None, **details: Any) -> Opened:
    """The folder, if ``who`` may open it (else 404 / 403). ``viewed``: the audit row of this view,
    written in the same transaction as the access check (one commit a page, not two)."""
    scan_id = _number(scan)

    def look(s: Session) -> tuple[str, str, bool] | None:
        folder = staff_service.get_scan(s, scan_id=scan_id)
        if folder is None:
            return None
        allowed = staff_service.can_open_scan(s, staff_id=who.id, role=who.role, scan_id=scan_id)
        if allowed and viewed is not None:
            record_audit(
                s,
                actor=who.actor,
                action=viewed,
                object_type="scan_folder",
                object_id=scan_id,
                details=details,
            )
        return folder.path, folder.label, allowed

    reuse = reuse_of(request) if viewed is None else None  # a logged view always looks again
    reuse_key = ("scan", who.id, scan_id)
    hit = reuse.get(reuse_key) if reuse is not None else None
    found: tuple[str, str, bool] | None
    if isinstance(hit, tuple):
        found = (str(hit[0]), str(hit[1]), bool(hit[2]))
    else:
        found = await in_db(request, look)
        if reuse is not None and found is not None:
            reuse.put(reuse_key, found)
    if found is None:
        raise StaffDenied(404, "review.error.no_scan")
    path, label, allowed = found
    if not allowed:
        raise StaffDenied(403, "review.error.not_assigned")
    svc = review_service(request)
    try:
        case = await off_loop(lambda: svc.open(Path(path)))
    except TakebackError as exc:  # moved, not a case folder, written by a newer takeback
        key = f"review.error.{exc.code}"
        raise StaffDenied(409, key if has(key) else "review.error.cannot_open") from None
    return Opened(scan_id, label, case)


async def _audit(request: Request, who: Staff, action: str, scan_id: int, **details: Any) -> None:
    await in_db(
        request,
        lambda s: record_audit(
            s, actor=who.actor, action=action, object_type="scan_folder", object_id=scan_id, details=details
        ),
    )


def error_text(exc: TakebackError, lang: str) -> str:
    """A review error in the page's language: its code's message (the review's, else the console's
    for the domain errors both surfaces meet, such as a bank's), else the generic one: never the
    service's English text on a Chinese page."""
    key = f"review.error.{exc.code}"
    if exc.code == "note_too_long":
        return translate(key, lang, limit=f"{MAX_NOTE_CHARS:,}")
    for candidate in (key, f"console.error.{exc.code}"):
        if has(candidate):
            return translate(candidate, lang)
    return translate("review.error.generic", lang)


def _lang(request: Request, form: Form | None = None) -> str:
    asked = form.get("lang") if form is not None else None
    return asked if asked in ("en", "zh-Hant") else page_lang(request)


def _back(path: str, lang: str, anchor: str = "") -> RedirectResponse:
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}lang={lang}{anchor}", status_code=303)


def _banner(integrity: Integrity, lang: str) -> dict[str, Any]:
    """What the page says about the folder's verification (every word from the catalogue; the
    checker's own sentence, in English, is offered as the technical detail)."""
    if integrity.status == "failed":
        if integrity.seq is None:
            where = translate("review.banner.where_db", lang)
        elif integrity.log == "review":
            where = translate("review.banner.where_review", lang, seq=integrity.seq)
        else:
            where = translate("review.banner.where_scan", lang, seq=integrity.seq)
        return {
            "tone": "error",
            "text": translate("review.banner.failed", lang, where=where, code=integrity.code or ""),
            "detail": integrity.message,
        }
    if integrity.status == "verifying":
        return {"tone": "info", "text": translate("review.banner.verifying", lang), "detail": None}
    return {
        "tone": "ok",
        "text": translate(
            "review.banner.verified",
            lang,
            entries=f"{integrity.entries:,}",
            review=f"{integrity.review_entries:,}",
        ),
        "detail": None,
    }


_NUMBERED = re.compile(r"^(?:Stack|Derivation set) (\d{1,9})$")


def group_label(kind: str, label: str, lang: str) -> str:
    """A group's name: a folder's is its name; the scan's numbered ones ("Stack 3") in the page's
    language."""
    m = _NUMBERED.match(label)
    if m is None or kind not in ("near_duplicates", "derivation"):
        return label
    return translate(f"review.group.name.{kind}", lang, n=m.group(1))


def _categories(case: CaseReview, lang: str) -> list[dict[str, Any]]:
    return [
        {"n": n, "key": k, "label": category_label(k, lang)} for n, k in enumerate(case.categories, start=1)
    ]


def _tile(card: ItemCard, lang: str) -> dict[str, Any]:
    """A tile's words in the page's language: its badges (role, flags, AI tier, nudity score) and
    its category."""
    badges = []
    if card.role and card.role != "member":
        badges.append(("role", translate(f"review.role.{card.role}", lang)))
    badges.extend(("flag", translate(f"review.flag.{f}", lang)) for f in card.flags)
    if card.tier:
        badges.append(("tier", translate("review.tile.tier", lang, tier=card.tier)))
    if card.nudity is not None:
        badges.append(("", translate("review.tile.nudity", lang, score=f"{card.nudity:.2f}")))
    return {
        "card": card,
        "badges": badges,
        "alt": translate("review.tile.alt", lang, name=card.name),
        "category": category_label(card.category, lang) if card.category else None,
        "flags": [translate(f"review.flag.{f}", lang) for f in card.flags],
    }


# --- the list of folders --------------------------------------------------------------------------


@router.get("/review")
async def review_home(request: Request, who: Reviewer) -> Response:
    lang = page_lang(request)

    def look(s: Session) -> list[dict[str, Any]]:
        ids = (
            None if who.role == StaffRole.SUPERVISOR else staff_service.assigned_scan_ids(s, staff_id=who.id)
        )
        return [
            {"id": f.id, "label": f.label, "path": f.path, "registered_at": f.registered_at}
            for f in staff_service.list_scans(s, ids=ids)
        ]

    scans = await in_db(request, look)
    return render(
        request, "review_list.html", staff=who, lang=lang, title_key="review.list.title", scans=scans
    )


# --- the grid -------------------------------------------------------------------------------------


@router.get("/review/{scan}")
async def grid(request: Request, who: Reviewer, scan: str) -> Response:
    lang = page_lang(request)
    q = request.query_params
    kind = q.get("kind") if q.get("kind") in GROUP_KINDS else None
    only = "uncategorised" if q.get("only") == "uncategorised" else None
    after = q.get("after") or None
    asked_view = q.get("view") if q.get("view") in ("groups", "items") else None
    opened = await _open(request, who, scan, "review.opened", view=asked_view, kind=kind, page=after)
    case = opened.case

    def pages(view: str, cursor: str | None) -> tuple[list[Any], list[ItemCard], str | None]:
        if view == "groups":
            page = case.groups_page(kind=kind, after=cursor, limit=GROUPS_PER_PAGE, members=MEMBERS_PER_GROUP)
            case.prefetch(m.id for g in page.entries for m in g.members)
            return page.entries, [], page.next
        ipage = case.items_page(after=cursor, limit=ITEMS_PER_PAGE, uncategorised=bool(only))
        case.prefetch(c.id for c in ipage.entries)
        return [], ipage.entries, ipage.next

    def work() -> dict[str, Any]:
        counts = case.counts()
        has_groups = any(counts.get(k) for k in GROUP_KINDS)
        asked = q.get("view")
        view = asked if asked in ("groups", "items") else ("groups" if has_groups else "items")
        try:
            groups, items, nxt = pages(view, after)
        except ReviewError:  # a cursor from another page or a mangled link: the first page
            groups, items, nxt = pages(view, None)
        return {
            "view": view,
            "counts": counts,
            "has_groups": has_groups,
            "groups": groups,
            "items": items,
            "next": nxt,
            "integrity": case.integrity(),
            "progress": case.progress(),
        }

    data = await off_loop(work)
    return render(
        request,
        "review_grid.html",
        staff=who,
        lang=lang,
        title_key="review.grid.title",
        scan_id=opened.scan_id,
        label=opened.label,
        case=case,
        banner=_banner(data["integrity"], lang),
        read_only=data["integrity"].failed or not case.has_tables,
        categories=_categories(case, lang),
        kinds=GROUP_KINDS,
        kind=kind,
        only=only,
        tile=lambda c: _tile(c, lang),
        glabel=lambda kind, label: group_label(kind, label, lang),
        back=f"/review/{opened.scan_id}"
        + (
            "?"
            + "&".join(
                f"{k}={quote(v)}" for k, v in q.multi_items() if k in ("view", "kind", "only", "after")
            )
            if any(k in q for k in ("view", "kind", "only", "after"))
            else ""
        ),
        next_url=(
            f"/review/{opened.scan_id}?"
            + "&".join(
                f"{k}={quote(str(v))}"
                for k, v in (
                    ("view", data["view"]),
                    ("kind", kind),
                    ("only", only),
                    ("after", data["next"]),
                    ("lang", lang),
                )
                if v
            )
            if data["next"]
            else None
        ),
        **data,
    )


@router.get("/review/{scan}/status")
async def status(request: Request, who: Reviewer, scan: str) -> Response:
    """What the grid polls: the folder's item count (new items while a scan runs) and verification."""
    opened = await _open(request, who, scan)

    def work() -> dict[str, Any]:
        progress = opened.case.progress()
        integrity = opened.case.integrity()
        return {
            "items": progress.total,
            "categorised": progress.categorised,
            "verification": integrity.status,
        }

    return JSONResponse(await off_loop(work), headers={"cache-control": "no-store"})


@router.get("/review/{scan}/thumb/{item}")
async def thumb(request: Request, who: Reviewer, scan: str, item: str) -> Response:
    opened = await _open(request, who, scan)
    item_id = _number(item)
    try:
        tile = await off_loop(lambda: opened.case.thumbnail(item_id))
    except ReviewError:
        raise StaffDenied(404, "review.error.missing") from None
    headers = {"cache-control": "private, max-age=600", "x-content-type-options": "nosniff"}
    if tile.problem:
        headers["x-takeback-problem"] = tile.problem
    return Response(tile.data, media_type=tile.media_type, headers=headers)


# --- categorising ---------------------------------------------------------------------------------


def _ids(values: Any) -> list[int]:
    if not isinstance(values, list) or not values or len(values) > 20_000:
        raise ReviewError("Select at least one item.", code="empty_selection")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | str) or not str(v).isdigit() or len(str(v)) > 12:
            raise ReviewError("Not an item.", code="no_such_item")
        out.append(int(v))
    return out


@router.post("/review/{scan}/categorise")
async def categorise(request: Request, scan: str) -> Response:
    """``fetch()`` from the grid (number keys): ``{"items": [ids], "category": key | null}``."""
    who, body = await staff_json(request)
    if who.role not in ROLES:
        raise StaffDenied(403, "console.error.role")
    opened = await _open(request, who, scan)
    lang = str(body["lang"]) if body.get("lang") in ("en", "zh-Hant") else page_lang(request)
    category = body.get("category")
    try:
        ids = _ids(body.get("items"))
        if category is not None and not isinstance(category, str):
            raise ReviewError("Unknown category.", code="bad_category")
        changed = await off_loop(lambda: opened.case.categorise(ids, category, actor=who.actor))
    except ReviewError as exc:
        return JSONResponse({"code": exc.code, "message": error_text(exc, lang)}, status_code=409)
    await _audit(
        request, who, "review.categorised", opened.scan_id, items=len(ids), changed=changed, category=category
    )
    progress = await off_loop(opened.case.progress)
    return JSONResponse(
        {
            "changed": changed,
            "category": category,
            "label": category_label(category, lang) if category else None,
            "categorised": progress.categorised,
            "total": progress.total,
            "message": translate(
                "review.grid.categorised",
                lang,
                n=f"{len(ids):,}",
                category=category_label(category, lang)
                if category
                else translate("review.category.none", lang),
            ),
        },
        headers={"cache-control": "no-store"},
    )


@router.post("/review/{scan}/items/{item}/category")
async def categorise_form(request: Request, scan: str, item: str) -> Response:
    """The same without JavaScript: the item page's category form."""
    who, form = await staff_form(request)
    if who.role not in ROLES:
        raise StaffDenied(403, "console.error.role")
    opened = await _open(request, who, scan)
    item_id, lang = _number(item), _lang(request, form)
    category = form.get("category") or None
    try:
        changed = await off_loop(lambda: opened.case.categorise([item_id], category, actor=who.actor))
    except ReviewError as exc:
        return await _item_page(request, who, opened, item_id, lang, error=error_text(exc, lang), status=409)
    await _audit(
        request, who, "review.categorised", opened.scan_id, items=1, changed=changed, category=category
    )
    return _back(f"/review/{opened.scan_id}/items/{item_id}", lang)


# --- an item --------------------------------------------------------------------------------------


async def _item_page(
    request: Request,
    who: Staff,
    opened: Opened,
    item_id: int,
    lang: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    revealed: str | None = None,
    note_text: str = "",
    status: int = 200,
) -> Response:
    case = opened.case
    try:
        detail, integrity = await off_loop(lambda: (case.item(item_id), case.integrity()))
    except ReviewError:
        raise StaffDenied(404, "review.error.missing") from None
    response = render(
        request,
        "review_item.html",
        staff=who,
        lang=lang,
        title_key="review.item.title",
        status=status,
        scan_id=opened.scan_id,
        label=opened.label,
        d=detail,
        tile=_tile(detail.card, lang),
        glabel=lambda kind, label: group_label(kind, label, lang),
        categories=_categories(case, lang),
        banner=_banner(integrity, lang),
        read_only=integrity.failed or not case.has_tables,
        error=error,
        notice=notice,
        revealed=revealed,
        note_text=note_text,
        max_note=MAX_NOTE_CHARS,
        when_iso=_when,
    )
    response.headers["cache-control"] = "no-store"
    return response


def _when(text: str) -> str:
    """A stored UTC timestamp as a person reads it (minutes, UTC)."""
    return text[:16].replace("T", " ") + " UTC" if text else ""


@router.get("/review/{scan}/items/{item}")
async def item_page(request: Request, who: Reviewer, scan: str, item: str) -> Response:
    item_id = _number(item)
    opened = await _open(request, who, scan, "review.item_viewed", item=item_id)
    return await _item_page(request, who, opened, item_id, page_lang(request))


@router.post("/review/{scan}/items/{item}/reveal")
async def reveal(request: Request, scan: str, item: str) -> Response:
    who, form = await staff_form(request)
    if who.role not in ROLES:
        raise StaffDenied(403, "console.error.role")
    opened = await _open(request, who, scan)
    item_id, lang = _number(item), _lang(request, form)
    try:
        shown = await off_loop(lambda: opened.case.reveal(item_id, actor=who.actor))
    except ReviewError as exc:
        return await _item_page(request, who, opened, item_id, lang, error=error_text(exc, lang), status=409)
    await _audit(
        request,
        who,
        "review.revealed",
        opened.scan_id,
        item=item_id,
        reveal=shown.reveal.id,
        seq=shown.reveal.seq,
    )
    data = f"data:{shown.picture.media_type};base64,{base64.b64encode(shown.picture.data).decode('ascii')}"
    return await _item_page(request, who, opened, item_id, lang, revealed=data)


async def _add_note(request: Request, scan: str, target: str, number: str) -> Response:
    who, form = await staff_form(request)
    if who.role not in ROLES:
        raise StaffDenied(403, "console.error.role")
    opened = await _open(request, who, scan)
    target_id, lang = _number(number), _lang(request, form)
    text = form.get("note")
    try:
        note = await off_loop(
            lambda: opened.case.add_note(
                "item" if target == "item" else "group", target_id, text, actor=who.actor
            )
        )
    except ReviewError as exc:
        if target == "item":
            return await _item_page(
                request,
                who,
                opened,
                target_id,
                lang,
                error=error_text(exc, lang),
                note_text=text[: MAX_NOTE_CHARS * 2],
                status=400,
            )
        return await _group_page(
            request,
            who,
            opened,
            target_id,
            lang,
            error=error_text(exc, lang),
            note_text=text[: MAX_NOTE_CHARS * 2],
            status=400,
        )
    await _audit(request, who, "review.note_added", opened.scan_id, target=target, id=target_id, note=note.id)
    plural = "items" if target == "item" else "groups"
    return _back(f"/review/{opened.scan_id}/{plural}/{target_id}", lang, "#notes")


@router.post("/review/{scan}/items/{item}/notes")
async def item_note(request: Request, scan: str, item: str) -> Response:
    return await _add_note(request, scan, "item", item)


# --- a group --------------------------------------------------------------------------------------


async def _group_page(
    request: Request,
    who: Staff,
    opened: Opened,
    group_id: int,
    lang: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    note_text: str = "",
    status: int = 200,
) -> Response:
    case = opened.case
    after = request.query_params.get("after") if request.method == "GET" else None

    def work() -> dict[str, Any]:
        g = case.group(group_id)
        try:
            page = case.items_page(group=group_id, after=after, limit=ITEMS_PER_PAGE)
        except ReviewError:
            page = case.items_page(group=group_id, limit=ITEMS_PER_PAGE)
        case.prefetch(c.id for c in page.entries)
        return {"g": g, "page": page, "integrity": case.integrity()}

    try:
        data = await off_loop(work)
    except ReviewError:
        raise StaffDenied(404, "review.error.missing") from None

    def bank_names(s: Session) -> list[str]:
        return [b.name for b in banks.list_banks(s) if not b.is_allow_list and b.enabled]

    names = await in_db(request, bank_names)
    nxt = data["page"].next
    return render(
        request,
        "review_group.html",
        staff=who,
        lang=lang,
        title_key="review.group.title",
        status=status,
        scan_id=opened.scan_id,
        label=opened.label,
        g=data["g"],
        glabel=lambda kind, label: group_label(kind, label, lang),
        items=data["page"].entries,
        next_url=f"/review/{opened.scan_id}/groups/{group_id}?after={quote(nxt)}&lang={lang}"
        if nxt
        else None,
        tile=lambda c: _tile(c, lang),
        categories=_categories(case, lang),
        banner=_banner(data["integrity"], lang),
        read_only=data["integrity"].failed or not case.has_tables,
        banks=names,
        error=error,
        notice=notice,
        note_text=note_text,
        max_note=MAX_NOTE_CHARS,
        when_iso=_when,
        not_relevant=NOT_RELEVANT in case.categories,
    )


@router.get("/review/{scan}/groups/{group}")
async def group_page(request: Request, who: Reviewer, scan: str, group: str) -> Response:
    group_id = _number(group)
    opened = await _open(request, who, scan, "review.group_viewed", group=group_id)
    return await _group_page(request, who, opened, group_id, page_lang(request))


@router.post("/review/{scan}/groups/{group}/notes")
async def group_note(request: Request, scan: str, group: str) -> Response:
    return await _add_note(request, scan, "group", group)


@router.post("/review/{scan}/groups/{group}/bank")
async def group_to_bank(request: Request, scan: str, group: str) -> Response:
    """The group's flagged fingerprints into a bank (``bank import --from-case --group``'s defaults)."""
    who, form = await staff_form(request)
    if who.role not in ROLES:
        raise StaffDenied(403, "console.error.role")
    opened = await _open(request, who, scan)
    group_id, lang = _number(group), _lang(request, form)
    bank = form.get("bank")
    state = state_of(request)
    try:
        done = await off_loop(
            lambda: opened.case.add_group_to_bank(state.db, group_id, bank=bank, actor=who.actor)
        )
    except NothingToImportError as exc:
        key = "review.bank.none_flagged" if exc.code == "nothing_flagged" else "review.bank.no_images"
        text = translate(key, lang, n=f"{exc.selection.considered:,}")
        return await _group_page(request, who, opened, group_id, lang, error=text, status=409)
    except banks.UnknownBankError:
        return await _group_page(
            request, who, opened, group_id, lang, error=translate("review.bank.unknown", lang), status=409
        )
    except TakebackError as exc:
        return await _group_page(
            request, who, opened, group_id, lang, error=error_text(exc, lang), status=409
        )
    if state.matcher.ready:
        state.matcher.get().mark_stale()  # this worker's next lookup sees the new entries
    r, sel = done.report, done.selection
    await _audit(
        request,
        who,
        "review.bank_imported",
        opened.scan_id,
        group=group_id,
        bank=bank,
        added=r.added,
        rows=r.rows,
    )
    notice = translate(
        "review.bank.done",
        lang,
        added=f"{r.added:,}",
        rows=f"{r.rows:,}",
        bank=bank,
        left=f"{sum(sel.left_out.values()):,}",
    )
    return await _group_page(request, who, opened, group_id, lang, notice=notice)


# --- bulk actions ---------------------------------------------------------------------------------


@router.post("/review/{scan}/bulk")
async def bulk(request: Request, scan: str) -> Response:
    """Mark a selection (ticked items, or a whole group) not relevant, or export its hashes."""
    who, form = await staff_form(request)
    if who.role not in ROLES:
        raise StaffDenied(403, "console.error.role")
    opened = await _open(request, who, scan)
    lang, action = _lang(request, form), form.get("action")
    back = form.get("back")
    if not back.startswith(f"/review/{opened.scan_id}") or "//" in back or "\\" in back or len(back) > 500:
        back = f"/review/{opened.scan_id}"
    case = opened.case
    try:
        if form.get("group"):
            group_id = _number(form.get("group"))
            ids = await off_loop(lambda: case.group_items(group_id))
        else:
            ids = _ids(form.all("item"))
        if action == "not_relevant":
            changed = await off_loop(lambda: case.mark_not_relevant(ids, actor=who.actor))
            await _audit(
                request, who, "review.marked_not_relevant", opened.scan_id, items=len(ids), changed=changed
            )
            return _back(back, lang)
        if action in ("export_csv", "export_json"):
            fmt: Literal["csv", "json"] = "csv" if action == "export_csv" else "json"
            out = await off_loop(lambda: case.export_hashes(ids, fmt=fmt, actor=who.actor))
            await _audit(
                request, who, "review.exported", opened.scan_id, rows=out.rows, format=fmt, sha256=out.sha256
            )
            return Response(
                out.text.encode("utf-8"),
                media_type=out.media_type,
                headers={
                    "content-disposition": f'attachment; filename="{out.filename}"',
                    "cache-control": "no-store",
                    "x-content-type-options": "nosniff",
                },
            )
        raise ReviewError("Unknown action.", code="bad_action")
    except ReviewError as exc:
        return render(
            request,
            "message.html",
            staff=who,
            lang=lang,
            title_key="review.error.title",
            status=409,
            message=error_text(exc, lang),
            link=f"{back}{'&' if '?' in back else '?'}lang={lang}",
            link_text=translate("review.back_to_grid", lang),
        )
