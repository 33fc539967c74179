"""`from advanced_omi_backend.plugins.events import PluginEvent, ButtonState, ...`."""

from chronicle_plugin.events import ButtonActionType, ButtonState, ConversationCloseReason, PluginEvent

__all__ = ["ButtonActionType", "ButtonState", "ConversationCloseReason", "PluginEvent"]
