"""`advanced_omi_backend.plugins`, as the guide imports it; the objects are chronicle_plugin's."""

from chronicle_plugin import (
    BasePlugin,
    PluginConnectivityError,
    PluginContext,
    PluginEvent,
    PluginResult,
    PluginServices,
)

__all__ = [
    "BasePlugin",
    "PluginConnectivityError",
    "PluginContext",
    "PluginEvent",
    "PluginResult",
    "PluginServices",
]
