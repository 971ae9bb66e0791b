"""URL hashing for ``GET /h/hash``, ``GET /m/lookup?url=`` and ``POST /c/bank/{name}/content?url=``.

Off unless ``TAKEBACK_URL_ALLOWLIST`` names hosts. The fetch itself (DNS-checked against private,
loopback, link-local and metadata addresses on every redirect; size and time limits) is
:mod:`takeback.net.fetch`'s job; this module only turns its result into a fingerprint.
"""

from __future__ import annotations

import anyio.to_thread

from takeback.media import HEAD_BYTES, Kind, MediaError, sniff
from takeback.net.fetch import FetchError
from takeback.signals.fingerprint import Fingerprint, FingerprintOptions, fingerprint_bytes
from takeback.web.deps import ServiceState
from takeback.web.errors import ApiError
from takeback.web.uploads import CONTENT_FIELDS, check_kind

#: the fetch failed on the way (not refused by policy): HMA answers these 400 "Failed to fetch URL"
_FETCH_FAILED = frozenset({"dns_failed", "connect_failed", "http_error", "too_many_redirects", "timeout"})


async def fingerprint_url(
    state: ServiceState,
    url: str,
    *,
    content_type: str | None = None,
    dihedral: bool = False,
    for_bank: bool = False,
    hma: bool = False,
) -> Fingerprint:
    """Fetch ``url`` safely and fingerprint the bytes (422/415 as for uploads; ``for_bank`` and
    ``hma`` as for :func:`~takeback.web.uploads.fingerprint_upload`)."""
    if hma and content_type is not None and content_type not in CONTENT_FIELDS:
        from takeback.web.hma import fail

        raise fail(f"no such content_type: '{content_type}'")
    if content_type is not None and content_type not in CONTENT_FIELDS:
        raise ApiError(
            f"No such content_type {content_type!r}: use photo or video.",
            code="invalid_request",
            status=422,
            field="content_type",
        )
    try:
        data = await fetch_bytes(state, url)
    except FetchError as exc:
        if hma and exc.code in _FETCH_FAILED:
            from takeback.web.hma import fail

            raise fail(f"Failed to fetch URL: {exc.message}") from None
        raise
    if hma:
        pass  # the content type only chooses the signal types, as in HMA
    elif content_type is not None:
        check_kind(content_type, data)
    else:
        kind = sniff(data[:HEAD_BYTES]).kind
        if kind not in (Kind.IMAGE, Kind.VIDEO):
            check_kind("photo", data)  # raises 415 naming what the bytes are
    options = FingerprintOptions.from_settings(state.settings, for_bank=for_bank, dihedral=dihedral)
    fp = await anyio.to_thread.run_sync(lambda: fingerprint_bytes(data, name=url, options=options))
    if fp.error is not None:
        raise MediaError(fp.error["message"], code=fp.error["code"])
    return fp


async def fetch_bytes(state: ServiceState, url: str) -> bytes:
    from takeback.net import fetch

    return await anyio.to_thread.run_sync(lambda: fetch.fetch_url_bytes(url, settings=state.settings))
