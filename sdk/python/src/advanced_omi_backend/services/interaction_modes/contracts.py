"""The records of the original's voice interaction modes, field for field, so plugins written
for them import and build them. This host never hands them to a plugin."""

from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple


@dataclass(frozen=True)
class AudioInterval:
    """A stretch of one capture session's audio, in that session's milliseconds."""

    audio_session_id: str
    capture_epoch: int
    start_ms: float
    end_ms: float
    voice_session_id: Optional[str] = None
    turn_id: Optional[str] = None
    turn_revision: int = 0

    def __post_init__(self) -> None:
        if not self.audio_session_id:
            raise ValueError("an audio interval needs its audio_session_id")
        if self.capture_epoch < 0 or self.turn_revision < 0:
            raise ValueError("capture_epoch and turn_revision cannot be negative")
        if self.start_ms < 0 or self.end_ms <= self.start_ms:
            raise ValueError("an audio interval must start at 0 or later and end after it starts")


@dataclass(frozen=True)
class InteractionModeDefinition:
    """A mode a plugin owns (`INTERACTION_MODES`) and the phrases that start it."""

    mode_id: str
    activation_phrases: Tuple[str, ...]
    idle_timeout_seconds: int = 10 * 60
    max_duration_seconds: int = 30 * 60

    def __post_init__(self) -> None:
        if not str(self.mode_id).strip():
            raise ValueError("an interaction mode needs a mode_id")
        if not self.activation_phrases:
            raise ValueError(f"interaction mode `{self.mode_id}` needs at least one activation phrase")
        if self.idle_timeout_seconds <= 0:
            raise ValueError(f"interaction mode `{self.mode_id}`: idle_timeout_seconds must be positive")
        if self.max_duration_seconds < self.idle_timeout_seconds:
            raise ValueError(
                f"interaction mode `{self.mode_id}`: max_duration_seconds cannot be below the idle timeout"
            )


@dataclass
class InteractionInput:
    """One utterance accepted into an interaction."""

    input_id: str
    interaction_id: str
    kind: str  # "start" or "turn"
    user_id: str
    client_id: str
    audio_interval: AudioInterval
    text: str
    source: str  # "committed", "streaming", "wake" or "system"
    received_at: float
    activation_phrase: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Dict[str, Any]) -> "InteractionInput":
        return cls(**{**value, "audio_interval": AudioInterval(**value["audio_interval"])})

    @property
    def audio_session_id(self) -> str:
        return self.audio_interval.audio_session_id


@dataclass
class InteractionSession:
    """The lasting state of one running mode."""

    interaction_id: str
    mode_id: str
    owner_plugin_id: str
    user_id: str
    client_id: str
    audio_session_id: str
    capture_epoch: int
    voice_session_id: Optional[str]
    phase: str
    plugin_state: Dict[str, Any]
    started_at: float
    last_activity_at: float
    idle_timeout_seconds: int
    max_duration_seconds: int
    status: str = "active"  # or "ended"
    turn_number: int = 0
    ended_at: Optional[float] = None
    end_reason: Optional[str] = None

    @property
    def idle_deadline(self) -> float:
        return self.last_activity_at + self.idle_timeout_seconds

    @property
    def hard_deadline(self) -> float:
        return self.started_at + self.max_duration_seconds

    @property
    def next_deadline(self) -> float:
        return min(self.idle_deadline, self.hard_deadline)

    def expiry_reason(self, now: float) -> Optional[str]:
        """Why the session is over at `now` (`max_duration`, `idle_timeout`), or None."""
        if self.status != "active":
            return self.end_reason or "ended"
        if now >= self.hard_deadline:
            return "max_duration"
        if now >= self.idle_deadline:
            return "idle_timeout"
        return None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: Dict[str, Any]) -> "InteractionSession":
        return cls(**value)


@dataclass
class InteractionContext:
    """What a mode's start, turn or end callback receives."""

    session: InteractionSession
    input: Optional[InteractionInput]
    services: Any = None
    end_reason: Optional[str] = None
    checkpoint: Optional[Callable[[], Awaitable[None]]] = None


@dataclass
class InteractionResult:
    """What a mode's callback asks for: a reply, the next phase, the whole new plugin_state."""

    reply: Optional[str] = None
    phase: Optional[str] = None
    plugin_state: Optional[Dict[str, Any]] = None
    end: bool = False
    end_reason: Optional[str] = None
    event_data: Dict[str, Any] = field(default_factory=dict)


__all__ = [
    "AudioInterval",
    "InteractionContext",
    "InteractionInput",
    "InteractionModeDefinition",
    "InteractionResult",
    "InteractionSession",
]
