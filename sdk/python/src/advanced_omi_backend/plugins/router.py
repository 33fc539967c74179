"""`advanced_omi_backend.plugins.router`: the original's in-process plugin router.

In this host the router is the host itself: it reads config/plugins.yml, evaluates conditions
and sends each plugin its events over the protocol. `PluginRouter` is here for the plugins that
import it for type hints or constants; its methods belong to the host and raise
NotImplementedError naming the feature. To reach another plugin, use
`context.services.call_plugin(...)`.

The text helpers the original's conditions use are real: `normalize_text_for_wake_word`,
`extract_command_after_wake_word` and `extract_command_around_keyword` behave as the host's
`wake_word` and `keyword_anywhere` conditions do.
"""

import logging
import re
import string
from typing import Any, Dict, List, NamedTuple, Optional

logger = logging.getLogger(__name__)

_PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))
# What may sit between and after the words of a wake word or keyword in the original text.
_GAP = r"[\s,.\-!?;:]*"


def normalize_text_for_wake_word(text: str) -> str:
    """Lower case, ASCII punctuation as spaces, white space collapsed: `"Hey, Hermes!"` →
    `"hey hermes"`. Other punctuation is kept."""
    return re.sub(r"\s+", " ", text.lower().translate(_PUNCTUATION_TO_SPACE)).strip()


def _word_pattern(phrase: str) -> Optional[str]:
    words = normalize_text_for_wake_word(phrase).split()
    return _GAP.join(re.escape(word) for word in words) if words else None


def extract_command_after_wake_word(transcript: str, wake_word: str) -> str:
    """What follows `wake_word` at the start of `transcript`: `("Hey, Hermes, lights off",
    "hey hermes")` → `"lights off"`. When the wake word is not found at the start, the whole
    transcript, stripped (and a warning logged)."""
    words = _word_pattern(wake_word)
    if words is None:
        return transcript.strip()
    found = re.match("^" + words + _GAP, transcript, re.IGNORECASE)
    if found is None:
        logger.warning("wake word %r not found at the start of %r; using the whole transcript", wake_word, transcript)
        return transcript.strip()
    return transcript[found.end():].strip()


def extract_command_around_keyword(transcript: str, keyword: str) -> str:
    """`transcript` without its first `keyword` and the punctuation around it: `("Turn off the
    hall lights, Hermes, please", "hermes")` → `"Turn off the hall lights please"`."""
    words = _word_pattern(keyword)
    if words is None:
        return transcript.strip()
    removed = re.sub(_GAP + words + _GAP, " ", transcript, count=1, flags=re.IGNORECASE).strip()
    return re.sub(r"\s{2,}", " ", removed)


class ConditionResult(NamedTuple):
    """Whether a plugin's condition lets an event through, and the data it adds (`command`)."""

    execute: bool
    extra: Dict[str, Any] = {}


class PluginHealth:
    """A plugin's state as the original's router tracked it; the host reports it here as
    `chronicle plugin list` and the admin API do."""

    REGISTERED = "registered"
    INITIALIZED = "initialized"
    DEGRADED = "degraded"
    FAILED = "failed"

    def __init__(self, plugin_id: str):
        self.plugin_id = plugin_id
        self.status: str = self.REGISTERED
        self.error: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        report: Dict[str, Any] = {"plugin_id": self.plugin_id, "status": self.status}
        if self.error:
            report["error"] = self.error
        return report


def _host_owned(feature: str) -> NotImplementedError:
    return NotImplementedError(
        f"{feature}: the Chronicle host routes plugins itself (config/plugins.yml), so a plugin "
        "cannot drive a PluginRouter; use context.services.call_plugin() to reach another plugin"
    )


class PluginRouter:
    """The original's router, kept for imports. Constructing one works (it holds nothing);
    every routing method raises NotImplementedError naming what it would have done."""

    _EVENT_LOG_KEY = "system:event_log"
    _EVENT_LOG_MAX = 1000

    def __init__(self) -> None:
        self.plugins: Dict[str, Any] = {}
        self.plugin_health: Dict[str, PluginHealth] = {}
        self._plugins_by_event: Dict[str, List[str]] = {}
        self._services: Any = None

    def set_services(self, services: Any) -> None:
        raise _host_owned("attaching services to a router (PluginRouter.set_services)")

    def register_plugin(self, plugin_id: str, plugin: Any) -> None:
        raise _host_owned("registering plugins (PluginRouter.register_plugin)")

    def mark_plugin_initialized(self, plugin_id: str) -> None:
        raise _host_owned("tracking plugin health (PluginRouter.mark_plugin_initialized)")

    def mark_plugin_failed(self, plugin_id: str, error: str) -> None:
        raise _host_owned("tracking plugin health (PluginRouter.mark_plugin_failed)")

    def mark_plugin_degraded(self, plugin_id: str, error: str) -> None:
        raise _host_owned("tracking plugin health (PluginRouter.mark_plugin_degraded)")

    def get_health_summary(self) -> Dict[str, Any]:
        raise _host_owned("the plugin health summary (PluginRouter.get_health_summary)")

    async def dispatch_event(self, event: str, user_id: str, data: Dict, metadata: Optional[Dict] = None,
                             on_plugin_done: Any = None) -> List[Any]:
        raise _host_owned("dispatching events (PluginRouter.dispatch_event)")

    async def check_connectivity(self) -> Dict[str, Dict[str, Any]]:
        raise _host_owned("checking plugin connectivity (PluginRouter.check_connectivity)")

    def get_recent_events(self, limit: int = 50, event_type: Optional[str] = None) -> List[Dict]:
        raise _host_owned("reading the event log (PluginRouter.get_recent_events)")

    def clear_events(self) -> int:
        raise _host_owned("clearing the event log (PluginRouter.clear_events)")

    def get_asr_keywords(self) -> List[str]:
        raise _host_owned("collecting speech-recognition keywords (PluginRouter.get_asr_keywords)")

    async def cleanup_all(self) -> None:
        raise _host_owned("cleaning up plugins (PluginRouter.cleanup_all)")


__all__ = [
    "ConditionResult",
    "PluginHealth",
    "PluginRouter",
    "extract_command_after_wake_word",
    "extract_command_around_keyword",
    "normalize_text_for_wake_word",
]
