"""The bytes on the wire: versions, method names, error codes and JSON-RPC 2.0 message shapes.

`docs/plugin-protocol.md` is the specification; everything that decides what a line on stdout
looks like lives here, so the snapshot tests can check it without starting a process.
`Method` and `ErrorCode` mirror the host's `protocol::method` and `protocol::code` in
crates/plugin-api/src/protocol/mod.rs, which a test compares them with.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any, Optional
from uuid import UUID

PROTOCOL_VERSION = "1.0"
SDK_RELEASE = "0.1.0"
SDK_VERSION = f"chronicle-plugin-python {SDK_RELEASE}"

# Lines longer than this are a protocol error (the specification's 16 MiB).
MAX_LINE_BYTES = 16 * 1024 * 1024


class Method(StrEnum):
    """Every JSON-RPC method of the protocol, spelled as the host spells it.

    A `str` enum whose `str()` and f-string form are the value, so a member goes onto the wire,
    into a log line or into a dict lookup exactly as the plain string would.
    """

    # Host → plugin, served by the runner.
    INITIALIZE = "initialize"
    HANDLE_EVENT = "handle_event"
    HEALTH_CHECK = "health_check"
    CLEANUP = "cleanup"
    # Plugin → host: `context.services`.
    CLOSE_CONVERSATION = "services.close_conversation"
    STAR_CONVERSATION = "services.star_conversation"
    CALL_PLUGIN = "services.call_plugin"
    STOP_PLAYBACK = "services.stop_playback"
    # Plugin → host: `get_database()`.
    INSERT_ONE = "db.insert_one"
    FIND = "db.find"
    FIND_ONE = "db.find_one"
    UPDATE_ONE = "db.update_one"
    DELETE_ONE = "db.delete_one"
    COUNT = "db.count"
    # Plugin → host: `async_generate()`.
    LLM_GENERATE = "llm.generate"
    # Plugin → host: `context.services.search()`. The host's constant is `method::SEARCH`;
    # `SEARCH_QUERY` is another name for the same member (an alias, so iterating the enum
    # still gives exactly the host's names).
    SEARCH = "search.query"
    SEARCH_QUERY = "search.query"


class ErrorCode(IntEnum):
    """The `code` of an error answer: JSON-RPC's own, then Chronicle's.

    The table in the specification says what the host does with each of Chronicle's.
    """

    # JSON-RPC's own.
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    # Chronicle's.
    INCOMPATIBLE_PROTOCOL = -32010
    PLUGIN_UNREACHABLE = -32011
    PLUGIN_BROKEN = -32012
    HANDLER_FAILED = -32020
    PERMISSION_DENIED = -32030
    SERVICE_UNAVAILABLE = -32031
    SERVICE_INVALID_REQUEST = -32032
    SERVICE_FAILED = -32033


@dataclass(eq=False)
class RpcError(Exception):
    """An error answer this plugin sends; raised by a method handler to refuse a request.

    `code` is an ErrorCode; it goes onto the wire as a plain number.
    """

    code: int
    message: str
    data: Optional[dict] = None

    def __str__(self) -> str:
        return self.message


def is_compatible(ours: str, theirs: str) -> bool:
    """Two `MAJOR.MINOR` versions can talk when their majors are equal; garbage never can."""
    our_major, their_major = _major(ours), _major(theirs)
    return our_major is not None and our_major == their_major


def _major(version: str) -> Optional[int]:
    major, dot, minor = str(version).partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        return None
    return int(major)


def incompatible_version_message(
    plugin_id: str, plugin_protocol: str, sdk_version: str, host_protocol: str
) -> str:
    """The -32010 message: both versions and the SDK, so the reader knows what to upgrade."""
    return (
        f"plugin `{plugin_id}` speaks protocol {plugin_protocol} (SDK {sdk_version}), "
        f"which is not compatible with the host's protocol {host_protocol}"
    )


def exception_summary(error: BaseException) -> str:
    """`TypeName: text`, the form error messages take on the wire (`TypeName` alone if empty)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def request(request_id: int, method: str, params: dict) -> dict:
    """A request of this plugin's (a service call); `method` a Method, sent as its plain text."""
    return {"jsonrpc": "2.0", "id": request_id, "method": str(method), "params": params}


def success_response(request_id: Any, result: Any) -> dict:
    """A successful answer; a `None` result is sent as `"result": null`."""
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: Any, error: RpcError) -> dict:
    """An error answer; `data` is left out when there is none, as the host's encoder does."""
    body: dict = {"code": int(error.code), "message": error.message}
    if error.data is not None:
        body["data"] = error.data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def encode_line(message: dict) -> bytes:
    """One message as one UTF-8 line. JSON escapes newlines, so the only raw one is the end."""
    return (json.dumps(message, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def to_json_value(value: Any) -> Any:
    """`value` with the types plugins commonly store turned into JSON.

    The guide stores `datetime.utcnow()` in documents, as it could with MongoDB; on the wire a
    datetime or date becomes its ISO 8601 text, a UUID its string, a Decimal a float, a set or
    tuple a list. A bson `ObjectId` (the Python original's plugins wrap ids in one, as in
    `{"_id": ObjectId(user_id)}`) becomes its hex text: the host's `_id`s are strings. Anything
    else that JSON cannot hold raises TypeError here, at the plugin's call, rather than as a
    broken message later. NaN and infinities raise ValueError because JSON has no spelling for
    them.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be sent as JSON")
        return value
    if isinstance(value, dict):
        return {_json_key(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(item) for item in value]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return to_json_value(float(value))
    if _is_object_id(value):
        return str(value)
    raise TypeError(f"a {type(value).__name__} cannot be sent as JSON: {value!r}")


def _is_object_id(value: Any) -> bool:
    """Whether `value` is a bson ObjectId, recognised by its type so the SDK needs no bson."""
    kind = type(value)
    return kind.__name__ == "ObjectId" and kind.__module__.split(".")[0] == "bson"


def _json_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}: {key!r}")
    return key
