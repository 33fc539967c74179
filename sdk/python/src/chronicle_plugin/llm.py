"""The language model the host is configured with (permission `llm`), in the shapes the Python
original's plugins call it:

- `await async_generate(prompt)`: the text for one prompt;
- `get_llm_client()`: a client with `generate(prompt)`, `await async_generate(prompt)` and an
  OpenAI-style `client.chat.completions.create(messages=[...])`, whose answer reads as
  `response.choices[0].message.content`;
- `await async_chat_with_tools(messages)`.

Every call is one `llm.generate` request with one prompt: chat messages are joined into that
prompt (system messages first, as instructions). The host applies its own model settings, so
`model`, `temperature`, `max_tokens` and the like are accepted and ignored. Tool calling is a
feature this host's model service does not offer; asking for it raises NotImplementedError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

from .host import call_host, call_host_blocking, current_context_id
from .protocol import Method

# What `LLMClient.model` says: the host picks the model, the plugin cannot.
HOST_MODEL = "chronicle-host-default"


async def async_generate(prompt: str, **options: Any) -> str:
    """Generates text for `prompt` (permission `llm`).

    `options` such as `temperature`, `model` or `operation`, which the Python original accepted,
    are taken and ignored so those calls keep working: the host applies its own model settings.
    """
    return str(await call_host(Method.LLM_GENERATE, {"prompt": prompt}, current_context_id.get()))


def generate(prompt: str, *, timeout: Optional[float] = None) -> str:
    """`async_generate` for synchronous code; see `chronicle_plugin.host.call_host_blocking`."""
    answer = call_host_blocking(Method.LLM_GENERATE, {"prompt": prompt}, current_context_id.get(), timeout)
    return str(answer)


def prompt_from_messages(messages: Iterable[Dict[str, Any]]) -> str:
    """One prompt for the host's model from OpenAI-style chat `messages`.

    System messages become the instructions at the top. A lone user message follows as it is;
    a longer exchange follows as `User: ...` / `Assistant: ...` turns, in order.
    """
    instructions: List[str] = []
    turns: List[tuple] = []
    for message in messages:
        role = str(message.get("role", "user"))
        text = _message_text(message.get("content"))
        if role in ("system", "developer"):
            instructions.append(text)
        else:
            turns.append((role, text))
    if len(turns) == 1 and turns[0][0] == "user":
        dialogue = [turns[0][1]]
    else:
        dialogue = [f"{role.capitalize()}: {text}" for role, text in turns]
    return "\n\n".join(part for part in instructions + dialogue if part)


def _message_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise NotImplementedError(
                    f"`{kind}` message parts (images, audio, files): the host's language model "
                    "takes text only"
                )
        return "\n".join(texts)
    return str(content)


def _refuse_tools(tools: Any) -> None:
    if tools:
        raise NotImplementedError(
            "LLM tool calling (`tools=`): the host's language model service returns text only"
        )


@dataclass
class ChatMessage:
    """The model's reply, as `response.choices[0].message`."""

    content: str
    role: str = "assistant"
    tool_calls: Optional[list] = None


@dataclass
class ChatChoice:
    """One choice of a ChatCompletion; the host always gives exactly one."""

    message: ChatMessage
    index: int = 0
    finish_reason: str = "stop"


@dataclass
class ChatCompletion:
    """The answer of `chat.completions.create`, shaped like the OpenAI client's."""

    choices: List[ChatChoice]
    model: str = HOST_MODEL
    usage: Optional[dict] = None
    object: str = "chat.completion"


def _completion(text: str) -> ChatCompletion:
    return ChatCompletion(choices=[ChatChoice(message=ChatMessage(content=text))])


class _Completions:
    def create(self, *, messages: List[Dict[str, Any]], tools: Any = None, timeout: Optional[float] = None,
               **options: Any) -> ChatCompletion:
        """One chat completion; `model`, `temperature`, `max_tokens` and the like are ignored."""
        _refuse_tools(tools)
        return _completion(generate(prompt_from_messages(messages), timeout=timeout))


class _AsyncCompletions:
    async def create(self, *, messages: List[Dict[str, Any]], tools: Any = None, **options: Any) -> ChatCompletion:
        """One chat completion, awaited."""
        _refuse_tools(tools)
        return _completion(await async_generate(prompt_from_messages(messages)))


@dataclass
class _Chat:
    completions: Any


@dataclass
class ChatClient:
    """The OpenAI-style object at `LLMClient.client` (and `LLMClient.async_client`)."""

    chat: _Chat


@dataclass
class LLMClient:
    """The Python original's LLM client, over the host's `llm.generate`.

    `generate` and `client.chat.completions.create` are synchronous, as the original's were:
    called in a worker thread they wait for the host; called straight from an `async def`
    handler they hold the plugin's event loop until the answer comes, just as the original's
    blocking HTTP call did. Prefer `await async_generate(...)` in new code.
    """

    model: str = HOST_MODEL
    temperature: float = 0.1
    client: ChatClient = field(default_factory=lambda: ChatClient(_Chat(_Completions())))
    async_client: ChatClient = field(default_factory=lambda: ChatClient(_Chat(_AsyncCompletions())))

    def generate(self, prompt: str, model: Optional[str] = None, temperature: Optional[float] = None) -> str:
        """The text for `prompt`, stripped, as the original returned it."""
        return generate(prompt).strip()

    async def async_generate(self, prompt: str, model: Optional[str] = None,
                             temperature: Optional[float] = None, **options: Any) -> str:
        """`generate`, awaited."""
        return (await async_generate(prompt)).strip()

    def chat_with_tools(self, messages: List[Dict[str, Any]], tools: Any = None, model: Optional[str] = None,
                        temperature: Optional[float] = None) -> ChatCompletion:
        """A chat completion; raises NotImplementedError when `tools` are given."""
        return self.client.chat.completions.create(messages=messages, tools=tools)

    def health_check(self) -> Dict[str, Any]:
        """What the original reported; this client has nothing of its own to check."""
        return {"status": "host language model", "default_model": self.model}

    def get_default_model(self) -> str:
        return self.model


_client: Optional[LLMClient] = None


def get_llm_client() -> LLMClient:
    """The process's LLM client. Calls fail with ServiceError when the plugin lacks the `llm`
    permission or the host has no model configured."""
    global _client
    if _client is None:
        _client = LLMClient()
    return _client


def reset_llm_client() -> None:
    """Forgets the client, as the original's tests did between cases."""
    global _client
    _client = None


async def async_chat_with_tools(messages: List[Dict[str, Any]], tools: Any = None, model: Optional[str] = None,
                                temperature: Optional[float] = None, operation: Optional[str] = None,
                                **options: Any) -> ChatCompletion:
    """A chat completion over the host's model; with `tools`, NotImplementedError (this host's
    model service has no tool calling)."""
    return await get_llm_client().async_client.chat.completions.create(messages=messages, tools=tools)
