"""The event names and the button and conversation vocabularies, as the Python original named them.

The enums are `str` subclasses, so `context.event == PluginEvent.BUTTON_SINGLE_PRESS` and
`context.event == "button.single_press"` are both true, and values go onto the wire unchanged.
"""

from enum import StrEnum


class PluginEvent(StrEnum):
    """The nine events a plugin can subscribe to in config/plugins.yml."""

    TRANSCRIPT_STREAMING = "transcript.streaming"
    TRANSCRIPT_BATCH = "transcript.batch"
    CONVERSATION_COMPLETE = "conversation.complete"
    CONVERSATION_STARRED = "conversation.starred"
    MEMORY_PROCESSED = "memory.processed"
    BUTTON_SINGLE_PRESS = "button.single_press"
    BUTTON_DOUBLE_PRESS = "button.double_press"
    BUTTON_LONG_PRESS = "button.long_press"
    PLUGIN_ACTION = "plugin_action"


class ButtonState(StrEnum):
    """The `state` of a button event's data; devices have sent both the PRESS and TAP spellings."""

    SINGLE_PRESS = "SINGLE_PRESS"
    DOUBLE_PRESS = "DOUBLE_PRESS"
    LONG_PRESS = "LONG_PRESS"
    SINGLE_TAP = "SINGLE_TAP"
    DOUBLE_TAP = "DOUBLE_TAP"


class ButtonActionType(StrEnum):
    """What a configured button press does (the `type` of an action in test_button_actions)."""

    CLOSE_CONVERSATION = "close_conversation"
    STAR_CONVERSATION = "star_conversation"
    CALL_PLUGIN = "call_plugin"


class ConversationCloseReason(StrEnum):
    """Why a conversation was closed; `PluginServices.close_conversation` sends it to the host."""

    USER_REQUESTED = "user_requested"
    PLUGIN_REQUESTED = "plugin_requested"
    BUTTON_CLOSE = "button_close"
