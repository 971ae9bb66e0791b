"""One settings object for the whole project, read from ``TAKEBACK_*`` environment variables.

Why a single object: the CLI, the web app and the tests all need the same answer to "where is the
data and what are the limits", and a test can build its own ``Settings`` without touching globals.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(user_data_dir("takeback", appauthor=False))


class Settings(BaseSettings):
    """Runtime settings; every field can be set as ``TAKEBACK_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TAKEBACK_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    #: SQLAlchemy URL; empty means a SQLite file ``takeback.db`` in the data dir
    database_url: str | None = None
    # Decode limits: a 50,000 x 50,000 PNG is 2.5 gigapixels and would need ~7.5 GB to decode.
    max_image_pixels: int = Field(default=200_000_000, gt=0)
    max_file_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    # Video limits: headers claiming more are refused before decoding; decoding stops at them.
    max_video_seconds: float = Field(default=6 * 3600.0, gt=0)
    max_video_frames: int = Field(default=2_000_000, gt=0)
    max_video_width: int = Field(default=8192, gt=0)
    max_video_height: int = Field(default=8192, gt=0)
    max_video_pixels: int = Field(default=8192 * 4352, gt=0, description="per frame")
    jobs: int = Field(default=0, ge=0, description="worker processes; 0 means one per CPU core")
    index_threads: int = Field(
        default=0, ge=0, description="threads of a PDQ index build, batch search or load; 0: one per core"
    )
    # HTTP service (``takeback serve``)
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="larger request bodies get 413")
    api_rate_limit: float = Field(
        default=1000.0, ge=0, description="requests/s per key unless the key sets its own; 0 = unlimited"
    )
    api_key_cache_seconds: float = Field(
        default=2.0, ge=0, description="validated keys are re-read after this long (revocation delay)"
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="a request body that stops arriving this long gets 408"
    )
    # A whole-body deadline too (a body dripping a byte every 20 s never trips the gap above):
    # the body must arrive within body_deadline_seconds plus one second per body_min_rate bytes.
    body_deadline_seconds: float = Field(
        default=30.0, gt=0, description="a request body must arrive within this long (plus size allowance)"
    )
    body_min_rate: int = Field(
        default=64 * 1024, gt=0, description="bytes/s a large body is allowed on top of the deadline"
    )
    # The request head (takeback.web.protocol): size and time, before the app sees anything.
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="request line + headers over this get 431 (414)"
    )
    max_header_line_bytes: int = Field(
        default=8 * 1024, ge=256, description="one header line over this gets 431"
    )
    header_timeout_seconds: float = Field(
        default=20.0, gt=0, description="a request head not complete this long after it began gets 408"
    )
    #: hosts the service may fetch URLs from (comma-separated); empty turns URL hashing off
    url_allowlist: str = ""
    # The victim portal (``/``): where her hashes go, whose law it explains first, and its limits.
    portal_bank: str = Field(default="PORTAL", description="the bank portal submissions go into")
    portal_jurisdiction: str = Field(default="HK", description="the jurisdiction the portal asks about first")
    portal_exit_url: str = Field(
        default="https://www.bbc.co.uk/weather",
        description="the neutral page quick exit replaces the portal with",
    )
    portal_max_files: int = Field(default=100, gt=0, le=1000, description="files per submission")
    portal_submissions_per_hour: int = Field(default=10, gt=0, description="per client")
    portal_sealed_max_bytes: int = Field(default=16 * 1024 * 1024, gt=0, description="one encrypted file")
    console_idle_minutes: int = Field(
        default=15, gt=0, le=24 * 60, description="a staff session ends after this long without a request"
    )
    console_session_hours: int = Field(
        default=12, gt=0, le=7 * 24, description="a staff session ends this long after sign-in, however busy"
    )
    portal_sealed_per_case: int = Field(default=50, gt=0, description="encrypted files one case may keep")
    #: exchange APIs that may be configured (HMA's installed exchange types; comma-separated, from
    #: ``takeback.exchanges.apis``). Exchanges are configured, not yet fetched (the federation issue).
    exchange_apis: str = "sample"
    #: the review grid's categories (comma-separated keys, in number-key order 1-9); empty: the
    #: default five (triage.review.DEFAULT_CATEGORIES). Kept per case folder; a change is logged.
    review_categories: str = ""
    #: who is recorded as acting (custody, audit, bank entries) when a command gets no ``--by``: a role
    #: or a pseudonym. Empty means each surface's role label (see ``acting``), never the OS account.
    actor: str = ""

    @field_validator("data_dir", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        if isinstance(v, str):
            return Path(os.path.expanduser(v))
        return v

    def ensure_data_dir(self) -> Path:
        """Create the data directory (private to the user) and return it."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.data_dir


def installation_secret(data_dir: Path, name: str) -> bytes:
    """32 random bytes in ``data_dir/keys/<name>`` (owner-only), made once and then read by every
    process of the installation (a token one server worker made is good at another; the CLI and the
    server seal and open the same values). Never replaced once made."""
    import contextlib
    import secrets

    folder = data_dir / "keys"
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # never replaces a secret another process made meanwhile
        tmp.unlink()
    data = path.read_bytes()
    if len(data) != 32:
        raise RuntimeError(f"{path} is damaged (not 32 bytes); remove it to make a new one")
    return data


#: Role labels recorded when nobody says who is acting. Never the operating-system account: on a
#: victim's own laptop that is often her real name, and custody logs, bundles and bank exports travel.
ACTOR_SELF = "self"  # victim-support commands (case, evidence): the person the case is about
ACTOR_EXAMINER = "examiner"  # forensic triage (scan): the examiner's role
ACTOR_CLI = "cli"  # bank, keys, match: the command line (the service records API key ids)


def acting(by: str | None, *, default: str, settings: Settings | None = None) -> str:
    """Who is recorded as acting: ``--by``, else ``TAKEBACK_ACTOR``, else the surface's role label.

    Why no fallback to ``getpass.getuser()``: recording the account name is a choice a person makes
    (``--by "$USER"``), not something takeback does behind her back.
    """
    for value in (by, (settings or get_settings()).actor):
        if value and value.strip():
            return value.strip()
    return default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings; tests construct ``Settings`` directly instead."""
    return Settings()
