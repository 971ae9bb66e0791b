"""Time: the one ``utcnow``, times people type, time zones, deadline arithmetic, UTC text and values.

Low in the house (it needs only ``errors``), so every domain that stamps or reads a time uses these
helpers instead of its own: banks, matching and the audit log stamp with ``utcnow``; cases, guidance
and evidence read, format and count with the rest.

Why this is careful: a deadline clock that is an hour off across a daylight-saving change, or a
"posted at 02:30" that never existed on that night, ends up in a complaint or in court. So local
times that do not exist (clocks jump forward) or happen twice (clocks fall back) are refused with
both readings named, never silently guessed; hour clocks run in elapsed time (48 h is 48 real
hours, whatever the wall clock does); month windows run on the local calendar.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from takeback.errors import TakebackError
from takeback.i18n import translate_plural

#: how far in the future a time someone reports may be before it is refused (clock skew between devices)
FUTURE_TOLERANCE = timedelta(minutes=5)


class ClockError(TakebackError):
    code = "bad_time"


#: set only by ``frozen()``: tests stop the clock (a deadline going overdue, a session expiring, a
#: TOTP step) for code in every thread of the process, including a server thread they started
_FROZEN: list[datetime] = []


def utcnow() -> datetime:
    """Now, aware, in UTC: the one clock every stored timestamp comes from."""
    return _FROZEN[-1] if _FROZEN else datetime.now(UTC)


def now_seconds() -> float:
    """``utcnow()`` as a Unix timestamp, for code that counts seconds (sessions, one-time codes)."""
    return utcnow().timestamp()


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Stop the clock at ``at`` (aware) for the block; ``advance()`` moves it on. For tests."""
    _FROZEN.append(as_utc(at) or at)
    try:
        yield
    finally:
        _FROZEN.pop()


def is_frozen() -> bool:
    return bool(_FROZEN)


def advance(seconds: float) -> datetime:
    """Move a frozen clock on by ``seconds``; refused outside ``frozen()``."""
    if not _FROZEN:
        raise RuntimeError("advance() needs a frozen clock")
    _FROZEN[-1] = _FROZEN[-1] + timedelta(seconds=seconds)
    return _FROZEN[-1]


def get_zone(name: str) -> ZoneInfo:
    """An IANA zone by name, or a clear error naming the zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ClockError(
            f"Unknown time zone {name!r}. Use an IANA name such as Asia/Hong_Kong, Europe/London or "
            "America/New_York.",
            code="unknown_time_zone",
        ) from None


def local_zone_name() -> str:
    """This computer's IANA zone: ``TZ``, else the /etc/localtime link, else UTC."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError):
            pass
    link = Path("/etc/localtime")
    try:
        target = str(link.resolve())
    except OSError:
        return "UTC"
    marker = "/zoneinfo/"
    if marker in target:
        name = target.split(marker, 1)[1]
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return "UTC"


def localize(naive: datetime, zone: ZoneInfo, *, what: str = "time") -> datetime:
    """Attach ``zone`` to a wall-clock time, refusing times that do not exist or are ambiguous."""
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    # A wall time that does not exist does not survive the round trip through UTC.
    back = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        raise ClockError(
            f"The {what} {naive:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks jumped forward "
            "that night. Check the time, or give it with its UTC offset (for example "
            f"{naive:%Y-%m-%d}T{naive:%H:%M}{_offset_text(early)}).",
            code="nonexistent_local_time",
        )
    if early.utcoffset() != late.utcoffset():
        raise ClockError(
            f"The {what} {naive:%Y-%m-%d %H:%M} happened twice in {zone.key} (the clocks went back): "
            f"at UTC{_offset_text(early)} and at UTC{_offset_text(late)}. "
            "Give it with its offset, for example "
            f"{naive:%Y-%m-%dT%H:%M}{_offset_text(early)}.",
            code="ambiguous_local_time",
        )
    return early


def _offset_text(dt: datetime) -> str:
    off = dt.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_when(
    text: str,
    *,
    zone: str,
    now: datetime | None = None,
    allow_future: bool = False,
    what: str = "time",
) -> datetime:
    """Parse a time a person typed into an aware UTC datetime.

    Accepts ISO 8601 with an offset (``2026-03-08T02:30+08:00``, ``...Z``), a local date-time
    (``2026-03-08 02:30``, read in ``zone``), a date (start of that day in ``zone``) or ``now``.
    Times in the future are refused unless ``allow_future`` (a reported event cannot be in the future).
    """
    raw = text.strip()
    current = now or utcnow()
    if not raw:
        raise ClockError(f"The {what} is empty.", code="bad_time")
    if raw.lower() == "now":
        return current.astimezone(UTC)
    tz = get_zone(zone)
    try:
        if _DATE_ONLY.match(raw):
            parsed = datetime.combine(date.fromisoformat(raw), time(0, 0))
        else:
            parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
    except ValueError:
        raise ClockError(
            f"Could not read the {what} {text!r}. Use ISO 8601, for example 2026-03-08T14:30+08:00, "
            f"2026-03-08 14:30 (read as {zone} time) or 2026-03-08.",
            code="bad_time",
        ) from None
    aware = localize(parsed, tz, what=what) if parsed.tzinfo is None else parsed
    result = aware.astimezone(UTC)
    if not allow_future and result > current + FUTURE_TOLERANCE:
        raise ClockError(
            f"The {what} {format_local(result, zone)} is in the future (it is now "
            f"{format_local(current, zone)}). Check the date, the year and the time zone.",
            code="future_time",
        )
    return result


