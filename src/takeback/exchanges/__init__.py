"""Exchanges: hash lists that come from elsewhere (HMA's "collaborations"), configured per bank.

For now an exchange is its configuration only (HMA's ``/c/exchanges`` routes keep it): which API, its
settings, whether it is enabled, the bank it fills, and each API's credentials. Fetching comes with
the federation issue; until then every exchange's fetch status is "never fetched".
"""

from takeback.exchanges.apis import API_TYPES, ExchangeApi, ExchangeField, installed_apis
from takeback.exchanges.service import (
    ExchangeError,
    FetchStatus,
    api_has_credentials,
    create_exchange,
    delete_exchange,
    fetch_status,
    get_exchange,
    list_exchanges,
    set_api_credentials,
    set_exchange_enabled,
)

__all__ = [
    "API_TYPES",
    "ExchangeApi",
    "ExchangeError",
    "ExchangeField",
    "FetchStatus",
    "api_has_credentials",
    "create_exchange",
    "delete_exchange",
    "fetch_status",
    "get_exchange",
    "installed_apis",
    "list_exchanges",
    "set_api_credentials",
    "set_exchange_enabled",
]
