"""
Todo Extractor Plugin - Extracts action items from conversations.
"""
import logging
import re
from datetime import datetime
from typing import Any, Dict, List, Optional

from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult

logger = logging.getLogger(__name__)


class TodoExtractorPlugin(BasePlugin):
    """Extract and save action items from conversations."""

    SUPPORTED_ACCESS_LEVELS = ['conversation']

    def __init__(self, config: Dict[str, Any]):
        super().__init__(config)
        self.todo_patterns = [
            r'I need to (.+)',
            r'I should (.+)',
            r'TODO: (.+)',
            r'reminder to (.+)',
        ]

    async def initialize(self):
        if not self.enabled:
            return

        logger.info("TodoExtractor plugin initialized")

    async def on_conversation_complete(self, context: PluginContext):
        try:
            transcript = context.data.get('transcript', '')
            todos = self._extract_todos(transcript)

            if todos:
                await self._save_todos(context.user_id, todos)

                return PluginResult(
                    success=True,
                    message=f"Extracted {len(todos)} action items",
                    data={'todos': todos}
                )

            return PluginResult(success=True, message="No action items found")

        except Exception as e:
            logger.error(f"Error extracting todos: {e}")
            return PluginResult(success=False, message=str(e))

    def _extract_todos(self, transcript: str) -> List[str]:
        """Extract todo items from transcript."""
        todos = []

        for pattern in self.todo_patterns:
            matches = re.findall(pattern, transcript, re.IGNORECASE)
            todos.extend(matches)

        return list(set(todos))  # Remove duplicates

    async def _save_todos(self, user_id: str, todos: List[str]):
        """Save todos to database or external service."""
        from advanced_omi_backend.database import get_database

        db = get_database()
        for todo in todos:
            await db['todos'].insert_one({
                'user_id': user_id,
                'task': todo,
                'completed': False,
                'created_at': datetime.utcnow()
            })
