"""
Recap Assistant plugin.

Recaps a finished conversation with the language model and answers the spoken wake word,
written the way the Python original's plugins are.
"""

from .plugin import RecapAssistantPlugin

__all__ = ["RecapAssistantPlugin"]
