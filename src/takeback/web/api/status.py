"""``/status`` (readiness) and ``/status/live`` (liveness): the only routes that need no key.

They answer in HMA's words (``I-AM-ALIVE``, ``INDEX-NOT-LOADED``, ``INDEX-STALE``) so load balancers
configured for HMA keep working. Readiness means the index is loaded and has caught up with the
store's change log recently, in every worker of the serve (``web.workers``); liveness only means
the process answers.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from takeback.web.deps import StateDep
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import plain_text

router = APIRouter(tags=["Status"], route_class=GuardedRoute)


@router.get(
    "/status",
    response_class=PlainTextResponse,
    summary="Readiness: 200 when every worker's index is loaded and fresh, else 503",
    responses={
        200: plain_text("I-AM-ALIVE", description="every worker's index is loaded and fresh"),
        503: plain_text("INDEX-NOT-LOADED", "INDEX-STALE", description="not ready (yet)"),
    },
)
def readiness(state: StateDep) -> PlainTextResponse:
    if not state.matcher.service_ready():
        return PlainTextResponse("INDEX-NOT-LOADED", status_code=503)
    if not state.matcher.check_fresh():
        return PlainTextResponse("INDEX-STALE", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")


@router.get(
    "/status/live",
    response_class=PlainTextResponse,
    summary="Liveness: 200 while the process answers",
    responses={200: plain_text("I-AM-ALIVE", description="the process answers")},
)
async def liveness() -> PlainTextResponse:
    return PlainTextResponse("I-AM-ALIVE")
