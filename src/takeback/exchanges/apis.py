"""The exchange APIs an exchange can be configured for, described as data.

Each API names the settings an exchange of its kind takes (HMA's ``api_json``) and, if it signs in,
its credentials: the fields python-threatexchange's config and credential classes declare, in the
descriptor shape HMA's ``/c/exchanges/api/{name}/schema`` returns. No API fetches anything yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ExchangeField:
    """One setting: its JSON kind (``string``, ``number``, ``boolean``), required or its default."""

    name: str
    kind: str
    required: bool = True
    default: Any = None
    help: str = ""

    def check(self, value: Any) -> Any:
        """``value`` if it has this field's kind; ``ValueError`` naming the field otherwise."""
        ok = {
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
        }[self.kind]
        if not ok:
            raise ValueError(f"{self.name}: expected a {self.kind}, got {type(value).__name__}")
        return value

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "required": self.required,
            "default": self.default,
            "help": self.help,
            "choices": None,
        }


@dataclass(frozen=True, slots=True)
class ExchangeApi:
    name: str
    #: the exchange-specific settings (besides name, api and enabled, which every exchange has)
    config: tuple[ExchangeField, ...] = ()
    #: the credentials it signs in with; ``None``: it takes none
    credentials: tuple[ExchangeField, ...] | None = None

    @property
    def supports_auth(self) -> bool:
        return self.credentials is not None

    def parse_config(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The settings in ``raw`` (every required one present, each of its kind, nothing unknown)."""
        known = {f.name: f for f in self.config}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ValueError(f"unexpected field(s): {', '.join(unknown)}")
        out: dict[str, Any] = {}
        for f in self.config:
            if f.name in raw:
                out[f.name] = f.check(raw[f.name])
            elif f.required:
                raise ValueError(f"missing required field: {f.name}")
            else:
                out[f.name] = f.default
        return out

    def parse_credentials(self, raw: dict[str, Any]) -> dict[str, Any]:
        if self.credentials is None:
            raise ValueError(f"{self.name} takes no credentials")
        return ExchangeApi(self.name, self.credentials).parse_config(raw)

    def schema(self) -> dict[str, Any]:
        """HMA's ``{config_schema: {fields}, credentials_schema: {fields} | None}``."""
        return {
            "config_schema": {"fields": [f.to_record() for f in self.config]},
            "credentials_schema": None
            if self.credentials is None
            else {"fields": [f.to_record() for f in self.credentials]},
        }


#: every API takeback knows by name (python-threatexchange's names and fields)
API_TYPES: dict[str, ExchangeApi] = {
    api.name: api
    for api in (
        # HMA's default: the signal types' own example hashes
        ExchangeApi("sample"),
        # another takeback instance's signed bank feed (takeback exchange add)
        ExchangeApi(
            "takeback_feed",
            config=(
                ExchangeField("url", "string", help="The publishing instance's base URL"),
                ExchangeField("bank", "string", help="The bank it publishes"),
                ExchangeField("local", "boolean", required=False, default=False, help="Allow loopback"),
                ExchangeField("on_bad_page", "string", required=False, default="stop", help="stop or retry"),
                ExchangeField("stale_after_s", "number", required=False, default=86400, help="Stale after"),
            ),
        ),
        ExchangeApi(
            "fb_threatexchange",
            config=(
                ExchangeField("privacy_group", "number", help="ThreatPrivacyGroup ID for this collaboration"),
            ),
            credentials=(
                ExchangeField(
                    "api_token",
                    "string",
                    help="Meta app access token. Create one at https://developers.facebook.com/tools/accesstoken/"
                    " for your ThreatExchange app.",
                ),
            ),
        ),
    )
}


def installed_apis(names: str | Iterable[str]) -> dict[str, ExchangeApi]:
    """The APIs named (comma-separated, as ``TAKEBACK_EXCHANGE_APIS``) that takeback knows, in order."""
    items = names.split(",") if isinstance(names, str) else list(names)
    wanted = [n.strip() for n in items if n and n.strip()]
    return {n: API_TYPES[n] for n in wanted if n in API_TYPES}
