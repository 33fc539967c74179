"""Serves one plugin to the host: the handshake, its events, health checks and cleanup."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any, BinaryIO, Dict, Optional

from . import host
from .base import HANDLER_FOR_EVENT, BasePlugin, handled_events
from .errors import PluginConnectivityError
from .jsonrpc import Connection, ThreadedLineReader, line_writer
from .loader import PluginLoadError, load_plugin_class
from .messages import (
    config_from_initialize,
    context_from_handle_event,
    handle_event_result,
    handler_failure,
    health_report,
    initialize_result,
)
from .prompts import get_prompt_registry
from .protocol import (
    PROTOCOL_VERSION,
    SDK_VERSION,
    ErrorCode,
    Method,
    RpcError,
    exception_summary,
    incompatible_version_message,
    is_compatible,
)

logger = logging.getLogger(__name__)


class PluginRunner:
    """The plugin side of the protocol's four host methods, for the plugin in one folder.

    The plugin is imported when `initialize` arrives, not before, so an import error is the
    answer to the handshake (-32012) instead of a process that dies with nothing said.
    """

    def __init__(self, plugin_id: str, plugins_dir: Path):
        self.plugin_id = plugin_id
        self.plugins_dir = plugins_dir
        self._plugin_class: Optional[type] = None
        self.plugin: Optional[BasePlugin] = None

    async def serve_request(self, method: str, params: Dict[str, Any]) -> Any:
        """Answers one host request; raises RpcError to answer with an error."""
        methods = {
            Method.INITIALIZE: self.initialize,
            Method.HANDLE_EVENT: self.handle_event,
            Method.HEALTH_CHECK: self.health_check,
            Method.CLEANUP: self.cleanup,
        }
        if method not in methods:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"unknown method `{method}`")
        return await methods[method](params)

    async def initialize(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """Checks the protocol version, loads and constructs the plugin, runs its initialize().

        A repeated initialize (the host retrying a degraded plugin) builds a fresh instance.
        """
        host_protocol = str(params.get("protocol_version"))
        if not is_compatible(PROTOCOL_VERSION, host_protocol):
            raise RpcError(
                ErrorCode.INCOMPATIBLE_PROTOCOL,
                incompatible_version_message(self.plugin_id, PROTOCOL_VERSION, SDK_VERSION, host_protocol),
            )
        if params.get("plugin_id", self.plugin_id) != self.plugin_id:
            raise RpcError(
                ErrorCode.PLUGIN_BROKEN,
                f"this process serves plugin `{self.plugin_id}`, not `{params['plugin_id']}`",
            )
        plugin_class = self._load_class()
        try:
            plugin = plugin_class(config_from_initialize(params, self.plugin_id))
            self._register_prompts(plugin)
            _check_interaction_modes(plugin, self.plugin_id)
            await _settle(plugin.initialize())
        except PluginConnectivityError as error:
            logger.warning("plugin `%s` cannot reach a dependency: %s", self.plugin_id, error)
            raise RpcError(ErrorCode.PLUGIN_UNREACHABLE, exception_summary(error)) from error
        except Exception as error:
            logger.exception("plugin `%s` failed to initialize", self.plugin_id)
            raise RpcError(ErrorCode.PLUGIN_BROKEN, exception_summary(error)) from error
        self.plugin = plugin
        subscribed = (params.get("orchestration") or {}).get("events")
        return initialize_result(plugin, self.plugin_id, subscribed if isinstance(subscribed, list) else [])

    def _register_prompts(self, plugin: BasePlugin) -> None:
        """The original's `register_prompts(registry)` step: once, before `initialize()`; a
        failure is logged and the plugin starts anyway, as there."""
        try:
            plugin.register_prompts(get_prompt_registry())
        except Exception:
            logger.exception("plugin `%s` failed to register its prompts", self.plugin_id)

    def _load_class(self) -> type:
        if self._plugin_class is None:
            try:
                self._plugin_class = load_plugin_class(self.plugin_id, self.plugins_dir)
            except PluginLoadError as error:
                logger.error("cannot load plugin `%s`: %s", self.plugin_id, error)
                raise RpcError(ErrorCode.PLUGIN_BROKEN, str(error)) from error
            except Exception as error:
                logger.exception("cannot import plugin `%s` from %s", self.plugin_id, self.plugins_dir)
                message = f"cannot import plugin `{self.plugin_id}` from {self.plugins_dir}: {exception_summary(error)}"
                raise RpcError(ErrorCode.PLUGIN_BROKEN, message) from error
        return self._plugin_class

    async def handle_event(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """Runs the handler for the event with the event's context_id current, and reports what
        it returned together with the metadata as the handler left it."""
        plugin = self._initialized_plugin()
        try:
            context = context_from_handle_event(params)
        except (KeyError, TypeError, ValueError) as error:
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{Method.HANDLE_EVENT}: {exception_summary(error)}") from error
        handler = getattr(plugin, HANDLER_FOR_EVENT[context.event])
        token = host.current_context_id.set(context.services.context_id)
        event_token = host.current_event.set(context)
        try:
            outcome = await _settle(handler(context))
        except Exception as error:
            logger.exception("plugin `%s` failed on %s", self.plugin_id, context.event)
            raise handler_failure(error) from error
        finally:
            host.current_event.reset(event_token)
            host.current_context_id.reset(token)
        try:
            return handle_event_result(outcome, context.metadata)
        except TypeError as error:
            raise RpcError(ErrorCode.HANDLER_FAILED, str(error)) from error

    async def health_check(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """The plugin's own report; a check that raises reports not ok, with the reason."""
        plugin = self._initialized_plugin()
        try:
            report = await _settle(plugin.health_check())
        except Exception as error:
            logger.exception("health check of plugin `%s` raised", self.plugin_id)
            return {"ok": False, "message": exception_summary(error)}
        return health_report(report)

    async def cleanup(self, params: Dict[str, Any]) -> None:
        """Lets the plugin release its resources; a failure is only logged, as the original did."""
        if self.plugin is None:
            return
        try:
            await _settle(self.plugin.cleanup())
        except Exception:
            logger.exception("cleanup of plugin `%s` raised", self.plugin_id)

    def _initialized_plugin(self) -> BasePlugin:
        if self.plugin is None:
            raise RpcError(ErrorCode.INVALID_REQUEST, f"plugin `{self.plugin_id}` is not initialized")
        return self.plugin


