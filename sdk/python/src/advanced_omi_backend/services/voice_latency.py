"""`advanced_omi_backend.services.voice_latency`: timing the stages of a voice reply.

The original gathered these timings into its voice-latency traces. This host has no such
trace, so each span is logged instead: one DEBUG line per span on the
`advanced_omi_backend.services.voice_latency` logger, which LOG_LEVEL=DEBUG shows in the host's
log.
"""

import logging
import time
from typing import Any, Dict, Optional

logger = logging.getLogger(__name__)


class timing_span:  # noqa: N801 - the original's name, used as `async with timing_span(...)`
    """Measures the block it wraps: `async with timing_span("agent", detail="reply"):` (a plain
    `with` works too). `elapsed_ms` holds the duration once the block is done."""

    def __init__(self, stage: str, detail: Optional[str] = None, **attributes: Any):
        self.stage = stage
        self.detail = detail
        self.attributes: Dict[str, Any] = attributes
        self.elapsed_ms: Optional[float] = None
        self._started = 0.0

    def __enter__(self) -> "timing_span":
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind, error, trace) -> bool:
        self.elapsed_ms = (time.perf_counter() - self._started) * 1000.0
        outcome = "failed" if kind is not None else "done"
        logger.debug(
            "voice latency: %s%s %s in %.1f ms%s",
            self.stage,
            f" ({self.detail})" if self.detail else "",
            outcome,
            self.elapsed_ms,
            f" {self.attributes}" if self.attributes else "",
        )
        return False

    async def __aenter__(self) -> "timing_span":
        return self.__enter__()

    async def __aexit__(self, kind, error, trace) -> bool:
        return self.__exit__(kind, error, trace)


__all__ = ["timing_span"]
