"""`from plugins.base import PluginContext`, as the guide's unit-test example writes it."""

from chronicle_plugin import BasePlugin, PluginConnectivityError, PluginContext, PluginResult

__all__ = ["BasePlugin", "PluginConnectivityError", "PluginContext", "PluginResult"]
