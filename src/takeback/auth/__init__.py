"""API keys for the HTTP service: roles, per-key bank scoping, rate limits, expiry and revocation.

A key is shown once, when it is created; the store keeps only a salted SHA-256 of its secret part.
Keys are 256-bit random tokens, so a fast hash is as safe as a slow one here (there is nothing to
brute-force) and keeps per-request checks cheap.
"""

from takeback.auth.errors import AuthError
from takeback.auth.models import ApiKey, ApiKeyInfo, Permission, Role
from takeback.auth.service import (
    CreatedKey,
    create_key,
    describe_key,
    get_key,
    list_keys,
    parse_token,
    resolve_banks,
    revoke_key,
    secret_matches,
    verify_secret,
)

__all__ = [
    "ApiKey",
    "ApiKeyInfo",
    "AuthError",
    "CreatedKey",
    "Permission",
    "Role",
    "create_key",
    "describe_key",
    "get_key",
    "list_keys",
    "parse_token",
    "resolve_banks",
    "revoke_key",
    "secret_matches",
    "verify_secret",
]
