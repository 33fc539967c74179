"""The search service (permission `search`): the user's conversations and memories, found by
their words and, when the host has an embeddings server, by their meaning, as the server's own
`GET /api/search` finds them. A plugin reaches it through `context.services.search(...)`.

This module checks a call's arguments before anything is sent, so a mistake is a TypeError or
ValueError at the plugin's call rather than a -32032 from the host, and turns the host's answer
into the SearchResult, SearchHit and TimeFilter below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Dict, List, Optional, Union

from .errors import ServiceError
from .protocol import ErrorCode

# What `kind` may be; None searches both.
SEARCH_KINDS = ("memory", "conversation")
# The host's bounds on `limit`, and what it uses when `limit` is absent.
MIN_SEARCH_LIMIT = 1
MAX_SEARCH_LIMIT = 50
DEFAULT_SEARCH_LIMIT = 10

# `since` and `until`: RFC 3339 text or `YYYY-MM-DD`, or the date or (time-zone-aware) datetime.
TimeBound = Union[str, date, datetime]


@dataclass
class TimeFilter:
    """The time the query named ("yesterday"), as the filter it became.

    `since` and `until` are RFC 3339 (either may be None for an open end); `time_zone` is the
    IANA zone the phrase was read in.
    """

    phrase: str
    since: Optional[str] = None
    until: Optional[str] = None
    time_zone: str = ""


@dataclass
class SearchHit:
    """One thing found: a memory or a stretch of a conversation's transcript.

    `id` is the memory's id, or the conversation's; `time` (RFC 3339) is when it was remembered
    or when its conversation started, and `offset_seconds` how far into the conversation it was
    said. `snippet` is HTML-escaped with the matched words in `<mark>…</mark>`. `matched_by` is
    `words`, `meaning`, `both` or `time` (a time alone was asked for). Higher `score` is better.
    """

    kind: str
    id: str
    time: str
    score: float
    snippet: str
    matched_by: str
    conversation_id: Optional[str] = None
    offset_seconds: Optional[float] = None
    speaker: Optional[str] = None


@dataclass
class SearchResult:
    """The host's answer: what it searched for, how, and the hits, best first.

    `searched_for` is the query without the time it named, which is `time_filter` (None when it
    named none). `ranking` is `rrf` (words and meaning fused), `bm25` (words alone) or `time` (a
    time alone, newest first); `note` says the same in words, and why by words alone when it was.
    """

    searched_for: str
    ranking: str
    note: str
    time_filter: Optional[TimeFilter] = None
    hits: List[SearchHit] = field(default_factory=list)


def search_params(
    query: str,
    since: Optional[TimeBound],
    until: Optional[TimeBound],
    kind: Optional[str],
    limit: int,
    time_zone: Any,
    user_id: Optional[str],
) -> Dict[str, Any]:
    """The `search.query` params for these arguments, checked; the optional ones left out when
    None, as the host reads an absent one as its default."""
    if not isinstance(query, str):
        raise TypeError(f"search query must be a str, not {type(query).__name__}")
    if not query.strip():
        raise ValueError("search query must not be empty")
    if kind is not None and kind not in SEARCH_KINDS:
        raise ValueError(f"search kind must be None, 'memory' or 'conversation', not {kind!r}")
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"search limit must be an int, not {type(limit).__name__}")
    if not MIN_SEARCH_LIMIT <= limit <= MAX_SEARCH_LIMIT:
        raise ValueError(f"search limit must be from {MIN_SEARCH_LIMIT} to {MAX_SEARCH_LIMIT}, not {limit}")
    params: Dict[str, Any] = {"query": query}
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            params[name] = _time_bound(name, value)
    if kind is not None:
        params["kind"] = str(kind)
    params["limit"] = limit
    if time_zone is not None:
        params["time_zone"] = _time_zone(time_zone)
    if user_id is not None:
        if not isinstance(user_id, str) or not user_id:
            raise ValueError(f"search user_id must be a non-empty str or None, not {user_id!r}")
        params["user_id"] = user_id
    return params


def _time_bound(name: str, value: TimeBound) -> str:
    """`since` or `until` as the host reads it: RFC 3339 text or a `YYYY-MM-DD` date."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"search {name} is a datetime without a time zone ({value.isoformat()}); give it "
                "one (datetime.now(timezone.utc)), or pass a date or RFC 3339 text"
            )
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise TypeError(f"search {name} must be RFC 3339 text, a date or a datetime, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"search {name} must not be empty (pass None for no bound)")
    return value


def _time_zone(value: Any) -> str:
    """An IANA name (`Europe/Berlin`), or a zoneinfo.ZoneInfo, whose name it is."""
    key = getattr(value, "key", None)
    if not isinstance(value, str) and isinstance(key, str):
        value = key
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"search time_zone must be an IANA time zone name such as 'Europe/Berlin', not {value!r}")
    return value


def search_result_from_wire(value: Any) -> SearchResult:
    """The host's answer as a SearchResult; fields the SDK does not know yet are left out."""
    try:
        time_filter = value.get("time_filter")
        return SearchResult(
            searched_for=str(value.get("searched_for", "")),
            ranking=str(value.get("ranking", "")),
            note=str(value.get("note", "")),
            time_filter=None if time_filter is None else TimeFilter(
                phrase=str(time_filter.get("phrase", "")),
                since=time_filter.get("since"),
                until=time_filter.get("until"),
                time_zone=str(time_filter.get("time_zone", "")),
            ),
            hits=[_hit_from_wire(hit) for hit in value.get("hits") or []],
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ServiceError(
            ErrorCode.SERVICE_FAILED, f"the host's search answer is not a search result: {value!r:.200}"
        ) from error


def _hit_from_wire(hit: Dict[str, Any]) -> SearchHit:
    offset = hit.get("offset_seconds")
    return SearchHit(
        kind=str(hit["kind"]),
        id=str(hit["id"]),
        time=str(hit.get("time", "")),
        score=float(hit.get("score", 0.0)),
        snippet=str(hit.get("snippet", "")),
        matched_by=str(hit.get("matched_by", "")),
        conversation_id=hit.get("conversation_id"),
        offset_seconds=None if offset is None else float(offset),
        speaker=hit.get("speaker"),
    )
