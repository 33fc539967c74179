"""The event names and the button and conversation vocabularies, as the Python original named them.

The enums are `str` subclasses, so `context.event == PluginEvent.BUTTON_SINGLE_PRESS` and
`context.event == "button.single_press"` are both true, and values go onto the wire unchanged.
"""

from enum import StrEnum
from typing import Dict


class PluginEvent(StrEnum):
    """The events a plugin can subscribe to in config/plugins.yml.

    Each member also carries `description`, one line saying when it fires (the Python
    original's members carry one too, for its plugin UI).
    """

    def __new__(cls, value: str, description: str = ""):
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    TRANSCRIPT_STREAMING = (
        "transcript.streaming",
        "A final segment of live speech arrived while a conversation is being recorded",
    )
    TRANSCRIPT_BATCH = (
        "transcript.batch",
        "A whole recording was transcribed at once (an upload, or audio kept for batch mode)",
    )
    CONVERSATION_COMPLETE = (
        "conversation.complete",
        "A conversation finished processing; its transcript, memories, title and summary are ready",
    )
    CONVERSATION_STARRED = ("conversation.starred", "A conversation was starred or unstarred")
    MEMORY_PROCESSED = ("memory.processed", "Memories were drawn from a conversation and stored")
    BUTTON_SINGLE_PRESS = ("button.single_press", "The device button was pressed once")
    BUTTON_DOUBLE_PRESS = ("button.double_press", "The device button was pressed twice in a row")
    BUTTON_LONG_PRESS = ("button.long_press", "The device button was held down")
    PLUGIN_ACTION = ("plugin_action", "Another plugin called this one with services.call_plugin()")
    # The spoken wake word: `on_wake_word_detected`. Data: `command` (what followed the word),
    # `transcript` (the same), `wakeword`, `score` (or null), `source`, `asr_status`,
    # `session_id`, `client_id`, `conversation_id` (or null).
    WAKE_WORD_DETECTED = (
        "wake_word.detected",
        "The spoken wake word was heard; the words after it arrive as data.command",
    )


# The Python original's first releases kept the descriptions in a dict beside the enum.
EVENT_DESCRIPTIONS: Dict[str, str] = {event: event.description for event in PluginEvent}


class ButtonState(StrEnum):
    """The `state` of a button event's data; devices have sent both the PRESS and TAP spellings."""

    SINGLE_PRESS = "SINGLE_PRESS"
    DOUBLE_PRESS = "DOUBLE_PRESS"
    LONG_PRESS = "LONG_PRESS"
    SINGLE_TAP = "SINGLE_TAP"
    DOUBLE_TAP = "DOUBLE_TAP"


# Which event the host dispatches for each button state. The Python original had no event for
# a long press; this host sends button.long_press.
BUTTON_STATE_TO_EVENT: Dict[ButtonState, PluginEvent] = {
    ButtonState.SINGLE_PRESS: PluginEvent.BUTTON_SINGLE_PRESS,
    ButtonState.SINGLE_TAP: PluginEvent.BUTTON_SINGLE_PRESS,
    ButtonState.DOUBLE_PRESS: PluginEvent.BUTTON_DOUBLE_PRESS,
    ButtonState.DOUBLE_TAP: PluginEvent.BUTTON_DOUBLE_PRESS,
    ButtonState.LONG_PRESS: PluginEvent.BUTTON_LONG_PRESS,
}


class ButtonActionType(StrEnum):
    """What a configured button press does (the `type` of an action in button_control's and
    test_button_actions' config.yml)."""

    CLOSE_CONVERSATION = "close_conversation"
    STAR_CONVERSATION = "star_conversation"
    CALL_PLUGIN = "call_plugin"
    STOP_PLAYBACK = "stop_playback"


class ConversationCloseReason(StrEnum):
    """Why a conversation was closed; `PluginServices.close_conversation` sends it to the host."""

    USER_REQUESTED = "user_requested"
    PLUGIN_REQUESTED = "plugin_requested"
    BUTTON_CLOSE = "button_close"
