"""What `get_database()`, `context.services` and `async_generate()` send, and what they make of
the host's answers, checked against a host played in this process."""

import asyncio
import unittest
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from support import InProcessHost

from chronicle_plugin import (
    ConversationCloseReason,
    PluginResult,
    PluginServices,
    ServiceError,
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


class WithoutHostTest(unittest.IsolatedAsyncioTestCase):
    async def test_service_calls_outside_the_host_say_they_need_it(self):
        with self.assertRaises(ServiceError) as raised:
            await get_database()["todos"].insert_one({})
        self.assertEqual(raised.exception.code, ErrorCode.SERVICE_UNAVAILABLE)
        self.assertIn("Chronicle host", str(raised.exception))
