"""The plugin's one line to the host, shared by `context.services`, `get_database()` and the
language model.

The runner attaches the connection once the process starts. `current_context_id` names the
`handle_event` being served and `current_event` holds its PluginContext; the runner sets both
around each handler, and because asyncio copies context variables into each task, concurrent
events never see each other's. Calls made outside a handler (from `initialize()`, say) carry a
null `context_id`.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any, Optional, Protocol

from .errors import ServiceError
from .protocol import ErrorCode, Method

current_context_id: ContextVar[Optional[str]] = ContextVar(
    "chronicle_plugin_context_id", default=None
)
# The PluginContext of the handler running (None outside one); what the models of the Python
# original's conversations and users are built from.
current_event: ContextVar[Optional[Any]] = ContextVar("chronicle_plugin_event", default=None)


class HostConnection(Protocol):
    """What service calls need from the connection: send a request, await its result."""

    async def call(self, method: str, params: dict) -> Any: ...


_connection: Optional[HostConnection] = None
_plugin_id: Optional[str] = None
_loop: Optional[asyncio.AbstractEventLoop] = None


def attach(connection: Optional[HostConnection], plugin_id: Optional[str]) -> None:
    """Routes service calls to `connection`, on behalf of `plugin_id` (None detaches).

    Called from the event loop that serves the connection, which blocking calls from other
    threads are handed to.
    """
    global _connection, _plugin_id, _loop
    _connection, _plugin_id = connection, plugin_id
    _loop = _running_loop() if connection is not None else None


def attached_plugin_id() -> Optional[str]:
    """The id of the plugin this process serves, once the runner has attached."""
    return _plugin_id


def _not_attached(method: Method) -> ServiceError:
    return ServiceError(
        ErrorCode.SERVICE_UNAVAILABLE,
        f"`{method}` needs the Chronicle host: services, get_database() and the language "
        "model work only in a plugin the host started",
    )


async def call_host(method: Method, params: dict, context_id: Optional[str]) -> Any:
    """Sends one service request; a JSON-RPC error from the host raises ServiceError."""
    if _connection is None:
        raise _not_attached(method)
    return await _connection.call(method, {"context_id": context_id, **params})


def call_host_blocking(method: Method, params: dict, context_id: Optional[str], timeout: Optional[float] = None) -> Any:
    """`call_host` for synchronous code, such as the OpenAI-style `client.chat.completions.create`
    the Python original's plugins call.

    From another thread the request goes through the event loop as usual. From the event loop's
    own thread (a plain call inside an `async def` handler) the loop cannot run until the call
    returns, so the request is written at once and its answer taken straight off the reader
    thread; other work waits meanwhile, exactly as it did in the original.
    """
    connection = _connection
    if connection is None:
        raise _not_attached(method)
    full_params = {"context_id": context_id, **params}
    loop = _loop
    if loop is not None and _running_loop() is loop:
        call_blocking = getattr(connection, "call_blocking", None)
        if call_blocking is None:
            raise ServiceError(ErrorCode.SERVICE_UNAVAILABLE, f"`{method}` cannot be called synchronously here")
        return call_blocking(method, full_params, timeout)
    if loop is None or loop.is_closed():
        raise _not_attached(method)
    future = asyncio.run_coroutine_threadsafe(connection.call(method, full_params), loop)
    return future.result(timeout)


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
