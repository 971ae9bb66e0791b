"""Errors of the API-key domain; the web layer maps their codes to 401/403/404."""

from __future__ import annotations

from takeback.errors import TakebackError


class AuthError(TakebackError):
    """A key is missing, malformed, unknown, revoked or expired, or may not do what was asked.

    Codes: ``missing_key``, ``invalid_key``, ``key_revoked``, ``key_expired`` (the caller is not
    authenticated); ``forbidden`` (authenticated, not allowed); ``unknown_key`` (no such key id, when
    managing keys); ``invalid_role``, ``invalid_expiry``, ``invalid_rate_limit`` (bad arguments).
    """

    code = "invalid_key"
