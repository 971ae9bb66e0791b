"""HMA's hashing routes: ``GET /h/hash?url=`` and ``POST /h/hash`` (one multipart file).

Both return ``{signal_type: hex}`` as HMA does: a ``photo`` gives ``pdq``, a ``video`` ``video_md5``
(``types=`` may name takeback's md5/sha256/vpdq too). Hashing needs the ``lookup`` permission: it
is what a matcher does before matching, and it reveals nothing stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from takeback.web.deps import Lookup, StateDep
from takeback.web.hma import hma_signals
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import JSON, HmaSignals, hma_errors
from takeback.web.uploads import MULTIPART_OPENAPI, fingerprint_upload, hma_signals_of, read_upload
from takeback.web.urls import fingerprint_url

router = APIRouter(prefix="/h", tags=["Hashing"], route_class=GuardedRoute, default_response_class=JSON)


@router.get(
    "/hash",
    summary="Fetch a URL and hash it (off unless TAKEBACK_URL_ALLOWLIST names its host)",
    responses=hma_errors(),
    response_model=HmaSignals,
    response_model_exclude_unset=True,
)
async def hash_url(
    caller: Lookup,
    state: StateDep,
    url: str = Query(..., description="http(s) URL of an image or video"),
    content_type: str | None = Query(None, description="photo or video; default: from the bytes"),
    types: str | None = Query(None, description="comma-separated signal types to return"),
) -> dict[str, str]:
    fp = await fingerprint_url(state, url, content_type=content_type, hma=True)
    kind = content_type or ("video" if (fp.media_type or "").startswith("video") else "photo")
    return hma_signals(hma_signals_of(fp, kind, types))


@router.post(
    "/hash",
    summary="Hash an uploaded file",
    openapi_extra=MULTIPART_OPENAPI,
    responses=hma_errors(415, body=True),
    response_model=HmaSignals,
    response_model_exclude_unset=True,
)
async def hash_upload(
    request: Request,
    caller: Lookup,
    state: StateDep,
    types: str | None = Query(None, description="comma-separated signal types to return"),
) -> dict[str, str]:
    upload = await read_upload(request, hma=True)
    fp = await fingerprint_upload(state, upload, hma=True)
    return hma_signals(hma_signals_of(fp, upload.content_type, types))
