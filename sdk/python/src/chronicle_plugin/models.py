"""The Python original's `Conversation` and `User` documents, built from the event being handled.

The original's plugins read the conversation behind an event from its database:

    conversation = await Conversation.find_one(Conversation.conversation_id == conversation_id)
    summary = conversation.detailed_summary or conversation.summary
    user = await User.get(context.user_id)

This host sends a plugin what it needs with the event instead, so these models are built from
the event's data (`Conversation.from_context(context)`), and the Beanie-style queries above are
answered from it: a query pinned to the event's conversation (or a `User.get` of the event's
user) gives that document. Anything wider, such as "this user's conversations of the last
hour", needs a database of conversations this host does not give plugins, and raises
NotImplementedError saying so instead of pretending that nothing matched.
"""

from __future__ import annotations

import operator
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Callable, Dict, List, Optional, Tuple

from .host import current_event


class Field:
    """A document field. On the class it builds query conditions (`Conversation.user_id == x`,
    `Conversation.created_at >= t`, `-Conversation.created_at` to sort newest first); on a
    document it is just the value."""

    def __init__(self, default: Any = None):
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, document: Any, owner: type) -> Any:
        if document is None:
            return self
        return self.default

    def _condition(self, symbol: str, test: Callable[[Any, Any], bool], value: Any) -> "Condition":
        return Condition(self.name, symbol, test, value)

    def __eq__(self, value: Any) -> "Condition":  # type: ignore[override]
        return self._condition("==", operator.eq, value)

    def __ne__(self, value: Any) -> "Condition":  # type: ignore[override]
        return self._condition("!=", operator.ne, value)

    def __lt__(self, value: Any) -> "Condition":
        return self._condition("<", operator.lt, value)

    def __le__(self, value: Any) -> "Condition":
        return self._condition("<=", operator.le, value)

    def __gt__(self, value: Any) -> "Condition":
        return self._condition(">", operator.gt, value)

    def __ge__(self, value: Any) -> "Condition":
        return self._condition(">=", operator.ge, value)

    def __neg__(self) -> "SortKey":
        return SortKey(self.name, descending=True)

    def __pos__(self) -> "SortKey":
        return SortKey(self.name, descending=False)

    __hash__ = object.__hash__


class Condition:
    """`field <op> value`, tested against a document."""

    def __init__(self, field: str, symbol: str, test: Callable[[Any, Any], bool], value: Any):
        self.field, self.symbol, self.test, self.value = field, symbol, test, value

    def matches(self, document: Any) -> bool:
        left, right = _comparable(getattr(document, self.field, None), self.value)
        try:
            return bool(self.test(left, right))
        except TypeError:
            return False

    def __repr__(self) -> str:
        return f"{self.field} {self.symbol} {self.value!r}"


class SortKey:
    def __init__(self, field: str, descending: bool):
        self.field, self.descending = field, descending


def _comparable(left: Any, right: Any) -> Tuple[Any, Any]:
    """Datetimes compared as UTC when only one side says its zone (Mongo gave naive UTC)."""
    if isinstance(left, datetime) and isinstance(right, datetime):
        if left.tzinfo is None and right.tzinfo is not None:
            left = left.replace(tzinfo=timezone.utc)
        elif right.tzinfo is None and left.tzinfo is not None:
            right = right.replace(tzinfo=timezone.utc)
    return left, right


def _as_datetime(value: Any) -> Optional[datetime]:
    """The host's ISO 8601 text (`2026-11-25T09:00:00.123Z`) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


class Document:
    """What Conversation and User share: fields from keyword arguments, and queries that only
    the event being handled can answer."""

    # Which field a query must pin for the event's document to answer it.
    _key_field = ""
    _feature = ""

    def __init__(self, **values: Any):
        for name, value in values.items():
            setattr(self, name, value)

    @classmethod
    def _fields(cls) -> List[str]:
        return [name for klass in reversed(cls.__mro__) for name, value in vars(klass).items() if isinstance(value, Field)]

    def model_dump(self) -> Dict[str, Any]:
        """The fields as a dict, as pydantic's `model_dump` gives them."""
        return {name: getattr(self, name) for name in self._fields()}

    def __repr__(self) -> str:
        key = self._key_field
        return f"{type(self).__name__}({key}={getattr(self, key, None)!r})"

    def __eq__(self, other: Any) -> bool:
        return type(other) is type(self) and other.model_dump() == self.model_dump()

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def _from_event(cls) -> Optional["Document"]:
        raise NotImplementedError

    @classmethod
    def _answer(cls, conditions: Tuple[Condition, ...]) -> List["Document"]:
        """The documents matching `conditions`, which must pin `_key_field` with `==`."""
        pinned = [c for c in conditions if isinstance(c, Condition) and c.field == cls._key_field and c.symbol == "=="]
        if any(not isinstance(c, Condition) for c in conditions):
            raise NotImplementedError(f"{cls._feature} with a query other than field comparisons")
        document = cls._from_event() if current_event.get() is not None else None
        if not pinned or document is None or any(c.value != getattr(document, cls._key_field) for c in pinned):
            wanted = ", ".join(map(repr, conditions)) or "everything"
            raise NotImplementedError(
                f"{cls._feature} ({wanted}): this host gives a plugin only the "
                f"{cls.__name__.lower()} of the event it is handling, read from the event's data"
            )
        return [document] if all(c.matches(document) for c in conditions) else []

    @classmethod
    async def find_one(cls, *conditions: Condition, **options: Any) -> Optional["Document"]:
        """The event's document if it matches; see the module docstring for what else raises."""
        found = cls._answer(conditions)
        return found[0] if found else None

    @classmethod
    def find(cls, *conditions: Condition, **options: Any) -> "Query":
        """Beanie's `find(...)`: `.sort(...)`, then `await .to_list()` or `async for`."""
        return Query(cls, conditions)

    find_many = find

    @classmethod
    async def get(cls, document_id: Any, **options: Any) -> Optional["Document"]:
        """The document with this id (the event's, or NotImplementedError for another)."""
        return await cls.find_one(getattr(cls, cls._key_field) == document_id)


