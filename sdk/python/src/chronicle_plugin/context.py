"""`PluginContext`, what a handler receives, and `Delivery`, which attempt of which event it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .services import PluginServices


@dataclass
class Delivery:
    """Identifies one delivery of an event to this plugin.

    `idempotency_key` stays the same across retries, so a plugin with side effects can tell a
    retry from a new event; `deadline_ms` (milliseconds since the Unix epoch) is when the host
    stops waiting for the answer.
    """

    event_id: str
    plugin_id: str
    attempt: int
    deadline_ms: int
    idempotency_key: str


@dataclass
class PluginContext:
    """One event for a handler.

    `event` is a PluginEvent when the host delivers it (a plain string compares equal).
    `metadata` travels along the chain: what a handler puts in it, the plugins after it see.
    `services` and `delivery` are set by the runner; they stay None in unit tests that build a
    context by hand.
    """

    user_id: str
    event: str
    data: Dict[str, Any]
    metadata: Dict[str, Any] = field(default_factory=dict)
    services: Optional[PluginServices] = None
    delivery: Optional[Delivery] = None
