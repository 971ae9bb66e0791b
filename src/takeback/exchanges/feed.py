"""A bank's signed change feed: pages of changes in change-log order, each signed with the
publisher's installation key (Ed25519), each ending at a checkpoint.

A page is a JSON *payload* (the exact bytes that were signed, carried as a string so no
re-serialisation can change them) in an envelope ``{"payload", "key_id", "signature"}``. The
payload names the publisher's store and bank (a mirror pins both on its first page), the checkpoint
it continues from (``after``) and the one it reaches (``checkpoint``), and the changes between:
``{"seq", "op", "key", "entry"}`` with ``op`` ``add`` / ``update`` / ``disable`` / ``enable`` /
``remove``, ``key`` the entry's fingerprint (:func:`takeback.banks.service.entry_key`) and
``entry`` its state *now* in the export record shape (``null`` for a removal, or when the entry
has gone since: its removal follows). Applying a page's changes in order, or only the last change
per key, gives the same bank, which is what lets a mirror apply a page in one transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from takeback.banks import service as banks
from takeback.banks.models import Bank
from takeback.clock import utcnow
from takeback.errors import TakebackError

FORMAT = "takeback-feed/1"
DEFAULT_PAGE = 5_000
MAX_PAGE = 20_000


class FeedSigner(Protocol):
    """What signs pages: the installation key (``takeback.evidence.signing.Signer``, handed in by
    the web layer, which sits above both)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class PinnedKey:
    """A publisher's Ed25519 public key as a mirror pins it (base64 of the 32 raw bytes)."""

    raw: bytes

    @classmethod
    def from_b64(cls, text: str) -> PinnedKey:
        try:
            raw = base64.b64decode(text.strip().encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise FeedError(
                "A publisher key is the base64 of a 32-byte Ed25519 public key "
                "(GET /v1/feed/key on the publisher shows it).",
                code="invalid_publisher_key",
            )
        return cls(raw)

    @property
    def key_id(self) -> str:
        """The first 16 hex digits of the key's SHA-256 (as the publisher names its key)."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def to_b64(self) -> str:
        return base64.b64encode(self.raw).decode("ascii")

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class FeedError(TakebackError):
    """A page that must not be applied: unsigned, wrongly signed, malformed, out of order."""

    code = "feed_invalid"


def build_page(session: Session, *, bank: Bank, signer: FeedSigner, after: int, limit: int) -> bytes:
    """The signed page of ``bank``'s feed after checkpoint ``after`` (at most ``limit`` changes)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = banks.feed_changes(session, bank_id=bank.id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    views = banks.views_by_id(
        session, bank=bank, content_ids=[r.content_id for r in rows if r.op != "remove" and r.content_id]
    )
    changes: list[dict[str, Any]] = []
    for r in rows:
        view = views.get(r.content_id) if r.content_id is not None and r.op != "remove" else None
        record: dict[str, Any] | None = None
        key = r.key
        if view is not None:
            record = view.to_record()
            record.pop("content_id")
            key = key or banks.entry_key({t: v for t, (v, _) in view.signals.items()})
        if not key:  # an entry logged before keys were (backfilled), gone since: nothing to say
            continue
        changes.append({"seq": r.seq, "op": r.op, "key": key, "entry": record})
    payload = {
        "format": FORMAT,
        "store": banks.store_id(session),
        "bank": bank.name,
        "bank_id": bank.id,
        "publisher": signer.key_id,
        "after": after,
        "checkpoint": rows[-1].seq if rows else after,
        "more": more,
        "issued_at": utcnow().isoformat(timespec="seconds"),
        "changes": changes,
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    signature = signer.sign(text.encode())
    envelope = {
        "payload": text,
        "key_id": signer.key_id,
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return json.dumps(envelope, ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Page:
    store: str
    bank: str
    bank_id: int
    after: int
    checkpoint: int
    more: bool
    issued_at: str
    changes: list[dict[str, Any]]


def verify_page(body: bytes, *, key: PinnedKey, after: int) -> Page:
    """The page in ``body`` if it is signed by ``key`` and continues from ``after``; else
    :class:`FeedError` saying why (never a partly trusted page)."""
    from takeback.banks.strictjson import loads

    try:
        envelope = loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"The page is not JSON ({exc}).", code="feed_unparsable") from None
    if not isinstance(envelope, dict) or not all(
        isinstance(envelope.get(k), str) for k in ("payload", "key_id", "signature")
    ):
        raise FeedError("The page is not signed (no payload, key_id and signature).", code="feed_unsigned")
    if envelope["key_id"] != key.key_id:
        raise FeedError(
            f"The page is signed by key {envelope['key_id']!r}, not the pinned key {key.key_id}: refused "
            "until an administrator pins the publisher's new key (exchange add --key ... --replace).",
            code="feed_wrong_key",
        )
    try:
        signature = base64.b64decode(envelope["signature"].encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise FeedError("The page's signature is not base64.", code="feed_bad_signature") from None
    text = envelope["payload"]
    if not key.verify(signature, text.encode()):
        raise FeedError("The page's signature does not verify: it was altered.", code="feed_bad_signature")
    try:
        p = loads(text)
    except ValueError as exc:
        raise FeedError(f"The signed payload is not JSON ({exc}).", code="feed_unparsable") from None
    if not isinstance(p, dict) or p.get("format") != FORMAT:
        raise FeedError(f"Not a {FORMAT} page.", code="feed_unparsable")
    try:
        page = Page(
            store=_typed(p, "store", str),
            bank=_typed(p, "bank", str),
            bank_id=_typed(p, "bank_id", int),
            after=_typed(p, "after", int),
            checkpoint=_typed(p, "checkpoint", int),
            more=_typed(p, "more", bool),
            issued_at=_typed(p, "issued_at", str),
            changes=_typed(p, "changes", list),
        )
    except (KeyError, TypeError) as exc:
        raise FeedError(f"The page lacks or mistypes {exc}.", code="feed_unparsable") from None
    if page.after != after:
        what = "replays an earlier page" if page.after < after else "skips changes"
        raise FeedError(
            f"The page continues from checkpoint {page.after}, not {after}: it {what}.",
            code="feed_out_of_order",
        )
    if page.checkpoint < page.after:
        raise FeedError(
            f"The feed rewinds its checkpoint ({page.after} -> {page.checkpoint}).", code="feed_rewound"
        )
    last = page.after
    for c in page.changes:
        if not isinstance(c, dict) or not isinstance(c.get("seq"), int) or not isinstance(c.get("key"), str):
            raise FeedError("A change lacks its seq or key.", code="feed_unparsable")
        if c.get("op") not in ("add", "update", "disable", "enable", "remove"):
            raise FeedError(f"A change has an unknown op {c.get('op')!r}.", code="feed_unparsable")
        if not last < c["seq"] <= page.checkpoint:
            raise FeedError("The page's changes are out of order.", code="feed_out_of_order")
        if c.get("entry") is not None and not isinstance(c["entry"], dict):
            raise FeedError("A change's entry is not an object.", code="feed_unparsable")
        last = c["seq"]
    return page


def _typed(p: dict[str, Any], key: str, kind: type) -> Any:
    value = p[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(key)
    return value
