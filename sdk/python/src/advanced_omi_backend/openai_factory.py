"""`advanced_omi_backend.openai_factory`: what plugins import from the original's OpenAI helpers.

Plugins reach the model through `advanced_omi_backend.llm_client.get_llm_client()`; the host
owns the model's connection, so there is no OpenAI client to create here.
"""

# Reasoning models reject a custom temperature; these name prefixes mark them.
_NO_TEMPERATURE_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def model_supports_temperature(model: object) -> bool:
    """Whether a request to `model` may carry `temperature` (not for o-series or gpt-5 models)."""
    name = str(model or "").strip().lower().rsplit("/", 1)[-1]
    return not name.startswith(_NO_TEMPERATURE_PREFIXES)


def create_openai_client(*args: object, **kwargs: object) -> object:
    """The original built OpenAI clients here; plugins of this host use the host's model."""
    raise NotImplementedError(
        "creating OpenAI clients (openai_factory.create_openai_client): the host owns the model "
        "connection; use advanced_omi_backend.llm_client.get_llm_client()"
    )


__all__ = ["create_openai_client", "model_supports_temperature"]
