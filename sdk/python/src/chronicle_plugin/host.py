"""The plugin's one line to the host, shared by `context.services`, `get_database()` and
`async_generate()`.

The runner attaches the connection once the process starts. `current_context_id` names the
`handle_event` being served; the runner sets it around each handler, and because asyncio
copies context variables into each task, concurrent events never see each other's id. Calls
made outside a handler (from `initialize()`, say) carry a null `context_id`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Optional, Protocol

from .errors import ServiceError
from .protocol import ErrorCode, Method

current_context_id: ContextVar[Optional[str]] = ContextVar(
    "chronicle_plugin_context_id", default=None
)


class HostConnection(Protocol):
    """What service calls need from the connection: send a request, await its result."""

    async def call(self, method: str, params: dict) -> Any: ...


_connection: Optional[HostConnection] = None
_plugin_id: Optional[str] = None


def attach(connection: Optional[HostConnection], plugin_id: Optional[str]) -> None:
    """Routes service calls to `connection`, on behalf of `plugin_id` (None detaches)."""
    global _connection, _plugin_id
    _connection, _plugin_id = connection, plugin_id


def attached_plugin_id() -> Optional[str]:
    """The id of the plugin this process serves, once the runner has attached."""
    return _plugin_id


async def call_host(method: Method, params: dict, context_id: Optional[str]) -> Any:
    """Sends one service request; a JSON-RPC error from the host raises ServiceError."""
    if _connection is None:
        raise ServiceError(
            ErrorCode.SERVICE_UNAVAILABLE,
            f"`{method}` needs the Chronicle host: services, get_database() and "
            "async_generate() work only in a plugin the host started",
        )
    return await _connection.call(method, {"context_id": context_id, **params})
