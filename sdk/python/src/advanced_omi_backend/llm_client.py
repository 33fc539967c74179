"""`advanced_omi_backend.llm_client`: the host's language model (permission `llm`).

`async_generate(prompt)`, `get_llm_client()` (whose `generate`, `async_generate` and OpenAI-style
`client.chat.completions.create` go to the host's `llm.generate`) and `async_chat_with_tools`,
which raises NotImplementedError when given tools.
"""

from chronicle_plugin.llm import (
    ChatCompletion,
    LLMClient,
    async_chat_with_tools,
    async_generate,
    get_llm_client,
    reset_llm_client,
)

__all__ = [
    "ChatCompletion",
    "LLMClient",
    "async_chat_with_tools",
    "async_generate",
    "get_llm_client",
    "reset_llm_client",
]
