"""`get_database()`: the plugin's document store in the host, with a motor-like interface.

The guide's plugins were written against MongoDB through motor (`await db['todos'].insert_one(
{...})`), so the same calls work here; each is one `db.*` request to the host, which keeps
every plugin's documents apart. Documents travel as JSON: datetimes are stored as ISO 8601
text and come back as text. The request carries the `context_id` of the handler running when
the call is made, so a database handle may be kept from `initialize()` and used in handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Dict, List, Optional

from .host import attached_plugin_id, call_host, current_context_id
from .protocol import Method, to_json_value


@dataclass
class InsertOneResult:
    """What `insert_one` did; `inserted_id` is the `_id` the host gave the document."""

    inserted_id: str


@dataclass
class UpdateResult:
    """What `update_one` did. The host reports only matches, so `modified_count` equals
    `matched_count` unless it says otherwise."""

    matched_count: int
    modified_count: int


@dataclass
class DeleteResult:
    """What `delete_one` did."""

    deleted_count: int


class Collection:
    """One collection: the caller's own, or another plugin's, which it may read but not change."""

    def __init__(self, name: str, owner: Optional[str] = None):
        self.name = name
        # Another plugin's collections are addressed as `owner/name`; the host refuses writes.
        self.full_name = f"{owner}/{name}" if owner else name

    async def _call(self, method: Method, **params: Any) -> Any:
        params = {"collection": self.full_name, **to_json_value(params)}
        return await call_host(method, params, current_context_id.get())

    async def insert_one(self, document: Dict[str, Any]) -> InsertOneResult:
        """Stores `document` and, as pymongo does, sets its `_id` to the id the host assigned."""
        answer = await self._call(Method.INSERT_ONE, document=document)
        document["_id"] = answer["inserted_id"]
        return InsertOneResult(inserted_id=answer["inserted_id"])

    def find(self, filter: Optional[Dict[str, Any]] = None) -> "Cursor":
        """The documents equal to `filter` on each of its fields (`a.b` reaches into objects)."""
        return Cursor(self, filter or {})

    async def find_one(self, filter: Optional[Dict[str, Any]] = None) -> Optional[Dict[str, Any]]:
        """The first matching document, or None."""
        return await self._call(Method.FIND_ONE, filter=filter or {})

    async def update_one(self, filter: Dict[str, Any], update: Dict[str, Any]) -> UpdateResult:
        """Updates the first match with `$set`, `$unset`, `$inc`, or a plain object (`$set`)."""
        answer = await self._call(Method.UPDATE_ONE, filter=filter, update=update)
        matched = answer["matched_count"]
        return UpdateResult(matched_count=matched, modified_count=answer.get("modified_count", matched))

    async def delete_one(self, filter: Dict[str, Any]) -> DeleteResult:
        """Deletes the first match."""
        answer = await self._call(Method.DELETE_ONE, filter=filter)
        return DeleteResult(deleted_count=answer["deleted_count"])

    async def count_documents(self, filter: Optional[Dict[str, Any]] = None) -> int:
        """How many documents match."""
        return int(await self._call(Method.COUNT, filter=filter or {}))


class Cursor:
    """The answer to `find()`: iterate with `async for`, or `await cursor.to_list(length)`.

    The host sends all matches in one answer, fetched when the cursor is first read.
    """

    def __init__(self, collection: Collection, filter: Dict[str, Any]):
        self._collection = collection
        self._filter = filter

    async def to_list(self, length: Optional[int] = None) -> List[Dict[str, Any]]:
        """The matches, at most `length` of them."""
        documents = await self._collection._call(Method.FIND, filter=self._filter)
        return documents if length is None else documents[:length]

    async def _iterate(self) -> AsyncIterator[Dict[str, Any]]:
        for document in await self.to_list():
            yield document

    def __aiter__(self) -> AsyncIterator[Dict[str, Any]]:
        return self._iterate()


class Database:
    """The collections of one plugin: `db['todos']` or `db.todos`."""

    def __init__(self, owner: Optional[str] = None):
        self._owner = owner

    def __getitem__(self, name: str) -> Collection:
        return Collection(name, self._owner)

    def __getattr__(self, name: str) -> Collection:
        if name.startswith("_"):
            raise AttributeError(name)
        return Collection(name, self._owner)

    def get_collection(self, name: str) -> Collection:
        """The collection `name`, as motor spells it."""
        return Collection(name, self._owner)


def get_database(plugin_id: Optional[str] = None) -> Database:
    """The calling plugin's collections, or with `plugin_id` another plugin's, read-only."""
    owner = None if plugin_id in (None, attached_plugin_id()) else plugin_id
    return Database(owner)
