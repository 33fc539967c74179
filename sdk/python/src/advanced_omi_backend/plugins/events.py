"""`from advanced_omi_backend.plugins.events import PluginEvent, ButtonState, ...`."""

from chronicle_plugin.events import (
    BUTTON_STATE_TO_EVENT,
    EVENT_DESCRIPTIONS,
    ButtonActionType,
    ButtonState,
    ConversationCloseReason,
    PluginEvent,
)

__all__ = [
    "BUTTON_STATE_TO_EVENT",
    "EVENT_DESCRIPTIONS",
    "ButtonActionType",
    "ButtonState",
    "ConversationCloseReason",
    "PluginEvent",
]
