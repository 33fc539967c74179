"""`advanced_omi_backend.prompt_registry`: the plugin's default prompts by id.

`register_prompts(registry)` fills it before `initialize()`; `await get_prompt_registry().
get_prompt(prompt_id, **variables)` gives the registered template with `{{name}}` filled in.
"""

from chronicle_plugin.prompts import PromptRegistry, RegisteredPrompt, get_prompt_registry

__all__ = ["PromptRegistry", "RegisteredPrompt", "get_prompt_registry"]
