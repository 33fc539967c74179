"""`from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult`."""

from chronicle_plugin import BasePlugin, PluginConnectivityError, PluginContext, PluginResult

__all__ = ["BasePlugin", "PluginConnectivityError", "PluginContext", "PluginResult"]
