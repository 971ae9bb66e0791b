"""HMA's configuration routes: signal and content types, exchanges, the site map, HMA's OpenAPI path.

Shapes and codes are HMA's (``blueprints/curation.py`` and ``app.py`` in HMA's source). Exchanges
are configuration only for now (``takeback.exchanges``): they list, show and delete what is
configured, and read as never fetched until fetching arrives with the federation issue.
"""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import Route

from takeback.auth import AuthError
from takeback.banks.models import Bank, BankContent, ContentSignal
from takeback.banks.service import change_watermark, set_signal_type_ratio, signal_type_ratios
from takeback.errors import TakebackError
from takeback.exchanges import (
    ExchangeApi,
    api_has_credentials,
    create_exchange,
    delete_exchange,
    fetch_status,
    get_exchange,
    installed_apis,
    list_exchanges,
    set_api_credentials,
    set_exchange_enabled,
)
from takeback.exchanges.models import Exchange
from takeback.signals import REGISTRY, IndexKind
from takeback.web.deps import Admin, BankManager, BankReader, Lookup, SessionDep, StateDep
from takeback.web.hma import HMA_SIGNAL_TYPES, fail, hma_name, json_body, takeback_name
from takeback.web.jsonbody import GuardedRoute
from takeback.web.responses import (
    JSON,
    ContentTypeList,
    ExchangeApiSchema,
    ExchangeApiStatus,
    ExchangeRecord,
    FetchStatusRecord,
    Message,
    Names,
    SignalTypeIndex,
    SignalTypeList,
    hma_errors,
)
from takeback.web.security import Principal

router = APIRouter(tags=["Configuration"], route_class=GuardedRoute, default_response_class=JSON)

#: HMA's content types, in its order, all enabled
CONTENT_TYPES = ("photo", "video")
_EXCHANGE_NAME = re.compile(r"[A-Z0-9_]+")


# --- signal and content types -----------------------------------------------------------------------


