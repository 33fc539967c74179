"""`PluginServices`, the host actions and the search a handler reaches through
`context.services`."""

from __future__ import annotations

from typing import Any, Optional

from .events import ConversationCloseReason
from .host import call_host, call_host_blocking
from .protocol import Method
from .result import PluginResult, result_from_wire
from .search import DEFAULT_SEARCH_LIMIT, SearchResult, TimeBound, search_params, search_result_from_wire


class PluginServices:
    """System actions, cross-plugin calls and search, each one a request to the host.

    Bound to the `handle_event` it was handed with, so the host checks the calling plugin's
    permissions and records the call with that event. A refused call raises ServiceError whose
    message names the permission to add.
    """

    def __init__(self, context_id: Optional[str] = None):
        self.context_id = context_id

    async def close_conversation(
        self,
        session_id: str,
        reason: ConversationCloseReason = ConversationCloseReason.PLUGIN_REQUESTED,
    ) -> bool:
        """Asks the host to close the conversation open in `session_id`; False if none was."""
        params = {"session_id": session_id, "reason": str(ConversationCloseReason(reason))}
        return bool(await call_host(Method.CLOSE_CONVERSATION, params, self.context_id))

    async def star_conversation(self, session_id: str) -> bool:
        """Toggles the star of the conversation open in `session_id`; False if there is none."""
        params = {"session_id": session_id}
        return bool(await call_host(Method.STAR_CONVERSATION, params, self.context_id))

    async def stop_playback(self, user_id: str, client_id: str) -> bool:
        """Tells the device `client_id` of user `user_id` to stop what it is playing (barge-in),
        as the Python original's `stop_playback(user_id, client_id)` did (permission
        `stop_playback`). Returns whether a connection of that device was told.

        Raises ValueError, as the original did, when either argument is empty.
        """
        if not user_id or not client_id:
            raise ValueError("stop_playback requires user_id and client_id")
        params = {"client_id": client_id, "user_id": user_id}
        return bool(await call_host(Method.STOP_PLAYBACK, params, self.context_id))

    async def call_plugin(
        self,
        plugin_id: str,
        action: str,
        data: Optional[dict] = None,
        user_id: str = "system",
    ) -> Optional[PluginResult]:
        """Runs another plugin's `on_plugin_action` with `data` plus `action`.

        Returns its result, or None if it declined. An unknown, disabled or failing target is a
        result with `success=False` saying why, as in the Python original.
        """
        params = {"plugin_id": plugin_id, "action": action, "data": data or {}, "user_id": user_id}
        return result_from_wire(await call_host(Method.CALL_PLUGIN, params, self.context_id))

    async def search(
        self,
        query: str,
        *,
        since: Optional[TimeBound] = None,
        until: Optional[TimeBound] = None,
        kind: Optional[str] = None,
        limit: int = DEFAULT_SEARCH_LIMIT,
        time_zone: Any = None,
        user_id: Optional[str] = None,
    ) -> SearchResult:
        """Searches the user's conversations and memories by words and meaning, as the server's
        `GET /api/search` does (permission `search`).

        A time in `query` ("yesterday", "6 hours ago") becomes a filter, read in `time_zone` (an
        IANA name or a zoneinfo.ZoneInfo; the server's own when None); `since` and `until`
        (RFC 3339 text, a date, or an aware datetime) bound it further. `kind` is `memory` or
        `conversation` (None: both), `limit` 1 to 50. `user_id` is whose conversations and
        memories; None means the user of the event being handled.

        Raises TypeError or ValueError for arguments the host would refuse, before anything is
        sent, and ServiceError when the host refuses or fails (-32030 without the permission).
        """
        params = search_params(query, since, until, kind, limit, time_zone, user_id)
        return search_result_from_wire(await call_host(Method.SEARCH, params, self.context_id))

    def search_blocking(
        self,
        query: str,
        *,
        since: Optional[TimeBound] = None,
        until: Optional[TimeBound] = None,
        kind: Optional[str] = None,
        limit: int = DEFAULT_SEARCH_LIMIT,
        time_zone: Any = None,
        user_id: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> SearchResult:
        """`search` for synchronous code, such as a plain `def` handler or a worker thread; see
        `chronicle_plugin.host.call_host_blocking`. Called on the event loop's own thread it
        holds the loop until the host answers, as the LLM client's synchronous calls do."""
        params = search_params(query, since, until, kind, limit, time_zone, user_id)
        return search_result_from_wire(call_host_blocking(Method.SEARCH, params, self.context_id, timeout))
