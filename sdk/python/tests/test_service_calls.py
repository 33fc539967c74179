"""What `get_database()`, `context.services` and `async_generate()` send, and what they make of
the host's answers, checked against a host played in this process."""

import asyncio
import unittest
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from support import InProcessHost

from chronicle_plugin import (
    ConversationCloseReason,
    PluginResult,
    PluginServices,
    SearchHit,
    SearchResult,
    ServiceError,
    TimeFilter,
    async_generate,
    get_database,
)
from chronicle_plugin.host import current_context_id
from chronicle_plugin.protocol import ErrorCode


async def refuse_host_requests(method, params):
    raise AssertionError(f"these tests send no host requests, got {method}")


class ServiceCallTestCase(unittest.IsolatedAsyncioTestCase):
    """A host in this process, with the plugin inside the handler of context `ctx-7`."""

    async def asyncSetUp(self):
        self.host = InProcessHost(refuse_host_requests, "analytics_tracker")
        current_context_id.set("ctx-7")

    async def asyncTearDown(self):
        await self.host.close()

    async def exchange(self, call, result):
        """Runs `call`, answers its request with `result`; returns (the request, what call returned)."""
        pending = asyncio.ensure_future(call)
        request = await self.host.receive()
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "result": result})
        return request, await pending


class DatabaseTest(ServiceCallTestCase):
    async def test_insert_one_sends_json_and_sets_the_id_like_pymongo(self):
        document = {
            "created_at": datetime(2026, 11, 25, 9, 0, 5),
            "day": date(2026, 11, 25),
            "ref": UUID("12345678-1234-5678-1234-567812345678"),
            "amount": Decimal("2.5"),
            "tags": ("a", "b"),
        }
        request, result = await self.exchange(get_database()["todos"].insert_one(document), {"inserted_id": "d-1"})
        self.assertEqual(request["method"], "db.insert_one")
        self.assertEqual(
            request["params"],
            {
                "context_id": "ctx-7",
                "collection": "todos",
                "document": {
                    "created_at": "2026-11-25T09:00:05",
                    "day": "2026-11-25",
                    "ref": "12345678-1234-5678-1234-567812345678",
                    "amount": 2.5,
                    "tags": ["a", "b"],
                },
            },
        )
        self.assertEqual(result.inserted_id, "d-1")
        self.assertEqual(document["_id"], "d-1")

    async def test_find_reads_with_async_for_and_to_list(self):
        documents = [{"_id": "1", "n": 1}, {"_id": "2", "n": 2}]
        cursor = get_database().todos.find({"user_id": "u"})
        request, listed = await self.exchange(cursor.to_list(length=1), documents)
        self.assertEqual(request["params"], {"context_id": "ctx-7", "collection": "todos", "filter": {"user_id": "u"}})
        self.assertEqual(listed, documents[:1])

        async def iterate():
            return [document async for document in get_database()["todos"].find()]

        request, iterated = await self.exchange(iterate(), documents)
        self.assertEqual((request["method"], request["params"]["filter"]), ("db.find", {}))
        self.assertEqual(iterated, documents)

    async def test_find_one_update_delete_and_count(self):
        todos = get_database()["todos"]
        request, found = await self.exchange(todos.find_one({"task": "x"}), None)
        self.assertEqual((request["method"], found), ("db.find_one", None))

        request, updated = await self.exchange(
            todos.update_one({"task": "x"}, {"$set": {"completed": True}}), {"matched_count": 1}
        )
        self.assertEqual(request["params"]["update"], {"$set": {"completed": True}})
        self.assertEqual((updated.matched_count, updated.modified_count), (1, 1))

        request, deleted = await self.exchange(todos.delete_one({"task": "x"}), {"deleted_count": 0})
        self.assertEqual((request["method"], deleted.deleted_count), ("db.delete_one", 0))

        request, count = await self.exchange(todos.count_documents({"completed": False}), 3)
        self.assertEqual((request["method"], request["params"]["filter"], count), ("db.count", {"completed": False}, 3))

    async def test_another_plugins_collections_are_addressed_by_its_id(self):
        request, _ = await self.exchange(get_database("todo_extractor_py")["todos"].count_documents(), 0)
        self.assertEqual(request["params"]["collection"], "todo_extractor_py/todos")
        request, _ = await self.exchange(get_database("analytics_tracker")["analytics"].count_documents(), 0)
        self.assertEqual(request["params"]["collection"], "analytics", "its own id means its own collections")

    async def test_a_document_json_cannot_hold_is_refused_before_anything_is_sent(self):
        with self.assertRaises(TypeError):
            await get_database()["todos"].insert_one({"callback": object()})
        with self.assertRaises(ValueError):
            await get_database()["todos"].insert_one({"ratio": float("nan")})
        self.assertEqual(self.host.unread(), 0)

    async def test_outside_a_handler_the_context_id_is_null(self):
        current_context_id.set(None)
        request, _ = await self.exchange(get_database()["todos"].count_documents(), 0)
        self.assertIsNone(request["params"]["context_id"])


