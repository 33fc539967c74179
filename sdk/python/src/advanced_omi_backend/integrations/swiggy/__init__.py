"""`advanced_omi_backend.integrations.swiggy`: the original's Swiggy (Instamart) client.

The original talked to Swiggy's MCP servers with OAuth tokens it kept on disk. This host has no
Swiggy integration: the names import, the error types and `Server` are real, and everything
that would reach Swiggy raises NotImplementedError naming the integration.
"""

from enum import StrEnum
from typing import Any, Optional

BASE_URL = "https://mcp.swiggy.com"
_FEATURE = "the Swiggy integration (integrations.swiggy)"


def _unavailable(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{_FEATURE}: {what} is not available in this host; the Swiggy MCP client and its OAuth "
        "token store are not part of Chronicle-in-Rust"
    )


class Server(StrEnum):
    """Swiggy's MCP servers."""

    FOOD = "food"
    INSTAMART = "im"
    DINEOUT = "dineout"

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.value}"


class SwiggyError(Exception):
    """A Swiggy call that failed; `bucket` classifies why, when known."""

    def __init__(self, message: str = "", bucket: Optional[Any] = None):
        super().__init__(message)
        self.message = message
        self.bucket = bucket

    @property
    def retryable(self) -> bool:
        return False


class SwiggyAuthError(SwiggyError):
    """Swiggy refused the stored OAuth tokens."""


class ToolResult:
    """What a Swiggy tool call returned: its text and, when it was JSON, the parsed `data`."""

    def __init__(self, text: str, data: Any = None):
        self.text = text
        self.data = data


class FileTokenStore:
    """The original's OAuth token files (`tokens.json`, `client.json`) in a folder."""

    def __init__(self, directory: Any, *args: Any, **kwargs: Any):
        raise _unavailable("FileTokenStore")


class SwiggyClient:
    """The original's Swiggy MCP client."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise _unavailable("SwiggyClient")


async def search_products(*args: Any, **kwargs: Any) -> Any:
    """The original's Instamart product search."""
    raise _unavailable("search_products")


__all__ = [
    "BASE_URL",
    "FileTokenStore",
    "Server",
    "SwiggyAuthError",
    "SwiggyClient",
    "SwiggyError",
    "ToolResult",
    "search_products",
]
