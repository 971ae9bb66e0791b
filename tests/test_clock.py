"""Times people type and deadline arithmetic across time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from takeback.clock import (
    ClockError,
    Duration,
    add_months,
    due_after,
    end_of_day,
    format_local,
    parse_date,
    parse_duration,
    parse_when,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NY = "America/New_York"


def test_parses_offsets_local_times_dates_and_now() -> None:
    assert parse_when("2026-03-08T14:30+08:00", zone=NY, now=NOW) == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert parse_when("2026-03-08T06:30Z", zone=NY, now=NOW) == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    # a local time is read in the given zone (EST, UTC-5, before the change)
    assert parse_when("2026-03-07 14:30", zone=NY, now=NOW) == datetime(2026, 3, 7, 19, 30, tzinfo=UTC)
    assert parse_when("2026-03-01", zone="Asia/Hong_Kong", now=NOW) == datetime(
        2026, 2, 28, 16, 0, tzinfo=UTC
    )
    assert parse_when("now", zone=NY, now=NOW) == NOW


def test_local_time_skipped_by_dst_is_refused_with_an_offset_hint() -> None:
    with pytest.raises(ClockError) as err:
        parse_when("2026-03-08 02:30", zone=NY, now=NOW)
    assert err.value.code == "nonexistent_local_time"
    assert "jumped forward" in err.value.message


def test_local_time_that_happens_twice_is_refused_naming_both_offsets() -> None:
    with pytest.raises(ClockError) as err:
        parse_when("2026-11-01 01:30", zone=NY, now=NOW)
    assert err.value.code == "ambiguous_local_time"
    assert "UTC-04:00" in err.value.message and "UTC-05:00" in err.value.message
    # with the offset it is exact
    assert parse_when("2026-11-01T01:30-05:00", zone=NY, now=NOW) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    # London falls back too
    with pytest.raises(ClockError, match="happened twice"):
        parse_when("2026-10-25 01:15", zone="Europe/London", now=NOW)


def test_future_and_unparsable_times_are_refused() -> None:
    with pytest.raises(ClockError) as err:
        parse_when("2027-01-01T00:00Z", zone=NY, now=NOW, what="posting time")
    assert err.value.code == "future_time" and "posting time" in err.value.message
    assert parse_when("2026-11-26T12:04Z", zone=NY, now=NOW)  # a few minutes of clock skew is tolerated
    for bad in ("yesterday", "26/11/2026", "2026-13-01", "2026-02-30T10:00", ""):
        with pytest.raises(ClockError) as err:
            parse_when(bad, zone=NY, now=NOW)
        assert err.value.code == "bad_time"
    with pytest.raises(ClockError) as err:
        parse_when("2026-01-01", zone="Mars/Olympus", now=NOW)
    assert err.value.code == "unknown_time_zone"
    with pytest.raises(ClockError, match="future"):
        parse_date("2026-11-27", zone="Asia/Hong_Kong", now=datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    # already 27 November in Hong Kong at 16:30 UTC on the 26th
    assert parse_date("2026-11-27", zone="Asia/Hong_Kong", now=datetime(2026, 11, 26, 16, 30, tzinfo=UTC))


def test_48_hour_clock_is_48_real_hours_across_spring_forward() -> None:
    start = parse_when("2026-03-07 12:00", zone=NY, now=NOW)
    due = due_after(start, Duration(hours=48), NY)
    assert (due - start).total_seconds() == 48 * 3600
    local = due.astimezone(ZoneInfo(NY))
    assert (local.day, local.hour) == (9, 13)  # the wall clock shows 49 hours later: an hour was skipped
    assert format_local(due, NY) == "2026-03-09 13:00 EDT (UTC-04:00)"


def test_24_hour_clock_across_australian_dst_end() -> None:
    syd = "Australia/Sydney"
    start = parse_when("2026-04-04 12:00", zone=syd, now=NOW)  # AEDT, DST ends 5 April 03:00
    due = due_after(start, Duration(hours=24), syd)
    assert format_local(due, syd) == "2026-04-05 11:00 AEST (UTC+10:00)"


def test_month_windows_follow_the_local_calendar_and_keep_wall_time() -> None:
    london = "Europe/London"
    start = parse_when("2026-03-01 09:00", zone=london, now=NOW)  # GMT
    due = due_after(start, Duration(months=1), london)
    assert format_local(due, london) == "2026-04-01 09:00 BST (UTC+01:00)"
    assert (due - start).total_seconds() == (31 * 24 - 1) * 3600
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)
    assert add_months(date(2026, 3, 1), 12) == date(2027, 3, 1)
    # a wall time that does not exist on the due day moves to the first instant after it
    s = datetime(2026, 2, 8, 7, 30, tzinfo=UTC)  # 02:30 EST
    assert format_local(due_after(s, Duration(months=1), NY), NY) == "2026-03-08 03:30 EDT (UTC-04:00)"


def test_end_of_day_in_hong_kong_and_when_midnight_is_skipped() -> None:
    assert end_of_day(date(2027, 3, 1), "Asia/Hong_Kong") == datetime(2027, 3, 1, 16, 0, tzinfo=UTC)
    # Santiago skips midnight at the start of DST (6 Sep 2026)
    eod = end_of_day(date(2026, 9, 5), "America/Santiago")
    assert eod.astimezone(ZoneInfo("America/Santiago")).hour == 1


@pytest.mark.parametrize(
    ("text", "hours", "months"),
    [
        ("48h", 48, 0),
        ("24 hours", 24, 0),
        ("3d", 72, 0),
        ("PT48H", 48, 0),
        ("P12M", 0, 12),
        ("12 months", 0, 12),
        ("1 month", 0, 1),
        ("P2D", 48, 0),
    ],
)
def test_durations(text: str, hours: int, months: int) -> None:
    d = parse_duration(text)
    assert (d.hours, d.months) == (hours, months)


def test_bad_durations() -> None:
    for bad in ("soon", "0h", "-5h", "48 minutes", ""):
        with pytest.raises(ClockError) as err:
            parse_duration(bad)
        assert err.value.code == "bad_duration"
    assert Duration(hours=48).describe("zh-Hant") == "48 小時"
    assert Duration(months=12).iso == "P12M"
