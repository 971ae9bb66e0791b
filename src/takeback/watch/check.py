"""One check of one watched URL: fetch the page, find its images, hash them in memory, match.

No database here: the service gives the case's fingerprints and records what comes back. Every
fetch goes through :mod:`takeback.net.fetch` (public addresses only, checked at connect time, for
redirects too), with small limits: a page is at most ``page_bytes``, at most ``max_images`` images
are fetched, each at most ``image_bytes`` and decoded under ``pixels`` (a decompression bomb is a
per-image error; the check goes on). Image bytes live only in memory while they are hashed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from takeback.media.decode import Limits
from takeback.net.fetch import FetchError, FetchPolicy, fetch_bytes
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_bytes
from takeback.signals.pdq import hamming
from takeback.watch.models import Outcome

#: PDQ distance at or under which an image is the case's (the banks' default threshold)
PDQ_THRESHOLD = 31
#: PDQ's own advice: a hash of quality under 50 (flat, featureless pictures) is not worth matching
PDQ_MIN_QUALITY = 50
#: meta tags whose content is the page's main image
_META_IMAGE = frozenset(
    {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}
)


@dataclass(frozen=True)
class CheckLimits:
    page_bytes: int = 5 * 1024 * 1024
    image_bytes: int = 20 * 1024 * 1024
    max_images: int = 20
    pixels: int = 40_000_000
    timeout_s: float = 20.0

    def policy(self, base: FetchPolicy, max_bytes: int) -> FetchPolicy:
        return dataclasses.replace(base, max_bytes=max_bytes, timeout_s=min(base.timeout_s, self.timeout_s))


@dataclass(frozen=True)
class CaseFingerprint:
    """A fingerprint the case holds: an evidence item's or a portal submission's."""

    source: str  # item | submission
    id: int
    sha256: str | None
    pdq: str | None


@dataclass
class ImageSeen:
    url: str
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    media_type: str | None = None
    error: str | None = None  # an error code (fetch or decode); hashes may still be there
    matches: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """For the custody log: the URL as its SHA-256 (the log carries hashes, not text)."""
        return {
            "url_sha256": url_digest(self.url),
            "sha256": self.sha256,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "media_type": self.media_type,
            "error": self.error,
            "matches": self.matches,
        }


@dataclass
class PageCheck:
    url: str
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    error: str | None = None  # the page's fetch error code (unreachable, page gone)
    page_kind: str | None = None  # html | media | other
    images: list[ImageSeen] = field(default_factory=list)
    skipped: int = 0  # image URLs found beyond max_images

    @property
    def matched(self) -> list[ImageSeen]:
        return [i for i in self.images if i.matches]


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


class _ImageFinder(HTMLParser):
    """img src and srcset, picture/video source, og:image and twitter:image, base href."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "").strip() for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        elif tag in ("img", "source", "video"):
            for key in ("src", "data-src", "poster"):
                if a.get(key):
                    self.found.append(a[key])
            for key in ("srcset", "data-srcset"):
                for part in a.get(key, "").split(","):
                    words = part.split()
                    if words:
                        self.found.append(words[0])
        elif tag == "meta":
            name = (a.get("property") or a.get("name") or "").lower()
            if name in _META_IMAGE and a.get("content"):
                self.found.append(a["content"])
        elif tag == "link" and a.get("rel", "").lower() == "image_src" and a.get("href"):
            self.found.append(a["href"])


def image_urls(html: str, page_url: str) -> list[str]:
    """Absolute http(s) image URLs of a page, in order, without repeats. Broken HTML reads as far as
    it goes (the parser never raises on bad markup)."""
    finder = _ImageFinder()
    try:
        finder.feed(html)
        finder.close()
    except (AssertionError, ValueError):  # pragma: no cover - html.parser is lenient
        pass
    base = urljoin(page_url, finder.base) if finder.base else page_url
    out: list[str] = []
    for raw in finder.found:
        if raw.startswith("data:"):
            continue
        absolute = urljoin(base, raw).split("#", 1)[0]
        if urlsplit(absolute).scheme in ("http", "https") and absolute not in out:
            out.append(absolute)
    return out


def _charset(content_type: str | None) -> str:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"'")
    return "utf-8"


