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
from .events import BUTTON_STATE_TO_EVENT, ButtonActionType, ButtonState, ConversationCloseReason, PluginEvent
from .llm import LLMClient, async_chat_with_tools, async_generate, get_llm_client
from .models import Conversation, User
from .prompts import PromptRegistry, get_prompt_registry
from .protocol import PROTOCOL_VERSION
from .protocol import SDK_RELEASE as __version__
from .result import PluginResult
from .search import SearchHit, SearchResult, TimeFilter
from .services import PluginServices

__all__ = [
    "BUTTON_STATE_TO_EVENT",
    "BasePlugin",
    "ButtonActionType",
    "ButtonState",
    "Conversation",
    "ConversationCloseReason",
    "Delivery",
    "LLMClient",
    "PROTOCOL_VERSION",
    "PluginConnectivityError",
    "PluginContext",
    "PluginEvent",
    "PluginResult",
    "PluginServices",
    "PromptRegistry",
    "SearchHit",
    "SearchResult",
    "ServiceError",
    "TimeFilter",
    "User",
    "__version__",
    "async_chat_with_tools",
    "async_generate",
    "get_database",
    "get_llm_client",
    "get_prompt_registry",
]
