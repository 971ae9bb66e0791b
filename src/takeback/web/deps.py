"""Dependencies every route shares: the service state, a database session, the authenticated caller.

Routes declare what they need (``Caller``, ``SessionDep``) and FastAPI wires it; nothing reaches for
globals. Sessions are closed (and rolled back if uncommitted) after the route; a route that changes
state commits itself before returning, so a response is only sent for committed work.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from takeback.auth import Permission
from takeback.config import Settings
from takeback.store import Database
from takeback.web.auditlog import AuditWriter
from takeback.web.batcher import MatchBatcher
from takeback.web.index import MatcherHandle
from takeback.web.security import KeyCache, Principal, api_token


@dataclass
class ServiceState:
    """What the lifespan opens once per worker process and every request shares."""

    settings: Settings
    db: Database
    keys: KeyCache
    audit: AuditWriter
    matcher: MatcherHandle
    batcher: MatchBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = MatchBatcher(self.matcher)


async def get_state(request: Request) -> ServiceState:
    """Async on purpose: FastAPI runs plain ``def`` dependencies in a thread, a needless hop here."""
    state: ServiceState = request.app.state.takeback
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def requires(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the caller, authenticated, rate-limited and holding ``permission`` (else 401/403/429)."""

    async def dependency(request: Request) -> Principal:
        state: ServiceState = request.app.state.takeback
        headers = request.headers
        token = api_token(headers.get("authorization"), headers.get("x-api-key"))
        principal = await state.keys.authenticate(token)
        principal.require(permission)
        return principal

    dependency.__name__ = f"requires_{permission.value}"
    return dependency


Lookup = Annotated[Principal, Depends(requires(Permission.LOOKUP))]
Submitter = Annotated[Principal, Depends(requires(Permission.SUBMIT))]
BankReader = Annotated[Principal, Depends(requires(Permission.READ_BANKS))]
BankManager = Annotated[Principal, Depends(requires(Permission.MANAGE_BANKS))]
Admin = Annotated[Principal, Depends(requires(Permission.MANAGE_KEYS))]
FeedReader = Annotated[Principal, Depends(requires(Permission.READ_FEED))]
FeedbackGiver = Annotated[Principal, Depends(requires(Permission.FEEDBACK))]
FeedbackRelay = Annotated[Principal, Depends(requires(Permission.RELAY_FEEDBACK))]
