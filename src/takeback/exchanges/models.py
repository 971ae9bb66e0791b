"""Exchange tables: an exchange's configuration and each exchange API's credentials."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from takeback.store import Base


class Exchange(Base):
    """One configured exchange; what it fetches lands in its bank (same name, as in HMA)."""

    __tablename__ = "exchange"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    api: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the API's own settings (HMA's ``api_json`` less name, api and enabled)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    bank_id: Mapped[int] = mapped_column(ForeignKey("bank.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class ExchangeApiCredentials(Base):
    """The credentials an exchange API signs in with (never shown back, never logged)."""

    __tablename__ = "exchange_api_credentials"

    api: Mapped[str] = mapped_column(String(100), primary_key=True)
    credentials: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(200))