class PluginServicesTest(ServiceCallTestCase):
    async def test_close_and_star_carry_the_services_own_context_id(self):
        services = PluginServices("ctx-9")
        request, closed = await self.exchange(services.close_conversation("session-1"), True)
        self.assertEqual(request["method"], "services.close_conversation")
        self.assertEqual(
            request["params"], {"context_id": "ctx-9", "session_id": "session-1", "reason": "plugin_requested"}
        )
        self.assertIs(closed, True)

        request, _ = await self.exchange(
            services.close_conversation("session-1", ConversationCloseReason.BUTTON_CLOSE), False
        )
        self.assertEqual(request["params"]["reason"], "button_close")

        request, starred = await self.exchange(services.star_conversation("session-1"), False)
        self.assertEqual((request["method"], request["params"]["session_id"], starred),
                         ("services.star_conversation", "session-1", False))

    async def test_call_plugin_returns_the_targets_result_or_none(self):
        services = PluginServices("ctx-9")
        answer = {"success": True, "message": "lights toggled", "data": {}, "should_continue": False}
        request, result = await self.exchange(services.call_plugin("homeassistant", "toggle_lights"), answer)
        self.assertEqual(
            request["params"],
            {"context_id": "ctx-9", "plugin_id": "homeassistant", "action": "toggle_lights", "data": {},
             "user_id": "system"},
        )
        self.assertEqual(result, PluginResult(success=True, message="lights toggled", should_continue=False))

        _, declined = await self.exchange(services.call_plugin("homeassistant", "noop", {"a": 1}, "u-1"), None)
        self.assertIsNone(declined)


class LanguageModelTest(ServiceCallTestCase):
    async def test_async_generate_sends_the_prompt_and_ignores_model_options(self):
        request, text = await self.exchange(async_generate("Summarize: hi", temperature=0.1, max_tokens=5), "Hi.")
        self.assertEqual(request["method"], "llm.generate")
        self.assertEqual(request["params"], {"context_id": "ctx-7", "prompt": "Summarize: hi"})
        self.assertEqual(text, "Hi.")


# The host's answer to a search, shaped as `GET /api/search` answers.
SEARCH_ANSWER = {
    "searched_for": "dentist",
    "time_filter": {"phrase": "yesterday", "since": "2026-11-24T00:00:00+01:00",
                    "until": "2026-11-25T00:00:00+01:00", "time_zone": "Europe/Berlin"},
    "ranking": "rrf",
    "note": "by words and meaning",
    "hits": [
        {"kind": "conversation", "id": "conv-1", "conversation_id": "conv-1", "time": "2026-11-24T09:30:00+01:00",
         "offset_seconds": 42.5, "speaker": "Speaker 1", "score": 0.032,
         "snippet": "call the <mark>dentist</mark> &amp; book", "matched_by": "both"},
        {"kind": "memory", "id": "mem-7", "conversation_id": None, "time": "2026-11-24T18:00:00+01:00",
         "offset_seconds": None, "speaker": None, "score": 0.016, "snippet": "Has a <mark>dentist</mark> appointment",
         "matched_by": "meaning", "added_later": "ignored"},
    ],
}
SEARCH_DENIED = "plugin `analytics_tracker` may not use search: add `search` to its `permissions` in config/plugins.yml"


