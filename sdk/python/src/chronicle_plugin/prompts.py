"""The prompt registry of the Python original: default LLM prompts a plugin registers, by id.

A plugin registers its prompts in `register_prompts(registry)` (the runner calls it once, before
`initialize()`) and reads them back where it calls the model:

    registry.register_default("plugin.todo.extract", template="List the tasks in {{transcript}}")
    prompt = await get_prompt_registry().get_prompt("plugin.todo.extract", transcript=text)

The original could override a default from an external prompt-management service; this host
has none, so a prompt is always the template its plugin registered. The registry lives in the
plugin's process: each plugin sees the prompts it registered itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class RegisteredPrompt:
    """A default prompt: its template and whatever description the plugin gave with it
    (`name`, `description`, `category`, `variables`, ...)."""

    prompt_id: str
    template: str
    metadata: Dict[str, Any] = field(default_factory=dict)


class PromptRegistry:
    """Default prompt templates by id; `{{name}}` placeholders are filled in by `get_prompt`."""

    def __init__(self) -> None:
        self._prompts: Dict[str, RegisteredPrompt] = {}

    def register_default(self, prompt_id: str, template: str, **metadata: Any) -> None:
        """Keeps `template` as the prompt `prompt_id`; registering an id again replaces it."""
        if not isinstance(template, str):
            raise TypeError(f"the template of prompt `{prompt_id}` is a {type(template).__name__}, not text")
        self._prompts[prompt_id] = RegisteredPrompt(prompt_id, template, dict(metadata))

    async def get_prompt(self, prompt_id: str, **variables: Any) -> str:
        """The prompt's text with each `{{name}}` of `variables` replaced by `str(value)`.

        Placeholders without a value are left as they are. An id nobody registered raises
        KeyError naming it.
        """
        return self.render(prompt_id, **variables)

    def render(self, prompt_id: str, **variables: Any) -> str:
        """`get_prompt` for synchronous code."""
        prompt = self._prompts.get(prompt_id)
        if prompt is None:
            known = ", ".join(sorted(self._prompts)) or "none"
            raise KeyError(f"no prompt `{prompt_id}` is registered (registered: {known})")
        if not variables:
            return prompt.template

        def fill(match: "re.Match[str]") -> str:
            name = match.group(1)
            return str(variables[name]) if name in variables else match.group(0)

        return _PLACEHOLDER.sub(fill, prompt.template)

    def get_default(self, prompt_id: str) -> Optional[RegisteredPrompt]:
        """The registered prompt, or None."""
        return self._prompts.get(prompt_id)

    @property
    def prompt_ids(self) -> List[str]:
        """Every registered id, in registration order."""
        return list(self._prompts)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_registry: Optional[PromptRegistry] = None


def get_prompt_registry() -> PromptRegistry:
    """The process's registry, created on first use."""
    global _registry
    if _registry is None:
        _registry = PromptRegistry()
    return _registry
