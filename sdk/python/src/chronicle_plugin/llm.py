"""`async_generate()`: text from the language model the host is configured with."""

from __future__ import annotations

from typing import Any

from .host import call_host, current_context_id
from .protocol import Method


async def async_generate(prompt: str, **options: Any) -> str:
    """Generates text for `prompt` (permission `llm`).

    `options` such as `temperature` or `model`, which the Python original accepted, are taken
    and ignored so those calls keep working: the host applies its own model settings.
    """
    return str(await call_host(Method.LLM_GENERATE, {"prompt": prompt}, current_context_id.get()))