class Query:
    """The answer to `find(...)`, evaluated when it is read."""

    def __init__(self, model: type, conditions: Tuple[Condition, ...]):
        self._model, self._conditions, self._sort, self._limit = model, conditions, [], None

    def sort(self, *keys: Any) -> "Query":
        self._sort.extend(keys)
        return self

    def limit(self, count: int) -> "Query":
        self._limit = count
        return self

    async def to_list(self, length: Optional[int] = None) -> List[Document]:
        found = self._model._answer(self._conditions)
        count = length if length is not None else self._limit
        return found if count is None else found[:count]

    async def first_or_none(self) -> Optional[Document]:
        found = await self.to_list(1)
        return found[0] if found else None

    async def count(self) -> int:
        return len(await self.to_list())

    def __aiter__(self):
        return self._iterate()

    async def _iterate(self):
        for document in await self.to_list():
            yield document


class Conversation(Document):
    """A conversation as the original's plugins read it, from the event's data.

    The fields the host sends: `conversation_id`, `user_id`, `client_id`, `title`, `summary`,
    `transcript`, `segments`, `created_at` (an aware UTC datetime), `audio_total_duration`
    (seconds, from the event's `duration`), `end_reason` (from the metadata), `starred` and
    `starred_at`, `user_email`. `detailed_summary` is None: this host writes one summary.
    """

    class ConversationStatus(StrEnum):
        ACTIVE = "active"
        COMPLETED = "completed"
        FAILED = "failed"

    class EndReason(StrEnum):
        USER_STOPPED = "user_stopped"
        INACTIVITY_TIMEOUT = "inactivity_timeout"
        WEBSOCKET_DISCONNECT = "websocket_disconnect"
        MAX_DURATION = "max_duration"
        CLOSE_REQUESTED = "close_requested"
        ERROR = "error"
        SPLIT = "split"
        MERGE = "merge"
        UNKNOWN = "unknown"

    _key_field = "conversation_id"
    _feature = "looking up conversations (Conversation.find_one / Conversation.find)"

    conversation_id = Field()
    user_id = Field()
    client_id = Field()
    title = Field()
    summary = Field()
    detailed_summary = Field()
    transcript = Field("")
    segments = Field()
    created_at = Field()
    completed_at = Field()
    audio_total_duration = Field()
    end_reason = Field()
    starred = Field(False)
    starred_at = Field()
    deleted = Field(False)
    user_email = Field()

    @classmethod
    def from_context(cls, context: Any) -> "Conversation":
        """The conversation an event is about, from its data and metadata.

        `conversation.complete` and `memory.processed` carry a `conversation` object; transcript
        and star events carry the fields at the top of their data.
        """
        data: Dict[str, Any] = context.data or {}
        inner = data.get("conversation") if isinstance(data.get("conversation"), dict) else {}

        def pick(name: str, default: Any = None) -> Any:
            for source in (inner, data):
                if source.get(name) is not None:
                    return source[name]
            return default

        duration = data.get("duration")
        return cls(
            conversation_id=pick("conversation_id"),
            user_id=pick("user_id", context.user_id),
            client_id=pick("client_id", (context.metadata or {}).get("client_id")),
            title=pick("title"),
            summary=pick("summary"),
            detailed_summary=pick("detailed_summary"),
            transcript=data.get("transcript") if isinstance(data.get("transcript"), str) else "",
            segments=data.get("segments") or [],
            created_at=_as_datetime(pick("created_at")),
            completed_at=_as_datetime(pick("completed_at")),
            audio_total_duration=float(duration) if isinstance(duration, (int, float)) else None,
            end_reason=(context.metadata or {}).get("end_reason"),
            starred=bool(pick("starred", False)),
            starred_at=_as_datetime(pick("starred_at")),
            deleted=False,
            user_email=pick("user_email"),
        )

    @classmethod
    def _from_event(cls) -> Optional["Conversation"]:
        context = current_event.get()
        conversation = cls.from_context(context)
        return conversation if conversation.conversation_id else None

    @property
    def active_transcript(self) -> "Conversation":
        """The original kept transcript versions; here there is one, this conversation's."""
        return self


class User(Document):
    """The user an event is for: `id` (also `user_id`), `email` and `notification_email` (when
    the event carries the address), and `timezone`, which this host does not send (None, which
    the time helpers read as UTC)."""

    _key_field = "id"
    _feature = "looking up users (User.get / User.find_one)"

    id = Field()
    user_id = Field()
    email = Field()
    notification_email = Field()
    display_name = Field()
    timezone = Field()
    is_active = Field(True)
    is_superuser = Field(False)

    @classmethod
    def from_context(cls, context: Any) -> "User":
        data: Dict[str, Any] = context.data or {}
        inner = data.get("conversation") if isinstance(data.get("conversation"), dict) else {}
        email = inner.get("user_email") or data.get("user_email")
        return cls(id=context.user_id, user_id=context.user_id, email=email, notification_email=email)

    @classmethod
    def _from_event(cls) -> Optional["User"]:
        return cls.from_context(current_event.get())
