"""`from advanced_omi_backend.database import get_database`: the plugin's document store."""

from chronicle_plugin import get_database

__all__ = ["get_database"]