@router.get(
    "/c/signal_type",
    summary="Signal types and their enabled_ratio",
    response_model=SignalTypeList,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def signal_types(caller: BankReader, session: SessionDep) -> list[dict[str, Any]]:
    ratios = signal_type_ratios(session)
    return [{"name": t, "enabled_ratio": ratios.get(t, 1.0)} for t in HMA_SIGNAL_TYPES]


@router.put(
    "/c/signal_type/{signal_type_name}",
    status_code=204,
    summary="Set a signal type's enabled_ratio",
    responses=hma_errors(415),
)
async def signal_type_update(
    signal_type_name: str, request: Request, caller: BankManager, state: StateDep
) -> Response:
    body = await json_body(request)
    raw = body.get("enabled_ratio") if isinstance(body, dict) else None
    if raw is None:
        raise fail("enabled_ratio is required")
    try:
        ratio = float(raw)
    except (TypeError, ValueError):
        raise fail(f"Invalid float: '{raw}'") from None
    if signal_type_name not in HMA_SIGNAL_TYPES:
        raise fail(f"Unknown signal type {signal_type_name}")  # HMA's store refuses it (a 500 there)

    def write() -> None:
        with state.db.sessionmaker() as s:
            try:
                set_signal_type_ratio(s, name=signal_type_name, ratio=ratio, actor=caller.actor)
            except TakebackError as exc:
                raise fail(exc.message) from None
            s.commit()

    await anyio.to_thread.run_sync(write)
    return Response(status_code=204)  # HMA's code (the body it sets is dropped with a 204)


@router.get(
    "/c/signal_type/index",
    summary="Index status per signal type (db and index sizes)",
    response_model=SignalTypeIndex,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
async def signal_type_index(
    caller: Lookup, state: StateDep, signal_type: str | None = None
) -> dict[str, dict[str, Any]]:
    if signal_type is not None and signal_type not in HMA_SIGNAL_TYPES:
        raise fail(f"No such signal type '{signal_type}'")
    wanted = [signal_type] if signal_type else list(HMA_SIGNAL_TYPES)
    matcher = await state.matcher.ready_matcher()

    def read() -> tuple[dict[str, int], int]:
        matcher.refresh(force=True)
        names = [takeback_name(t) for t in wanted]
        with state.db.sessionmaker() as s:
            rows = s.execute(
                select(ContentSignal.signal_type, func.count())
                .join(BankContent, BankContent.id == ContentSignal.content_id)
                .join(Bank, Bank.id == BankContent.bank_id)
                .where(Bank.deleted_at.is_(None), ContentSignal.signal_type.in_(names))
                .group_by(ContentSignal.signal_type)
            ).all()
            head = change_watermark(s)
        return {str(t): int(n) for t, n in rows}, head

    stored, head = await anyio.to_thread.run_sync(read)
    out: dict[str, dict[str, Any]] = {}
    for t in wanted:
        name = takeback_name(t)
        db_size = stored.get(name, 0)
        in_memory = REGISTRY[name].index_kind is IndexKind.HAMMING256
        index_size = len(matcher) if in_memory else db_size  # exact types: the database's own index
        built_to = matcher.watermark if in_memory else head
        out[hma_name(name)] = {
            "db_size": db_size,
            "index_size": index_size,
            "index_out_of_date": built_to != head,
            # change-log sequence numbers (HMA: item timestamps), see docs/API.md
            "newest_db_item": head,
            "index_built_to": built_to,
        }
    return out


@router.get(
    "/c/content_type",
    summary="Content types (photo, video)",
    response_model=ContentTypeList,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def content_types(caller: BankReader) -> list[dict[str, Any]]:
    return [{"name": c, "enabled": True} for c in CONTENT_TYPES]


# --- exchanges -------------------------------------------------------------------------------------


def _apis(state: Any) -> dict[str, ExchangeApi]:
    return installed_apis(state.settings.exchange_apis)


def _visible(caller: Principal, ex: Exchange) -> bool:
    return caller.may_use_bank(ex.bank_id)


def _exchange_or_404(session: Any, caller: Principal, name: str) -> Exchange:
    ex = get_exchange(session, name=name)
    if ex is None or not _visible(caller, ex):
        raise fail(f"Exchange '{name}' not found", 404)
    return ex


def _exchange_record(ex: Exchange) -> dict[str, Any]:
    """HMA's serialised collaboration config: name, api, enabled and the API's own settings."""
    return {"name": ex.name, "api": ex.api, "enabled": ex.enabled, **(ex.settings or {})}


def _require_unscoped(caller: Principal) -> None:
    if caller.bank_ids is not None:
        raise AuthError("Keys limited to some banks may not create exchanges.", code="forbidden")


@router.get(
    "/c/exchanges/apis",
    summary="Exchange API types that can be configured",
    response_model=Names,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def exchange_apis(caller: BankReader, state: StateDep) -> list[str]:
    return list(_apis(state))


def _api_status(session: Any, api: ExchangeApi) -> dict[str, bool]:
    return {
        "supports_authentification": api.supports_auth,  # HMA's spelling
        "has_set_authentification": api_has_credentials(session, api=api.name),
    }


@router.get(
    "/c/exchanges/api/{api_name}",
    summary="Whether an exchange API signs in, and is set to",
    response_model=ExchangeApiStatus,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def exchange_api_get(
    api_name: str, caller: BankReader, state: StateDep, session: SessionDep
) -> dict[str, bool]:
    api = _apis(state).get(api_name)
    if api is None:
        raise fail(f"no such Exchange API '{api_name}'")
    return _api_status(session, api)


@router.post(
    "/c/exchanges/api/{api_name}",
    summary="Set or clear an exchange API's credentials (admin)",
    response_model=ExchangeApiStatus,
    response_model_exclude_unset=True,
    responses=hma_errors(415),
)
async def exchange_api_update(
    api_name: str, request: Request, caller: Admin, state: StateDep
) -> dict[str, bool]:
    api = _apis(state).get(api_name)
    if api is None:
        raise fail(f"no such Exchange API '{api_name}'")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise fail("this endpoint expects a json object payload")
    creds = body.get("credential_json")

    def write() -> dict[str, bool]:
        with state.db.sessionmaker() as s:
            if creds is not None:
                if creds and not isinstance(creds, dict):
                    raise fail("credential_json should be a json object")
                try:
                    set_api_credentials(s, api=api, credentials=creds or None, actor=caller.actor)
                except ValueError as exc:
                    raise fail(f"Invalid credential_json: {exc}") from None
                s.commit()
            return _api_status(s, api)

    return await anyio.to_thread.run_sync(write)


@router.get(
    "/c/exchanges/api/{api_name}/schema",
    summary="Fields of an exchange API's settings and credentials",
    response_model=ExchangeApiSchema,
    response_model_exclude_unset=True,
    responses=hma_errors(404),
)
def exchange_api_schema(api_name: str, caller: BankReader, state: StateDep) -> dict[str, Any]:
    api = _apis(state).get(api_name)
    if api is None:
        raise fail(f"Exchange API '{api_name}' not found", 404)
    return api.schema()


@router.post(
    "/c/exchanges",
    status_code=201,
    summary="Configure an exchange (and its bank)",
    response_model=Message,
    response_model_exclude_unset=True,
    responses=hma_errors(415),
)
async def exchange_create(request: Request, caller: BankManager, state: StateDep) -> dict[str, str]:
    body = await json_body(request)
    body = body if isinstance(body, dict) else {}
    bank = body.get("bank")
    if bank is None:
        raise fail("bank is required")
    api_json = body.get("api_json", {})
    api_name = body.get("api")
    if not isinstance(bank, str) or not _EXCHANGE_NAME.fullmatch(bank):
        raise fail("Field `bank` must match /^[A-Z0-9_]+$/")
    if not isinstance(api_json, dict):
        raise fail("Field `api_json` must be object")
    if api_name is None:
        raise fail("Field `api_type` is required")
    api = _apis(state).get(api_name) if isinstance(api_name, str) else None
    if api is None:
        raise fail(f"No such exchange type '{api_name}'")
    _require_unscoped(caller)
    settings = {k: v for k, v in api_json.items() if k not in ("name", "api", "enabled")}
    enabled = api_json.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("Failed to parse `api_json` - enabled: expected a boolean")

    def write() -> None:
        with state.db.sessionmaker() as s:
            try:
                create_exchange(s, name=bank, api=api, settings=settings, enabled=enabled, actor=caller.actor)
            except ValueError as exc:
                raise fail(f"Failed to parse `api_json` - {exc}") from None
            except TakebackError as exc:
                if exc.code in ("bank_exists", "exchange_exists"):
                    # HMA's database refuses it (an unhandled 500 there); a clear 400 here
                    raise fail(f"Bank '{bank}' already exists") from None
                raise
            s.commit()

    await anyio.to_thread.run_sync(write)
    if state.matcher.ready:
        state.matcher.get().mark_stale()
    return {"message": "Created successfully"}


@router.get(
    "/c/exchanges",
    summary="Names of the configured exchanges",
    response_model=Names,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def exchanges(caller: BankReader, session: SessionDep) -> list[str]:
    return [ex.name for ex in list_exchanges(session) if _visible(caller, ex)]


@router.get(
    "/c/exchange/{exchange_name}",
    summary="One exchange's configuration",
    response_model=ExchangeRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(404),
)
def exchange_show(exchange_name: str, caller: BankReader, session: SessionDep) -> dict[str, Any]:
    return _exchange_record(_exchange_or_404(session, caller, exchange_name))


@router.get(
    "/c/exchange/{exchange_name}/status",
    summary="An exchange's fetch status",
    response_model=FetchStatusRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(404),
)
def exchange_status(exchange_name: str, caller: BankReader, session: SessionDep) -> dict[str, Any]:
    ex = _exchange_or_404(session, caller, exchange_name)
    return fetch_status(session, exchange=ex).to_record()


@router.put(
    "/c/exchange/{exchange_name}",
    summary="Enable or disable an exchange",
    response_model=ExchangeRecord,
    response_model_exclude_unset=True,
    responses=hma_errors(404, 415),
)
async def exchange_update(
    exchange_name: str, request: Request, caller: BankManager, state: StateDep
) -> dict[str, Any]:
    def check() -> None:
        with state.db.sessionmaker() as s:
            _exchange_or_404(s, caller, exchange_name)

    await anyio.to_thread.run_sync(check)
    body = await json_body(request)
    enabled = body.get("enabled") if isinstance(body, dict) else None
    if enabled is not None and not isinstance(enabled, bool):
        raise fail("enabled should be a boolean")

    def write() -> dict[str, Any]:
        with state.db.sessionmaker() as s:
            ex = _exchange_or_404(s, caller, exchange_name)
            if enabled is not None:
                set_exchange_enabled(s, exchange=ex, enabled=enabled, actor=caller.actor)
            s.commit()
            return _exchange_record(ex)

    return await anyio.to_thread.run_sync(write)


@router.delete(
    "/c/exchange/{exchange_name}",
    summary="Remove an exchange (and its bank)",
    response_model=Message,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def exchange_delete(
    exchange_name: str, caller: BankManager, session: SessionDep, state: StateDep
) -> dict[str, str]:
    ex = get_exchange(session, name=exchange_name)
    if ex is not None and _visible(caller, ex):
        delete_exchange(session, name=exchange_name, actor=caller.actor)
        session.commit()
        if state.matcher.ready:
            state.matcher.get().mark_stale()
    return {"message": "Exchange deleted"}  # HMA: also when there was none


# --- the site map and HMA's OpenAPI path -------------------------------------------------------------


def _flask_style(path: str) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", r"<\1>", path)


@router.get(
    "/site-map",
    summary="Every route's path (HMA's Flask notation: <name>); curator and admin keys",
    response_model=Names,
    response_model_exclude_unset=True,
    responses=hma_errors(),
)
def site_map(caller: BankReader, request: Request) -> list[str]:
    # the documented routes (FastAPI's routers are not a flat list), the app's own, HMA's OpenAPI path
    paths = set(request.app.openapi()["paths"])
    paths.update(r.path for r in request.app.routes if isinstance(r, Route | APIRoute))
    paths.add("/openapi/openapi.json")
    return sorted(_flask_style(p) for p in paths)


#: HMA's title: what the document at HMA's path describes is the Open Media Match API, as takeback
#: implements it (``/openapi.json`` is takeback's own, under takeback's name)
HMA_OPENAPI_TITLE = "Open Media Match API"


# not in the document it serves: it is that document (under HMA's title), public, with no errors of its own
@router.get("/openapi/openapi.json", include_in_schema=False)
def hma_openapi(request: Request) -> dict[str, Any]:
    schema = dict(request.app.openapi())
    info = dict(schema.get("info", {}))
    info["title"] = HMA_OPENAPI_TITLE
    info["x-implementation"] = "takeback"
    schema["info"] = info
    return schema
