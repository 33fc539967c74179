"""`PluginResult`, what a handler returns, and its form on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional


@dataclass
class PluginResult:
    """What a handler did. Returning None instead declines the event (nothing is recorded).

    `success=False` is recorded but lets the chain go on; `should_continue=False` stops it, so
    plugins after this one do not see the event.
    """

    success: bool
    data: Optional[Dict[str, Any]] = None
    message: Optional[str] = None
    should_continue: bool = True


def result_to_wire(result: PluginResult) -> dict:
    """The `result` of a handle_event answer. The host wants an object for `data`, never null."""
    if result.data is not None and not isinstance(result.data, dict):
        raise TypeError(f"PluginResult.data is a {type(result.data).__name__}, expected a dict or None")
    return {
        "success": bool(result.success),
        "message": None if result.message is None else str(result.message),
        "data": result.data if result.data is not None else {},
        "should_continue": bool(result.should_continue),
    }


def result_from_wire(value: Optional[dict]) -> Optional[PluginResult]:
    """Another plugin's result as `call_plugin` returns it (None when the target declined)."""
    if value is None:
        return None
    return PluginResult(
        success=bool(value.get("success")),
        data=value.get("data") or None,
        message=value.get("message"),
        should_continue=bool(value.get("should_continue", True)),
    )
