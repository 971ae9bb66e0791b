"""Outbound network access, only where a person asked for it (URL capture, URL hashing): SSRF-safe."""

from takeback.net.fetch import (
    FetchError,
    FetchPolicy,
    FetchResult,
    blocked_reason,
    check_url,
    fetch_bytes,
    fetch_to_file,
    fetch_url_bytes,
    post_bytes,
)

__all__ = [
    "FetchError",
    "FetchPolicy",
    "FetchResult",
    "blocked_reason",
    "check_url",
    "fetch_bytes",
    "fetch_to_file",
    "fetch_url_bytes",
    "post_bytes",
]
