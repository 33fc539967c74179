"""Text helpers for the Recap Assistant, importing the original's newer package name."""

from datetime import datetime
from typing import Optional

from backend.utils.user_time import format_user_datetime


def format_duration(seconds: Optional[float]) -> str:
    """`125.0` -> `"2m 5s"`; `None` -> `"N/A"`."""
    if not seconds:
        return "N/A"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def heading(title: Optional[str], created_at: Optional[datetime], timezone_name: Optional[str]) -> str:
    """`"<title> - <date in the user's zone>"`."""
    when = format_user_datetime(created_at, timezone_name, "%b %d, %Y at %I:%M %p %Z") if created_at else "N/A"
    return f"{title or 'Untitled'} - {when}"
