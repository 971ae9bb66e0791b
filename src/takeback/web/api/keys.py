"""``/v1/keys``: API-key management over HTTP, for admin keys only.

The same service functions back ``takeback keys``; a key's secret appears once, in the response that
creates it. Banks are named on the way in and out but stored by id, so renaming a bank keeps the
keys scoped to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from takeback.auth import (
    ApiKeyInfo,
    AuthError,
    Role,
    create_key,
    describe_key,
    get_key,
    list_keys,
    resolve_banks,
    revoke_key,
)
from takeback.web.deps import Admin, SessionDep, StateDep
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import JSON, CreatedKey, KeyList, KeyRecord, v1_errors

router = APIRouter(
    prefix="/v1/keys", tags=["API keys"], route_class=GuardedRoute, default_response_class=JSON
)


class KeyCreate(BaseModel):
    role: Role
    name: str | None = Field(None, max_length=200, description="a label: who or what uses the key")
    banks: list[str] | None = Field(
        None, description="limit the key to these banks (by name); omit for every bank"
    )
    expires_at: datetime | None = Field(None, description="ISO 8601; naive times are UTC")
    rate_limit: float | None = Field(
        None, ge=0, description="requests per second; omit for the service default, 0 for unlimited"
    )


@router.post(
    "",
    status_code=201,
    summary="Create a key (its secret is shown once, here)",
    response_model=CreatedKey,
    response_model_exclude_unset=True,
    responses=v1_errors(404),
)
def create(body: KeyCreate, caller: Admin, session: SessionDep) -> JSONResponse:
    created = create_key(
        session,
        role=body.role,
        actor=caller.actor,
        name=body.name,
        bank_ids=resolve_banks(session, names=body.banks, role=body.role),
        expires_at=body.expires_at,
        rate_limit=body.rate_limit,
    )
    session.commit()
    return JSONResponse({"key": created.token, **describe_key(session, created.info)}, status_code=201)


@router.get(
    "",
    summary="List keys (never their secrets)",
    response_model=KeyList,
    response_model_exclude_unset=True,
    responses=v1_errors(),
)
def index(
    caller: Admin,
    session: SessionDep,
    include_inactive: bool = Query(False, description="also list revoked and expired keys"),
) -> dict[str, Any]:
    return {"keys": [describe_key(session, k) for k in list_keys(session, include_inactive=include_inactive)]}


@router.get(
    "/{key_id}",
    summary="Show one key",
    response_model=KeyRecord,
    response_model_exclude_unset=True,
    responses=v1_errors(404),
)
def show(key_id: str, caller: Admin, session: SessionDep) -> dict[str, Any]:
    key = get_key(session, key_id=key_id)
    if key is None:
        raise AuthError(f"No API key with id {key_id!r}.", code="unknown_key")
    return describe_key(session, ApiKeyInfo.of(key))


@router.delete(
    "/{key_id}",
    summary="Revoke a key (effective at once here, within seconds everywhere)",
    response_model=KeyRecord,
    response_model_exclude_unset=True,
    responses=v1_errors(404),
)
def revoke(key_id: str, caller: Admin, session: SessionDep, state: StateDep) -> dict[str, Any]:
    info = revoke_key(session, key_id=key_id, actor=caller.actor)
    session.commit()
    state.keys.invalidate(info.key_id)
    return describe_key(session, info)
