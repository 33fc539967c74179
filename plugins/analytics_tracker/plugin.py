"""
Analytics Tracker Plugin - Records conversation and memory statistics (the guide's Example 3).
"""
from datetime import datetime, timezone

from advanced_omi_backend.database import get_database
from advanced_omi_backend.plugins.base import BasePlugin, PluginResult


class AnalyticsTrackerPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ['conversation', 'memory']

    async def on_conversation_complete(self, context):
        duration = context.data.get('duration', 0)
        word_count = len(context.data.get('transcript', '').split())

        await self.track_event('conversation_complete', {
            'user_id': context.user_id,
            'duration': duration,
            'word_count': word_count,
        })

        return PluginResult(success=True)

    async def on_memory_processed(self, context):
        memory_count = context.data.get('memory_count', 0)

        await self.track_event('memory_processed', {
            'user_id': context.user_id,
            'memory_count': memory_count,
        })

        return PluginResult(success=True)

    async def track_event(self, event_name: str, properties: dict):
        """Store one analytics event in this plugin's `analytics` collection.

        The guide calls this method without defining it. Each document is the properties plus
        `event` and `timestamp`, so other plugins can read them with
        `get_database('analytics_tracker')['analytics']`.
        """
        await get_database()['analytics'].insert_one({
            'event': event_name,
            'timestamp': datetime.now(timezone.utc),
            **properties,
        })
