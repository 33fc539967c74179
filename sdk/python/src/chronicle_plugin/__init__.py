"""chronicle-plugin: the Python SDK for Chronicle plugins.

A plugin subclasses BasePlugin and overrides the handlers for its events; the host runs it in
its own process with `python3 -m chronicle_plugin` and talks to it over the wire protocol in
docs/plugin-protocol.md. The guide's imports (`advanced_omi_backend.plugins.base` and friends)
lead to these same objects.
"""

from .base import BasePlugin
from .context import Delivery, PluginContext
from .database import get_database
from .errors import PluginConnectivityError, ServiceError
from .events import ButtonActionType, ButtonState, ConversationCloseReason, PluginEvent
from .llm import async_generate
from .protocol import PROTOCOL_VERSION
from .protocol import SDK_RELEASE as __version__
from .result import PluginResult
from .services import PluginServices

__all__ = [
    "BasePlugin",
    "ButtonActionType",
    "ButtonState",
    "ConversationCloseReason",
    "Delivery",
    "PROTOCOL_VERSION",
    "PluginConnectivityError",
    "PluginContext",
    "PluginEvent",
    "PluginResult",
    "PluginServices",
    "ServiceError",
    "__version__",
    "async_generate",
    "get_database",
]
