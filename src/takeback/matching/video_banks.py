"""Video matching against the banks: bank videos' frame hashes in a PDQ index that follows the bank
change log, judged with each bank's policy.

A bank entry for a video holds one ``vpdq`` signal (:func:`takeback.signals.vpdq.pack_result`: every
distinct frame, the border-cropped frames and the duration). :class:`VideoMatcher` keeps all of them
in one :class:`~takeback.index.PdqIndex` (frame ids are ``signal_id << 24 | frame``) with a
:class:`~takeback.matching.video.FrameTable`, catches up with the same change log the photo matcher
follows (``signal_add``/``signal_remove`` rows for ``vpdq`` signals), and applies the same bank
rules: only active banks and entries, each bank's PDQ threshold as the frame distance, allow-list
matches suppress the others.

It is separate from :class:`takeback.matching.Matcher` because a video match is not one distance but
two shares (of the query, of the bank video) and a verdict (match / clip / contains / partial).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.banks.models import Bank, BankContent, ContentSignal, entry_active
from takeback.banks.service import change_watermark, changes_after, get_bank, live_signals
from takeback.clock import utcnow
from takeback.index import PdqIndex
from takeback.matching.models import BankPolicy
from takeback.matching.video import (
    DEFAULT_COVERAGE,
    DEFAULT_QUERY_SHARE,
    FRAME_BITS,
    FrameTable,
    MatchKind,
    VideoMatch,
    match_video,
)
from takeback.signals.pdq import LOW_QUALITY
from takeback.signals.vpdq import VpdqResult, unpack_result
from takeback.store import Database

SIGNAL = "vpdq"
_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class VideoBankMatch:
    """One bank entry a query video matched (or partly matched), with the numbers behind it."""

    bank: str
    bank_id: int
    allow_list: bool
    content_id: int
    video: VideoMatch
    threshold: int
    note: str | None
    metadata: dict[str, Any]
    source: str | None
    #: (bank, content id, bank id) of the allow-list entry; (None, None, None) for a caller who may
    #: not see that bank (see ``hidden_suppressor``)
    suppressed_by: tuple[str | None, int | None, int | None] | None = None

    @property
    def kind(self) -> MatchKind:
        return self.video.kind

    @property
    def effective(self) -> bool:
        """A match that should act: a full match, clip or containment in a blocking bank, not
        suppressed by an allow-list entry (a ``partial`` one only informs)."""
        return self.kind is not MatchKind.PARTIAL and not self.allow_list and self.suppressed_by is None

    @property
    def distance(self) -> int:
        """One number for the two shares, as :class:`~takeback.signals.vpdq.VpdqSignal` compares
        values: 100 minus the smaller share in percent (0: each video wholly inside the other)."""
        return 100 - int(min(self.video.query_share, self.video.coverage) * 100)

    def explain(self) -> str:
        v = self.video
        what = "allow-list entry" if self.allow_list else "entry"
        text = (
            f"vpdq {v.kind}: {v.query_share:.0%} of the query's frames and {v.coverage:.0%} of the "
            f"banked video within distance {self.threshold}: {what} {self.content_id} of bank {self.bank}"
        )
        if self.suppressed_by and self.suppressed_by[0] is None:
            text += "; suppressed by an allow-list entry in a bank this key cannot see"
        elif self.suppressed_by:
            text += (
                f"; suppressed by allow-list entry {self.suppressed_by[1]} of bank {self.suppressed_by[0]}"
            )
        return text

    def hidden_suppressor(self) -> VideoBankMatch:
        """This match as a caller outside the allow-list entry's bank sees it: suppressed, not by whom."""
        return replace(self, suppressed_by=(None, None, None)) if self.suppressed_by else self

    def to_record(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "content_id": self.content_id,
            "signal_type": SIGNAL,
            **{k: v for k, v in self.video.to_record().items() if k != "video_id"},
            "threshold": self.threshold,
            "allow_list": self.allow_list,
            "suppressed": self.suppressed_by is not None,
            "suppressed_by": (
                {"bank": self.suppressed_by[0], "content_id": self.suppressed_by[1]}
                if self.suppressed_by
                else None
            ),
            "note": self.note,
            "metadata": self.metadata,
            "source": self.source,
            "explanation": self.explain(),
        }


