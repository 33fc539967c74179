"""The guide's "Creating Your First Plugin" example, run by the Python SDK."""

from .plugin import TodoExtractorPlugin

__all__ = ["TodoExtractorPlugin"]
