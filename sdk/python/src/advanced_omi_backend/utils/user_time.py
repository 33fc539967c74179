"""`advanced_omi_backend.utils.user_time`: showing stored UTC times in the user's own timezone.

The host stores times in UTC; a naive datetime is taken to be UTC, as the original's database
returned them. A timezone name of None (this host sends none with its users) means UTC.
"""

from datetime import datetime, timezone, tzinfo
from typing import Optional
from zoneinfo import ZoneInfo


def _zone(timezone_name: Optional[str]) -> tzinfo:
    if not timezone_name or timezone_name.upper() in ("UTC", "Z", "ETC/UTC"):
        # No tz database needed for UTC, so this works on systems without one.
        return timezone.utc
    return ZoneInfo(timezone_name)


def in_user_timezone(value: datetime, timezone_name: Optional[str]) -> datetime:
    """`value` in the IANA zone `timezone_name` (e.g. `Asia/Kolkata`); naive means UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(_zone(timezone_name))


def format_user_datetime(value: datetime, timezone_name: Optional[str], format_string: str) -> str:
    """`value` shown in the user's zone with `strftime(format_string)` (`%Z` names the zone)."""
    return in_user_timezone(value, timezone_name).strftime(format_string)


__all__ = ["format_user_datetime", "in_user_timezone"]
