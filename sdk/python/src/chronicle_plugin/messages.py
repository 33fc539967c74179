"""Chronicle's messages in SDK terms: the params the host sends, turned into what a plugin
sees, and what a plugin produces, turned into the results the host expects.

Pure functions, so the snapshot tests can check each mapping against the normative examples.
"""

from __future__ import annotations

import inspect
import traceback
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, Iterable, Optional

from .base import BasePlugin, handled_events
from .context import Delivery, PluginContext
from .events import PluginEvent
from .protocol import PROTOCOL_VERSION, SDK_VERSION, ErrorCode, RpcError, exception_summary, to_json_value
from .result import PluginResult, result_to_wire
from .services import PluginServices

ACCESS_LEVELS = ("transcript", "conversation", "memory", "button")
# The events every host of protocol 1.0 knows. The host refuses an initialize answer naming an
# event it does not know, so a handler for a newer one (wake_word.detected) is reported only
# when the host itself subscribed the plugin to it, which shows that it knows the event.
PROTOCOL_1_0_EVENTS = frozenset(
    {
        PluginEvent.TRANSCRIPT_STREAMING,
        PluginEvent.TRANSCRIPT_BATCH,
        PluginEvent.CONVERSATION_COMPLETE,
        PluginEvent.CONVERSATION_STARRED,
        PluginEvent.MEMORY_PROCESSED,
        PluginEvent.BUTTON_SINGLE_PRESS,
        PluginEvent.BUTTON_DOUBLE_PRESS,
        PluginEvent.BUTTON_LONG_PRESS,
        PluginEvent.PLUGIN_ACTION,
    }
)
# Spelled as the interpreter spells the SDK's frames (the same import path), so not resolved.
SDK_PACKAGE_DIR = Path(__file__).parent


def config_from_initialize(params: Dict[str, Any], plugin_id: str) -> Dict[str, Any]:
    """The one config dict the Python original handed a plugin: its settings, overwritten by the
    orchestration keys (`enabled`, `events`, `condition`, `priority`), plus `plugin_id`."""
    return {**(params.get("settings") or {}), **(params.get("orchestration") or {}), "plugin_id": plugin_id}


def initialize_result(plugin: BasePlugin, plugin_id: str, subscribed: Iterable[str] = ()) -> Dict[str, Any]:
    """Who the plugin is: name, description, what it handles and which events it has handlers for.

    `subscribed` is the orchestration's `events`. SUPPORTED_ACCESS_LEVELS only informs: levels
    the host does not know (the original's `interaction`) are left out rather than refused.
    """
    plugin_class = type(plugin)
    levels = [level for level in plugin_class.SUPPORTED_ACCESS_LEVELS if level in ACCESS_LEVELS]
    known = PROTOCOL_1_0_EVENTS | {str(event) for event in subscribed}
    return {
        "protocol_version": PROTOCOL_VERSION,
        "sdk_version": SDK_VERSION,
        "name": str(plugin.name or plugin_id.replace("_", " ").title()),
        "description": str(plugin.description or _docstring_summary(plugin_class)),
        "access_levels": list(dict.fromkeys(levels)),
        "events": [str(event) for event in handled_events(plugin_class) if event in known],
    }


def _docstring_summary(plugin_class: type) -> str:
    """The first paragraph of the class's own docstring, on one line; BasePlugin's is not inherited."""
    docstring = plugin_class.__dict__.get("__doc__")
    if not docstring:
        return ""
    return " ".join(inspect.cleandoc(docstring).split("\n\n")[0].split())


def context_from_handle_event(params: Dict[str, Any]) -> PluginContext:
    """The handler's context; KeyError or ValueError (an unknown event) for malformed params.

    Delivery fields this SDK does not know are skipped: a newer host of the same major version
    may add some.
    """
    delivery = params.get("delivery")
    if delivery is not None:
        delivery = Delivery(**{field.name: delivery[field.name] for field in fields(Delivery)})
    return PluginContext(
        user_id=params["user_id"],
        event=PluginEvent(params["event"]),
        data=params.get("data") or {},
        metadata=params.get("metadata") or {},
        services=PluginServices(params["context_id"]),
        delivery=delivery,
    )


def handle_event_result(outcome: Any, metadata: Dict[str, Any]) -> Dict[str, Any]:
    """The answer to handle_event: the result (null for a decline) and the metadata as left.

    Raises TypeError, with a message for the plugin's author, when the handler returned
    something else or put in the result or metadata something JSON cannot hold.
    """
    if outcome is not None and not isinstance(outcome, PluginResult):
        raise TypeError(f"handler returned {type(outcome).__name__}, expected PluginResult or None")
    result = result_to_wire(outcome) if outcome is not None else None
    try:
        return to_json_value({"result": result, "metadata": metadata})
    except (TypeError, ValueError) as error:
        raise TypeError(f"the handler's result or metadata cannot be sent: {error}") from error


def handler_failure(error: BaseException) -> RpcError:
    """The -32020 answer for a handler that raised, with the traceback from the handler down."""
    trace = "".join(traceback.format_exception(type(error), error, _from_plugin_code(error.__traceback__)))
    return RpcError(ErrorCode.HANDLER_FAILED, exception_summary(error), {"traceback": trace})


def _from_plugin_code(frames: Optional[TracebackType]) -> Optional[TracebackType]:
    """The traceback without the SDK's outer frames (the runner calling the handler), which
    only hide the plugin's; all of it if every frame is the SDK's."""
    first = frames
    while first is not None and Path(first.tb_frame.f_code.co_filename).parent == SDK_PACKAGE_DIR:
        first = first.tb_next
    return first or frames


def health_report(report: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """`health_check()`'s dict in the shape the host reads: `ok`, `message`, `latency_ms`?"""
    report = report or {}
    answer: Dict[str, Any] = {"ok": bool(report.get("ok")), "message": str(report.get("message", ""))}
    if isinstance(report.get("latency_ms"), (int, float)):
        answer["latency_ms"] = report["latency_ms"]
    return answer
