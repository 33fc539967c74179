"""`from advanced_omi_backend.models.user import User`: `await User.get(context.user_id)` gives
the event's user (id, email when the event carries it, timezone None)."""

from chronicle_plugin.models import User

__all__ = ["User"]