def _check_interaction_modes(plugin: BasePlugin, plugin_id: str) -> None:
    """The original's voice interaction modes have no counterpart here: a plugin that is nothing
    but interaction modes is refused, one that also handles events is warned about."""
    modes = getattr(plugin, "INTERACTION_MODES", ()) or ()
    if not modes:
        return
    names = ", ".join(str(getattr(mode, "mode_id", mode)) for mode in modes)
    if not handled_events(type(plugin)):
        raise NotImplementedError(
            f"interaction modes ({names}): this host does not run the Python original's voice "
            "interaction modes, so on_interaction_start/turn/end would never be called"
        )
    logger.warning(
        "plugin `%s` declares interaction modes (%s), which this host does not run; "
        "only its event handlers will be called", plugin_id, names,
    )


async def _settle(value: Any) -> Any:
    """The value a plugin method produced: awaited when it is `async def`, as is when plain."""
    return await value if inspect.isawaitable(value) else value


async def serve(plugin_id: str, plugins_dir: Path, protocol_in: BinaryIO, protocol_out: BinaryIO) -> None:
    """Serves the plugin over the protocol pipes until the host closes them."""
    runner = PluginRunner(plugin_id, plugins_dir)
    reader = ThreadedLineReader(protocol_in)
    connection = Connection(reader.read_line, line_writer(protocol_out), runner.serve_request)
    # Synchronous service calls from the event loop's thread get their answers from the reader.
    reader.intercept = connection.take_blocking_answer
    connection.answers_blocking_calls = True
    host.attach(connection, plugin_id)
    await connection.run()
