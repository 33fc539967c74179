"""`from advanced_omi_backend.plugins.services import PluginServices`."""

from chronicle_plugin import PluginServices

__all__ = ["PluginServices"]
