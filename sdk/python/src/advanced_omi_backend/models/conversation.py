"""`from advanced_omi_backend.models.conversation import Conversation`.

`await Conversation.find_one(Conversation.conversation_id == context.data["conversation_id"])`
gives the event's conversation, built from the data the host sent with it; wider queries raise
NotImplementedError (see chronicle_plugin.models).
"""

from chronicle_plugin.models import Conversation, Field, Query

__all__ = ["Conversation", "Field", "Query"]
