"""`advanced_omi_backend.services.interaction_modes`: the data types of the original's voice
interaction modes.

This host does not run interaction modes (a plugin made only of them is refused at
initialize); the types are here so such plugins import, and `normalize_interaction_text` is the
original's text normaliser.
"""

from .contracts import (
    AudioInterval,
    InteractionContext,
    InteractionInput,
    InteractionModeDefinition,
    InteractionResult,
    InteractionSession,
)
from .registry import normalize_interaction_text

__all__ = [
    "AudioInterval",
    "InteractionContext",
    "InteractionInput",
    "InteractionModeDefinition",
    "InteractionResult",
    "InteractionSession",
    "normalize_interaction_text",
]