def parse_date(text: str, *, zone: str, now: datetime | None = None, what: str = "date") -> date:
    """A calendar date (YYYY-MM-DD), refusing dates after today in ``zone``."""
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        raise ClockError(
            f"Could not read the {what} {text!r}. Use YYYY-MM-DD, for example 2026-03-08.", code="bad_time"
        ) from None
    today = (now or utcnow()).astimezone(get_zone(zone)).date()
    if d > today:
        raise ClockError(
            f"The {what} {d.isoformat()} is in the future (today is {today.isoformat()} in {zone}).",
            code="future_time",
        )
    return d


@dataclass(frozen=True, slots=True)
class Duration:
    """A clock length: elapsed hours, or calendar months on the local calendar."""

    hours: int = 0
    months: int = 0

    def __post_init__(self) -> None:
        if (self.hours > 0) == (self.months > 0) or self.hours < 0 or self.months < 0:
            raise ValueError("a duration is either hours or months, and positive")

    @property
    def iso(self) -> str:
        return f"PT{self.hours}H" if self.hours else f"P{self.months}M"

    def describe(self, lang: str = "en") -> str:
        if self.hours:
            return translate_plural("common.hours", self.hours, lang)
        return translate_plural("common.months", self.months, lang)


_DURATION = re.compile(
    r"^(?:P(?:(?P<iso_m>\d+)M|T(?P<iso_h>\d+)H|(?P<iso_d>\d+)D)|(?P<n>\d+)\s*(?P<unit>h|hours?|d|days?|m|months?))$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> Duration:
    """``48h``, ``24 hours``, ``3d``, ``12 months``, ``PT48H``, ``P12M``, ``P3D`` (a day is 24 hours)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ClockError(
            f"Could not read the duration {text!r}. Use for example 48h, 3d, 12 months, PT48H or P12M.",
            code="bad_duration",
        )
    if m.group("iso_m") or (m.group("unit") or "").lower().startswith("m"):
        n = int(m.group("iso_m") or m.group("n"))
        return _checked(Duration(months=n) if n > 0 else None, text)
    if m.group("iso_d") or (m.group("unit") or "").lower().startswith("d"):
        n = int(m.group("iso_d") or m.group("n"))
        return _checked(Duration(hours=24 * n) if n > 0 else None, text)
    n = int(m.group("iso_h") or m.group("n"))
    return _checked(Duration(hours=n) if n > 0 else None, text)


def _checked(d: Duration | None, text: str) -> Duration:
    if d is None:
        raise ClockError(f"The duration {text!r} must be longer than zero.", code="bad_duration")
    return d


def add_months(d: date, months: int) -> date:
    """Calendar months; the 31st becomes the last day of a shorter month (29 Feb -> 28 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, min(d.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def due_after(start: datetime, duration: Duration, zone: str) -> datetime:
    """When a clock of ``duration`` started at ``start`` (aware) runs out, in UTC.

    Hour clocks count elapsed time, so a 48-hour clock spanning a DST change still lasts 48 real
    hours. Month clocks move the local calendar date and keep the local wall time; if that wall time
    does not exist on the due day, the first valid instant after it is used.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if duration.hours:
        return (start.astimezone(UTC) + timedelta(hours=duration.hours)).astimezone(UTC)
    tz = get_zone(zone)
    local = start.astimezone(tz)
    target = datetime.combine(add_months(local.date(), duration.months), local.time())
    candidate = target.replace(tzinfo=tz, fold=0)
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != target:
        # a gap: step forward to the first instant that exists
        candidate = (target + timedelta(hours=1)).replace(tzinfo=tz, fold=0)
    return candidate.astimezone(UTC)


def end_of_day(d: date, zone: str) -> datetime:
    """The instant a calendar day ends in ``zone`` (start of the next day), in UTC."""
    tz = get_zone(zone)
    nxt = datetime.combine(d + timedelta(days=1), time(0, 0))
    local = nxt.replace(tzinfo=tz, fold=0)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != nxt:  # midnight skipped by DST
        local = (nxt + timedelta(hours=1)).replace(tzinfo=tz)
    return local.astimezone(UTC)


def format_local(dt: datetime, zone: str) -> str:
    """``2026-03-10 14:00 HKT (UTC+08:00)``: the local wall time a person reads, with its offset."""
    local = dt.astimezone(get_zone(zone))
    abbrev = local.tzname() or ""
    abbrev = "" if abbrev.startswith(("+", "-")) else f" {abbrev}"
    return f"{local:%Y-%m-%d %H:%M}{abbrev} (UTC{_offset_text(local)})"


def iso_utc(dt: datetime) -> str:
    """Canonical UTC text with microseconds: ``2026-03-10T06:00:00.000000Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@overload
def as_utc(dt: datetime) -> datetime: ...
@overload
def as_utc(dt: None) -> None: ...
def as_utc(dt: datetime | None) -> datetime | None:
    """Aware UTC from a database value (SQLite returns naive datetimes that were stored as UTC; PostgreSQL
    aware ones in the session's zone); None stays None."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