def _decode_text(data: bytes, content_type: str | None) -> str:
    """The page's text; a charset that lies or is unknown falls back to UTF-8 with replacements."""
    try:
        return data.decode(_charset(content_type), errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _match(img: ImageSeen, fingerprints: list[CaseFingerprint]) -> None:
    for f in fingerprints:
        if img.sha256 and f.sha256 and img.sha256 == f.sha256:
            img.matches.append({"source": f.source, "id": f.id, "signal": "sha256", "distance": 0})
        elif img.pdq and f.pdq and (img.pdq_quality or 0) >= PDQ_MIN_QUALITY:
            d = hamming(bytes.fromhex(img.pdq), bytes.fromhex(f.pdq))
            if d <= PDQ_THRESHOLD:
                img.matches.append({"source": f.source, "id": f.id, "signal": "pdq", "distance": d})


def _hash(url: str, data: bytes, options: FingerprintOptions) -> ImageSeen:
    fp = fingerprint_bytes(data, name=url, options=options)
    pdq = fp.signals.get("pdq")
    return ImageSeen(
        url=url,
        sha256=fp.hex("sha256"),
        pdq=None if pdq is None else pdq.value.hex(),
        pdq_quality=None if pdq is None else pdq.quality,
        media_type=fp.media_type,
        error=None if fp.error is None else fp.error["code"],
    )


def check_page(
    url: str,
    *,
    fingerprints: list[CaseFingerprint],
    policy: FetchPolicy | None = None,
    limits: CheckLimits | None = None,
) -> PageCheck:
    """Fetch ``url`` and every image it shows (within limits), hash them, match the case's prints.

    Never raises for what a site does: a page error is in ``error``, an image's in its ``error``."""
    lim = limits or CheckLimits()
    base = policy or FetchPolicy()
    options = FingerprintOptions(limits=Limits(max_pixels=lim.pixels, max_file_bytes=lim.image_bytes))
    result = PageCheck(url=url)
    try:
        data, fetched = fetch_bytes(url, policy=lim.policy(base, lim.page_bytes))
    except FetchError as exc:
        result.error = exc.code
        result.http_status = exc.status
        return result
    result.final_url, result.http_status, result.content_type = (
        fetched.final_url,
        fetched.status,
        fetched.content_type,
    )
    direct = _hash(fetched.final_url, data, options)
    if direct.media_type and direct.media_type.split("/")[0] in ("image", "video"):
        result.page_kind = "media"  # a direct image or video URL: the page is the picture
        _match(direct, fingerprints)
        result.images.append(direct)
        return result
    ctype = (fetched.content_type or "").split(";")[0].strip().lower()
    undeclared_html = not ctype and data[:512].lstrip()[:1] == b"<"
    if ctype not in ("text/html", "application/xhtml+xml") and not undeclared_html:
        result.page_kind = "other"  # a PDF, JSON, plain text (as declared): nothing to look at
        return result
    result.page_kind = "html"
    del direct
    found = image_urls(_decode_text(data, fetched.content_type), fetched.final_url)
    del data
    result.skipped = max(0, len(found) - lim.max_images)
    image_policy = lim.policy(base, lim.image_bytes)
    for img_url in found[: lim.max_images]:
        try:
            body, _ = fetch_bytes(img_url, policy=image_policy)
        except FetchError as exc:
            result.images.append(ImageSeen(url=img_url, error=exc.code))
            continue
        seen = _hash(img_url, body, options)
        del body
        _match(seen, fingerprints)
        result.images.append(seen)
    return result


def _page_key(url: str) -> tuple[str, str]:
    """Host and path: http to https, or a trailing slash, is the same page."""
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.path.rstrip("/") or "/"


def decide(
    check: PageCheck, *, watched_url: str, seen_urls: list[str], last_outcome: str | None
) -> tuple[Outcome, str | None]:
    """The outcome of a check and, for ``unreachable``, why (the fetch error code or ``http_NNN``).

    Re-uploaded: a case fingerprint at an image URL never seen on this page before (when copies had
    been seen), on another page of the site (a redirect), or back after the page was clear."""
    if check.error is not None:
        if check.http_status in (404, 410):
            return Outcome.PAGE_GONE, None
        if check.http_status is not None:
            return Outcome.UNREACHABLE, f"http_{check.http_status}"
        return Outcome.UNREACHABLE, check.error
    matched = check.matched
    if not matched:
        return Outcome.REMOVED, None
    came_back = last_outcome in (Outcome.REMOVED, Outcome.PAGE_GONE)
    moved = check.final_url is not None and _page_key(check.final_url) != _page_key(watched_url)
    new_only = bool(seen_urls) and not any(i.url in seen_urls for i in matched)
    if came_back or moved or new_only:
        return Outcome.REUPLOADED, None
    return Outcome.STILL_UP, None
