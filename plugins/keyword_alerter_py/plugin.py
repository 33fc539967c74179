"""
Keyword Alerter Plugin - Alerts when a configured keyword is said (the guide's Example 2).
"""
import logging

from advanced_omi_backend.plugins.base import BasePlugin, PluginResult

logger = logging.getLogger(__name__)


class KeywordAlerterPlugin(BasePlugin):
    SUPPORTED_ACCESS_LEVELS = ['transcript']

    async def on_transcript(self, context):
        transcript = context.data.get('transcript', '')
        keywords = self.config.get('keywords', [])

        for keyword in keywords:
            if keyword.lower() in transcript.lower():
                await self.send_alert(keyword, transcript)
                return PluginResult(
                    success=True,
                    message=f"Alert sent for keyword: {keyword}"
                )

        return PluginResult(success=True)

    async def send_alert(self, keyword: str, transcript: str):
        """Send the alert: to the log, at WARNING, which the host forwards tagged with this plugin's id.

        The guide calls this method without defining it; replace the body to alert elsewhere.
        """
        logger.warning(f"Keyword alert: '{keyword}' in: {transcript}")
