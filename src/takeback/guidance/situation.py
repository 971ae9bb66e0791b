"""The facts of a person's situation that both the pathway engine and a case record hold.

They live in guidance because that is where their meaning is (who is under 18 decides which acts are
offences and which routes lead; the setting decides which complaint bodies fit); ``cases`` stores them
as column values and imports them from here, so guidance never needs the case tables.
"""

from __future__ import annotations

from enum import StrEnum


class VictimAge(StrEnum):
    ADULT = "adult"
    MINOR = "minor"  # under 18 now
    WAS_MINOR = "was-minor"  # adult now, under 18 in the images or when it happened

    @property
    def under_18(self) -> bool:
        return self is not VictimAge.ADULT


class Setting(StrEnum):
    UNIVERSITY = "university"
    SCHOOL = "school"
    WORK = "work"
    ONLINE = "online"
    OTHER = "other"
