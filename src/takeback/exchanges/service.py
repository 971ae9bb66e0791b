"""Configure exchanges: create one (with its bank), enable or disable it, delete it, set an API's
credentials. Every change is audited; credentials never appear in the audit log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takeback.banks.service import create_bank, delete_bank, get_bank
from takeback.clock import as_utc, utcnow
from takeback.errors import TakebackError
from takeback.exchanges.apis import ExchangeApi
from takeback.exchanges.models import Exchange, ExchangeApiCredentials, ExchangeFeed
from takeback.store import record_audit


class ExchangeError(TakebackError):
    code = "exchange_error"


@dataclass(frozen=True, slots=True)
class FetchStatus:
    """HMA's fetch status fields (times in Unix seconds)."""

    checkpoint_ts: int | None = None
    running_fetch_start_ts: int | None = None
    last_fetch_complete_ts: int | None = None
    last_fetch_succeeded: bool | None = None
    up_to_date: bool = False
    fetched_items: int = 0

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


def list_exchanges(session: Session) -> list[Exchange]:
    return list(session.scalars(select(Exchange).order_by(Exchange.id)).all())


def get_exchange(session: Session, *, name: str) -> Exchange | None:
    return session.scalar(select(Exchange).where(Exchange.name == name))


def create_exchange(
    session: Session, *, name: str, api: ExchangeApi, settings: dict[str, Any], enabled: bool, actor: str
) -> Exchange:
    """A new exchange and the bank (of the same name) that its fetched signals will fill."""
    if get_exchange(session, name=name) is not None:
        raise ExchangeError(f"An exchange called {name!r} already exists.", code="exchange_exists")
    bank = create_bank(session, name=name, actor=actor, description=f"exchange {name} ({api.name})")
    ex = Exchange(
        name=name,
        api=api.name,
        enabled=enabled,
        settings=api.parse_config(settings),
        bank_id=bank.id,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(ex)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="exchange.create",
        object_type="exchange",
        object_id=ex.id,
        details={"name": name, "api": api.name, "bank_id": bank.id},
    )
    return ex


def set_exchange_enabled(session: Session, *, exchange: Exchange, enabled: bool, actor: str) -> Exchange:
    if exchange.enabled != enabled:
        exchange.enabled = enabled
        record_audit(
            session,
            actor=actor,
            action="exchange.enable" if enabled else "exchange.disable",
            object_type="exchange",
            object_id=exchange.id,
            details={"name": exchange.name},
        )
    return exchange


def delete_exchange(session: Session, *, name: str, actor: str) -> bool:
    """Remove the exchange and (soft-)delete its bank; ``False`` when there was none (not an error)."""
    ex = get_exchange(session, name=name)
    if ex is None:
        return False
    try:
        bank = get_bank(session, name=name)
    except TakebackError:
        bank = None
    if bank is not None and bank.id == ex.bank_id:
        delete_bank(session, name=name, actor=actor)
    record_audit(
        session,
        actor=actor,
        action="exchange.delete",
        object_type="exchange",
        object_id=ex.id,
        details={"name": name, "api": ex.api},
    )
    session.delete(ex)
    session.flush()
    return True


def fetch_status(session: Session, *, exchange: Exchange) -> FetchStatus:
    """HMA's fetch status: a ``takeback_feed`` mirror's from its pull state; the other APIs fetch
    nothing yet, so they read as never fetched."""
    feed = session.get(ExchangeFeed, exchange.id) if exchange.api == "takeback_feed" else None
    if feed is None:
        return FetchStatus()
    now = utcnow()

    def ts(value: Any) -> int | None:
        aware = as_utc(value)
        return None if aware is None else int(aware.timestamp())

    lock = as_utc(feed.lock_until)
    running = feed.lock_owner is not None and lock is not None and lock > now
    return FetchStatus(
        checkpoint_ts=ts(feed.last_ok_at),
        running_fetch_start_ts=ts(feed.last_pull_at) if running else None,
        last_fetch_complete_ts=ts(feed.last_pull_at) if not running else None,
        last_fetch_succeeded=None if feed.last_pull_at is None else feed.last_error is None,
        up_to_date=feed.last_ok_at is not None and feed.last_error is None,
        fetched_items=int(feed.applied),
    )


def api_has_credentials(session: Session, *, api: str) -> bool:
    return session.get(ExchangeApiCredentials, api) is not None


def set_api_credentials(
    session: Session, *, api: ExchangeApi, credentials: dict[str, Any] | None, actor: str
) -> None:
    """Store ``api``'s credentials (checked against its fields), or clear them (``None``)."""
    row = session.get(ExchangeApiCredentials, api.name)
    if credentials is None:
        if row is not None:
            session.delete(row)
    else:
        values = api.parse_credentials(credentials)
        if row is None:
            row = ExchangeApiCredentials(
                api=api.name, credentials=values, updated_at=utcnow(), updated_by=actor
            )
            session.add(row)
        else:
            row.credentials, row.updated_at, row.updated_by = values, utcnow(), actor
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="exchange.credentials.clear" if credentials is None else "exchange.credentials.set",
        object_type="exchange_api",
        object_id=None,
        details={"api": api.name},  # never the credentials
    )
