"""
Recap Assistant plugin for Chronicle.

- conversation.complete: looks the conversation up, asks the language model for a recap
  through the OpenAI-style client, and returns it.
- wake_word.detected: answers the command that followed the wake word; "stop ..." stops what
  the device is playing.
"""

import logging
from typing import Any, Dict, List, Optional

from advanced_omi_backend.llm_client import get_llm_client
from advanced_omi_backend.models.conversation import Conversation
from advanced_omi_backend.plugins.base import BasePlugin, PluginContext, PluginResult
from advanced_omi_backend.prompt_registry import get_prompt_registry
from advanced_omi_backend.utils.logging_utils import mask_dict
from backend.models.user import User
from backend.openai_factory import model_supports_temperature
from backend.plugins import ButtonActionType, PluginRouter
from backend.plugins.events import PluginEvent
from backend.services.voice_latency import timing_span

from .formatting import format_duration, heading

logger = logging.getLogger(__name__)


class RecapAssistantPlugin(BasePlugin):
    """Recaps finished conversations and answers the wake word."""

    SUPPORTED_ACCESS_LEVELS: List[str] = ["conversation", "interaction"]

    name = "Recap Assistant"
    description = "Recaps conversations and answers the wake word"

    def __init__(self, config: Dict[str, Any]):
        super().__init__(config)
        self.sentences = int(config.get("sentences", 2))
        self.router_type = PluginRouter  # only for type hints in the original

    def register_prompts(self, registry) -> None:
        registry.register_default(
            "plugin.recap_assistant.recap",
            template="Recap this conversation for {{user_email}} in {{sentences}} sentences:\n{{transcript}}",
            name="Recap",
            description="A short recap of a finished conversation.",
            category="plugin",
            plugin_id="recap_assistant",
            variables=["user_email", "sentences", "transcript"],
        )

    async def initialize(self):
        logger.info(f"Recap Assistant configured: {mask_dict(self.config)}")

    async def on_conversation_complete(self, context: PluginContext) -> Optional[PluginResult]:
        conversation_id = context.data.get("conversation_id", "unknown")
        conversation = await Conversation.find_one(Conversation.conversation_id == conversation_id)
        if not conversation:
            return PluginResult(success=False, message="Conversation not found")
        if not conversation.transcript:
            return PluginResult(success=False, message="Skipped: Empty transcript")

        user = await User.get(context.user_id)
        prompt = await get_prompt_registry().get_prompt(
            "plugin.recap_assistant.recap",
            user_email=user.email,
            sentences=self.sentences,
            transcript=conversation.transcript,
        )
        llm_client = get_llm_client()
        options = {"temperature": 0.2} if model_supports_temperature(llm_client.model) else {}
        response = llm_client.client.chat.completions.create(
            model=llm_client.model,
            messages=[
                {"role": "system", "content": "You write short recaps."},
                {"role": "user", "content": prompt},
            ],
            max_tokens=150,
            **options,
        )
        recap = response.choices[0].message.content.strip()
        return PluginResult(
            success=True,
            message=heading(conversation.title, conversation.created_at, user.timezone),
            data={
                "recap": recap,
                "summary": conversation.detailed_summary or conversation.summary,
                "duration": format_duration(conversation.audio_total_duration),
                "end_reason": conversation.end_reason,
                "client_id": conversation.client_id,
            },
        )

    async def on_wake_word_detected(self, context: PluginContext) -> Optional[PluginResult]:
        command = (context.data.get("command") or "").strip()
        if not command:
            return PluginResult(success=False, message="I heard the wake word but no command.")
        async with timing_span("agent", detail="recap_assistant"):
            if command.lower().startswith("stop"):
                stopped = await context.services.stop_playback(context.user_id, context.data.get("client_id"))
                return PluginResult(
                    success=stopped,
                    message="Playback stopped",
                    data={"action": ButtonActionType.STOP_PLAYBACK},
                    should_continue=False,
                )
        return PluginResult(
            success=True,
            message=f"Heard: {command}",
            data={"is_wake_event": context.event == PluginEvent.WAKE_WORD_DETECTED, "score": context.data.get("score")},
        )
