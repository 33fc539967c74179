"""`advanced_omi_backend.plugins`, as the guide and the original's plugins import it; the plugin
types are chronicle_plugin's own objects."""

from chronicle_plugin import (
    BasePlugin,
    PluginConnectivityError,
    PluginContext,
    PluginResult,
    PluginServices,
)
from chronicle_plugin.events import (
    BUTTON_STATE_TO_EVENT,
    ButtonActionType,
    ButtonState,
    ConversationCloseReason,
    PluginEvent,
)

from ..services.interaction_modes.contracts import (
    InteractionContext,
    InteractionModeDefinition,
    InteractionResult,
)
from .router import PluginRouter

__all__ = [
    "BUTTON_STATE_TO_EVENT",
    "BasePlugin",
    "ButtonActionType",
    "ButtonState",
    "ConversationCloseReason",
    "InteractionContext",
    "InteractionModeDefinition",
    "InteractionResult",
    "PluginConnectivityError",
    "PluginContext",
    "PluginEvent",
    "PluginResult",
    "PluginRouter",
    "PluginServices",
]
