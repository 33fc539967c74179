"""`advanced_omi_backend.models`: the documents the original's plugins read, built from the event."""

from chronicle_plugin.models import Conversation, User

__all__ = ["Conversation", "User"]
