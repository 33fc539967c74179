"""`advanced_omi_backend.services.dialogue.capture`: handing a wake-word command to the original's
shared dialogue tasks, which this host does not have."""

from typing import Any


async def from_plugin(context: Any, owner: str, *args: Any, **kwargs: Any) -> Any:
    """Would admit a multi-turn dialogue task owned by `owner`; raises NotImplementedError."""
    raise NotImplementedError(
        f"dialogue capture (services.dialogue.capture.from_plugin, owner `{owner}`): this host "
        "has no shared multi-turn voice tasks; answer the event with a PluginResult instead"
    )


__all__ = ["from_plugin"]