class SearchTest(ServiceCallTestCase):
    async def test_search_sends_the_query_and_the_default_limit_with_the_services_context_id(self):
        request, result = await self.exchange(PluginServices("ctx-9").search("dentist yesterday"), SEARCH_ANSWER)
        self.assertEqual(request["method"], "search.query")
        self.assertEqual(request["params"], {"context_id": "ctx-9", "query": "dentist yesterday", "limit": 10},
                         "the optional params are left out, so the host applies its defaults")
        self.assertIsInstance(result, SearchResult)
        self.assertEqual((result.searched_for, result.ranking, result.note), ("dentist", "rrf", "by words and meaning"))
        self.assertEqual(result.time_filter, TimeFilter(phrase="yesterday", since="2026-11-24T00:00:00+01:00",
                                                        until="2026-11-25T00:00:00+01:00", time_zone="Europe/Berlin"))
        self.assertEqual(result.hits, [
            SearchHit(kind="conversation", id="conv-1", conversation_id="conv-1", time="2026-11-24T09:30:00+01:00",
                      offset_seconds=42.5, speaker="Speaker 1", score=0.032,
                      snippet="call the <mark>dentist</mark> &amp; book", matched_by="both"),
            SearchHit(kind="memory", id="mem-7", conversation_id=None, time="2026-11-24T18:00:00+01:00",
                      offset_seconds=None, speaker=None, score=0.016,
                      snippet="Has a <mark>dentist</mark> appointment", matched_by="meaning"),
        ])

    async def test_every_argument_goes_onto_the_wire(self):
        call = PluginServices("ctx-9").search(
            "dentist", since="2026-11-01", until=date(2026, 11, 30), kind="memory", limit=50,
            time_zone="Europe/Berlin", user_id="user-2",
        )
        request, _ = await self.exchange(call, {**SEARCH_ANSWER, "time_filter": None, "hits": []})
        self.assertEqual(request["params"], {
            "context_id": "ctx-9", "query": "dentist", "since": "2026-11-01", "until": "2026-11-30",
            "kind": "memory", "limit": 50, "time_zone": "Europe/Berlin", "user_id": "user-2",
        })

    async def test_an_aware_datetime_and_a_zoneinfo_are_sent_as_text(self):
        try:
            zone = ZoneInfo("Europe/Berlin")
        except ZoneInfoNotFoundError:
            self.skipTest("no IANA time zone database on this system")
        since = datetime(2026, 11, 24, 6, 0, tzinfo=timezone(timedelta(hours=1)))
        call = PluginServices("ctx-9").search("notes", since=since, kind="conversation", limit=1, time_zone=zone)
        request, result = await self.exchange(call, {"searched_for": "notes", "time_filter": None, "ranking": "bm25",
                                                     "note": "by words alone: no embeddings server", "hits": []})
        params = request["params"]
        self.assertEqual((params["since"], params["kind"], params["limit"], params["time_zone"]),
                         ("2026-11-24T06:00:00+01:00", "conversation", 1, "Europe/Berlin"))
        self.assertEqual((result.ranking, result.time_filter, result.hits), ("bm25", None, []))

    async def test_a_denied_search_raises_service_error_with_the_hosts_message(self):
        pending = asyncio.ensure_future(PluginServices("ctx-9").search("dentist"))
        request = await self.host.receive()
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32030, "message": SEARCH_DENIED}})
        with self.assertRaises(ServiceError) as denied:
            await pending
        self.assertEqual(denied.exception.code, ErrorCode.PERMISSION_DENIED)
        self.assertEqual((denied.exception.message, str(denied.exception)), (SEARCH_DENIED, SEARCH_DENIED))

    async def test_the_hosts_other_refusals_keep_their_code(self):
        pending = asyncio.ensure_future(PluginServices("ctx-9").search("dentist", time_zone="Mars/Olympus"))
        request = await self.host.receive()
        refusal = "search could not be served: `Mars/Olympus` is not a time zone"
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32032, "message": refusal}})
        with self.assertRaises(ServiceError) as refused:
            await pending
        self.assertEqual((refused.exception.code, str(refused.exception)), (ErrorCode.SERVICE_INVALID_REQUEST, refusal))

    async def test_arguments_the_host_would_refuse_raise_before_anything_is_sent(self):
        services = PluginServices("ctx-9")
        value_errors = [
            ({"query": ""}, "must not be empty"),
            ({"query": "   "}, "must not be empty"),
            ({"query": "x", "kind": "memories"}, "'memory' or 'conversation'"),
            ({"query": "x", "kind": ""}, "'memory' or 'conversation'"),
            ({"query": "x", "limit": 0}, "from 1 to 50, not 0"),
            ({"query": "x", "limit": 51}, "from 1 to 50, not 51"),
            ({"query": "x", "since": ""}, "since must not be empty"),
            ({"query": "x", "until": datetime(2026, 11, 24, 6, 0)}, "without a time zone"),
            ({"query": "x", "time_zone": ""}, "IANA time zone name"),
            ({"query": "x", "user_id": ""}, "user_id"),
        ]
        type_errors = [
            ({"query": None}, "query must be a str, not NoneType"),
            ({"query": b"dentist"}, "query must be a str, not bytes"),
            ({"query": "x", "limit": "10"}, "limit must be an int, not str"),
            ({"query": "x", "limit": 2.0}, "limit must be an int, not float"),
            ({"query": "x", "limit": True}, "limit must be an int, not bool"),
            ({"query": "x", "since": 1764000000}, "since must be RFC 3339 text, a date or a datetime, not int"),
        ]
        for error, cases in ((ValueError, value_errors), (TypeError, type_errors)):
            for arguments, message in cases:
                with self.subTest(arguments=arguments), self.assertRaises(error) as raised:
                    await services.search(**arguments)
                self.assertIn(message, str(raised.exception))
                with self.subTest(arguments=arguments, form="blocking"), self.assertRaises(error):
                    services.search_blocking(**arguments)
        self.assertEqual(self.host.unread(), 0)

    async def test_the_optional_arguments_are_keyword_only(self):
        with self.assertRaises(TypeError):
            await PluginServices("ctx-9").search("dentist", "2026-11-01")
        self.assertEqual(self.host.unread(), 0)

    async def test_an_answer_that_is_not_a_search_result_is_a_service_failure(self):
        for answer in (None, "hits", {"hits": [{"snippet": "no kind or id"}]}):
            with self.subTest(answer=answer):
                pending = asyncio.ensure_future(PluginServices("ctx-9").search("dentist"))
                request = await self.host.receive()
                self.host.send({"jsonrpc": "2.0", "id": request["id"], "result": answer})
                with self.assertRaises(ServiceError) as failed:
                    await pending
                self.assertEqual(failed.exception.code, ErrorCode.SERVICE_FAILED)

    async def test_search_blocking_from_a_worker_thread(self):
        services = PluginServices("ctx-9")
        pending = asyncio.ensure_future(asyncio.to_thread(services.search_blocking, "dentist", kind="memory"))
        request = await self.host.receive()
        self.assertEqual((request["method"], request["params"]),
                         ("search.query", {"context_id": "ctx-9", "query": "dentist", "kind": "memory", "limit": 10}))
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "result": SEARCH_ANSWER})
        result = await pending
        self.assertEqual([hit.id for hit in result.hits], ["conv-1", "mem-7"])

        pending = asyncio.ensure_future(asyncio.to_thread(services.search_blocking, "dentist"))
        request = await self.host.receive()
        self.host.send({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32030, "message": SEARCH_DENIED}})
        with self.assertRaises(ServiceError) as denied:
            await pending
        self.assertEqual((denied.exception.code, str(denied.exception)), (ErrorCode.PERMISSION_DENIED, SEARCH_DENIED))


class WithoutHostTest(unittest.IsolatedAsyncioTestCase):
    async def test_service_calls_outside_the_host_say_they_need_it(self):
        with self.assertRaises(ServiceError) as raised:
            await get_database()["todos"].insert_one({})
        self.assertEqual(raised.exception.code, ErrorCode.SERVICE_UNAVAILABLE)
        self.assertIn("Chronicle host", str(raised.exception))

    async def test_a_search_outside_the_host_says_it_needs_it(self):
        with self.assertRaises(ServiceError) as raised:
            await PluginServices(None).search("dentist")
        self.assertEqual(raised.exception.code, ErrorCode.SERVICE_UNAVAILABLE)
        self.assertIn("`search.query` needs the Chronicle host", str(raised.exception))
