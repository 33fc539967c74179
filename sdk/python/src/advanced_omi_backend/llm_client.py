"""`from advanced_omi_backend.llm_client import async_generate`: the host's language model."""

from chronicle_plugin import async_generate

__all__ = ["async_generate"]
