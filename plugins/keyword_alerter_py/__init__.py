"""The guide's "Example 2: Keyword Alerter", run by the Python SDK."""

from .plugin import KeywordAlerterPlugin

__all__ = ["KeywordAlerterPlugin"]