class VideoMatcher:
    """Matches query videos against every live bank; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.RLock()
        self._index = PdqIndex()
        self._table = FrameTable(id_bits=FRAME_BITS)
        self._owner: dict[int, tuple[int, int]] = {}  # signal id -> (content id, bank id)
        self._banks: dict[int, BankPolicy] = {}
        self._watermark = -1

    def __len__(self) -> int:
        """Bank videos indexed."""
        return self._table.videos

    @property
    def watermark(self) -> int:
        """The change-log sequence number this matcher has caught up to (-1 before the first load)."""
        return self._watermark

    # --- following the store ----------------------------------------------------------------------
    def _reload_banks(self, s: Session) -> None:
        self._banks = {
            b.id: BankPolicy.from_bank(b) for b in s.scalars(select(Bank).where(Bank.deleted_at.is_(None)))
        }

    def _put(self, sid: int, content_id: int, bank_id: int, value: bytes) -> None:
        frames, cropped, duration = unpack_result(value)
        frames = [f for f in frames if f.quality >= LOW_QUALITY]
        cropped = [f for f in cropped if f.quality >= LOW_QUALITY]
        self._drop(sid)
        n = len(frames) + len(cropped)
        ids = (np.int64(sid) << FRAME_BITS) + np.arange(n, dtype=np.int64)
        end = duration if duration is not None else max((f.timestamp for f in frames), default=0.0)
        self._table.add(
            sid,
            frames=frames,
            ids=ids[: len(frames)],
            duration_s=end,
            cropped=cropped,
            cropped_ids=ids[len(frames) :],
        )
        if n:
            hashes = np.frombuffer(b"".join(f.hash for f in frames + cropped), np.uint8).reshape(-1, 32)
            self._index.add(ids, hashes)
        self._owner[sid] = (content_id, bank_id)

    def _drop(self, sid: int) -> None:
        ids = self._table.remove(sid)
        if ids.size:
            self._index.remove(ids)
        self._owner.pop(sid, None)

    def _owners(self, s: Session, sids: Sequence[int]) -> dict[int, tuple[int, int]]:
        out: dict[int, tuple[int, int]] = {}
        for i in range(0, len(sids), _CHUNK):
            for sid, cid, bid in s.execute(
                select(ContentSignal.id, BankContent.id, BankContent.bank_id)
                .join(BankContent, BankContent.id == ContentSignal.content_id)
                .where(ContentSignal.id.in_(sids[i : i + _CHUNK]))
            ):
                out[int(sid)] = (int(cid), int(bid))
        return out

    def refresh(self, s: Session) -> None:
        """Catch up with the change log (everything on the first call)."""
        with self._lock:
            head = change_watermark(s)
            if head == self._watermark:
                return
            if self._watermark < 0 or head < self._watermark:
                self._index, self._table, self._owner = PdqIndex(), FrameTable(id_bits=FRAME_BITS), {}
                rows = s.execute(
                    select(ContentSignal.id, BankContent.id, BankContent.bank_id, ContentSignal.value)
                    .join(BankContent, BankContent.id == ContentSignal.content_id)
                    .join(Bank, Bank.id == BankContent.bank_id)
                    .where(ContentSignal.signal_type == SIGNAL, Bank.deleted_at.is_(None))
                    .execution_options(yield_per=500)
                )
                for sid, cid, bid, value in rows:
                    self._put(int(sid), int(cid), int(bid), bytes(value))
            else:
                changed, _ = changes_after(s, after=self._watermark, upto=head)
                current = dict(live_signals(s, signal_type=SIGNAL, ids=sorted(changed))) if changed else {}
                owners = self._owners(s, sorted(current))
                for sid in changed:
                    if sid in current and sid in owners:
                        self._put(sid, *owners[sid], current[sid])
                    elif sid in self._owner:
                        self._drop(sid)
            self._reload_banks(s)
            self._watermark = head

    # --- matching ---------------------------------------------------------------------------------
    def match(
        self,
        query: VpdqResult,
        *,
        banks: Sequence[str] | None = None,
        query_share: float = DEFAULT_QUERY_SHARE,
        coverage: float = DEFAULT_COVERAGE,
        include_partial: bool = True,
        now: datetime | None = None,
    ) -> list[VideoBankMatch]:
        """Every bank entry the query video matched, best first; ``partial`` ones unless told not to.

        ``banks`` limits the search to those banks (allow-list banks always apply); an unknown name
        raises the banks' error.
        """
        at = now or utcnow()
        with self.db.session() as s:
            self.refresh(s)
            # an unknown name raises naming no other bank (the caller's surface lists what it may)
            wanted = {get_bank(s, name=n, named=()).id for n in banks} if banks else set()
            scope = {
                b.id: b
                for b in self._banks.values()
                if b.active(at) and (not banks or b.id in wanted or b.allow_list)
            }
            if not scope or not len(self._table):
                return []
            with self._lock:
                owner = dict(self._owner)
                thresholds = {sid: scope[bid].threshold for sid, (_, bid) in owner.items() if bid in scope}
                found = match_video(
                    query,
                    index=self._index,
                    table=self._table,
                    distance=max(b.threshold for b in scope.values()),
                    query_share=query_share,
                    coverage=coverage,
                    thresholds=thresholds,
                )
            found = [m for m in found if include_partial or m.kind is not MatchKind.PARTIAL]
            if not found:
                return []
            content_ids = sorted({owner[m.video_id][0] for m in found})
            rows = {
                int(r[0]): r
                for i in range(0, len(content_ids), _CHUNK)
                for r in s.execute(
                    select(
                        BankContent.id,
                        BankContent.note,
                        BankContent.meta,
                        BankContent.source,
                        BankContent.enabled,
                        BankContent.disabled_until,
                        BankContent.hold_reason,
                        BankContent.held_until,
                    ).where(BankContent.id.in_(content_ids[i : i + _CHUNK]))
                )
            }
        out: list[VideoBankMatch] = []
        for m in found:
            cid, bid = owner[m.video_id]
            row, bank = rows.get(cid), scope.get(bid)
            if row is None or bank is None or not entry_active(row[4], row[5], row[6], row[7], at):
                continue
            out.append(
                VideoBankMatch(
                    bank=bank.name,
                    bank_id=bank.id,
                    allow_list=bank.allow_list,
                    content_id=cid,
                    video=m,
                    threshold=bank.threshold,
                    note=row[1],
                    metadata=dict(row[2] or {}),
                    source=row[3],
                )
            )
        allow = [m for m in out if m.allow_list and m.kind is MatchKind.MATCH]
        if allow:
            by = (allow[0].bank, allow[0].content_id, allow[0].bank_id)
            out = [m if m.allow_list else replace(m, suppressed_by=by) for m in out]
        return out


def combined_status(status: str, video_status: str) -> str:
    """One input's status from its hashes' (``MatchResult.status``) and its video's
    (:func:`status_of`): a clip of a banked video, or a banked video inside this one, is as much a
    match as a copy."""
    if video_status in ("match", "clip", "contains"):
        return "match"
    if video_status == "allow_listed" and status == "no_match":
        return "allow_listed"
    return status


def status_of(matches: Sequence[VideoBankMatch]) -> str:
    """``match`` (an unsuppressed full match), ``clip`` / ``contains`` (an unsuppressed partial one
    that passes one threshold), ``allow_listed``, ``partial`` or ``no_match``."""
    live = [m for m in matches if not m.allow_list and m.suppressed_by is None]
    for kind in (MatchKind.MATCH, MatchKind.CLIP, MatchKind.CONTAINS):
        if any(m.kind is kind for m in live):
            return str(kind)
    if any(m.allow_list or m.suppressed_by for m in matches if m.kind is not MatchKind.PARTIAL):
        return "allow_listed"
    return "partial" if matches else "no_match"
