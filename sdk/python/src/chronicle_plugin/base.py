"""`BasePlugin`, the class every plugin subclasses, and which handler serves which event."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from .context import PluginContext
from .events import PluginEvent
from .result import PluginResult

logger = logging.getLogger(__name__)

HANDLER_FOR_EVENT: Dict[PluginEvent, str] = {
    PluginEvent.TRANSCRIPT_STREAMING: "on_transcript",
    PluginEvent.TRANSCRIPT_BATCH: "on_transcript",
    PluginEvent.CONVERSATION_COMPLETE: "on_conversation_complete",
    PluginEvent.CONVERSATION_STARRED: "on_conversation_starred",
    PluginEvent.MEMORY_PROCESSED: "on_memory_processed",
    PluginEvent.BUTTON_SINGLE_PRESS: "on_button_event",
    PluginEvent.BUTTON_DOUBLE_PRESS: "on_button_event",
    PluginEvent.BUTTON_LONG_PRESS: "on_button_event",
    PluginEvent.PLUGIN_ACTION: "on_plugin_action",
    PluginEvent.WAKE_WORD_DETECTED: "on_wake_word_detected",
}


class BasePlugin:
    """Subclass this and override the handlers for the events the plugin cares about.

    Handlers may be `async def` or plain `def`; each returns a PluginResult, or None to decline.
    `initialize()` is optional (the guide's shorter examples leave it out); raise from it to
    refuse to start: PluginConnectivityError when a dependency is unreachable (the host retries
    later), anything else when the configuration cannot work.
    """

    # Which kinds of event the plugin can handle: transcript, conversation, memory, button.
    SUPPORTED_ACCESS_LEVELS: List[str] = []
    # Shown in `chronicle plugin list`; the name defaults to the id in title case
    # (`todo_extractor` → "Todo Extractor"), the description to the class docstring.
    name: Optional[str] = None
    description: Optional[str] = None
    # The Python original's voice interaction modes (InteractionModeDefinition). This host has
    # no interaction modes: a plugin that declares some is warned about, or refused when it has
    # no event handler either, so its `on_interaction_*` methods are never silently unused.
    INTERACTION_MODES: Tuple[Any, ...] = ()

    def __init__(self, config: Dict[str, Any]):
        """Keeps `config`: the plugin's settings plus `enabled`, `events`, `condition`,
        `priority` and `plugin_id`, merged by the host.

        The deprecated spellings `subscriptions` and `trigger` are still read, with a warning,
        so plugins unit-tested with the Python original's configs keep working.
        """
        self.config = config
        self.enabled = config.get("enabled", False)
        self.events = config.get("events") or _deprecated(config, "subscriptions", "events", [])
        self.condition = config.get("condition") or _deprecated(
            config, "trigger", "condition", {"type": "always"}
        )
        self.priority = config.get("priority", 100)
        if "access_level" in config:
            logger.warning("`access_level` is deprecated and ignored; declare SUPPORTED_ACCESS_LEVELS")

    async def initialize(self) -> None:
        """Connects to what the plugin needs; called once before any event."""

    async def cleanup(self) -> None:
        """Releases what `initialize()` acquired; called before the process exits."""

    async def health_check(self) -> Dict[str, Any]:
        """Whether the plugin's dependencies are reachable: `{"ok", "message", "latency_ms"?}`."""
        return {"ok": True, "message": "No external service to check"}

    def register_prompts(self, registry: Any) -> None:
        """Registers the plugin's default LLM prompts: `registry.register_default(prompt_id,
        template=...)`, read back with `await get_prompt_registry().get_prompt(prompt_id, ...)`.

        Called once after the plugin is constructed and before `initialize()`; an exception
        here is logged and does not stop the plugin, as in the Python original.
        """

    async def on_transcript(self, context: PluginContext) -> Optional[PluginResult]:
        """transcript.streaming and transcript.batch."""
        return None

    async def on_conversation_complete(self, context: PluginContext) -> Optional[PluginResult]:
        """conversation.complete."""
        return None

    async def on_memory_processed(self, context: PluginContext) -> Optional[PluginResult]:
        """memory.processed."""
        return None

    async def on_conversation_starred(self, context: PluginContext) -> Optional[PluginResult]:
        """conversation.starred."""
        return None

    async def on_button_event(self, context: PluginContext) -> Optional[PluginResult]:
        """button.single_press, button.double_press and button.long_press."""
        return None

    async def on_plugin_action(self, context: PluginContext) -> Optional[PluginResult]:
        """plugin_action: another plugin's `context.services.call_plugin(...)`."""
        return None

    async def on_wake_word_detected(self, context: PluginContext) -> Optional[PluginResult]:
        """wake_word.detected: the spoken wake word was heard; `data["command"]` is what followed."""
        return None


def _deprecated(config: Dict[str, Any], old: str, new: str, default: Any) -> Any:
    if old not in config:
        return default
    logger.warning("`%s` is deprecated; use `%s`", old, new)
    return config[old] or default


def handled_events(plugin_class: type) -> List[PluginEvent]:
    """The events whose handler `plugin_class` overrides, in PluginEvent order."""
    return [
        event
        for event, handler in HANDLER_FOR_EVENT.items()
        if getattr(plugin_class, handler) is not getattr(BasePlugin, handler)
    ]
