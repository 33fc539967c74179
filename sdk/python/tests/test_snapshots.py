"""The SDK against the normative example messages in crates/plugin-api/protocol_snapshots.

Each message the plugin side consumes is decoded by the SDK's own decoders, and each message it
produces is built by its own encoders and compared with the snapshot, so the Python and Rust
sides cannot drift apart without a test failing on one of them.
"""

import asyncio
import json
import unittest
from datetime import datetime

from support import SNAPSHOTS_DIR, InProcessHost, snapshot

from chronicle_plugin import BasePlugin, PluginContext, PluginEvent, PluginResult, ServiceError, get_database
from chronicle_plugin.context import Delivery
from chronicle_plugin.messages import (
    config_from_initialize,
    context_from_handle_event,
    handle_event_result,
    handler_failure,
    initialize_result,
)
from chronicle_plugin.protocol import (
    ErrorCode,
    RpcError,
    error_response,
    incompatible_version_message,
    success_response,
)
from chronicle_plugin.runner import PluginRunner


class TodoExtractorPlugin(BasePlugin):
    """Extract and save action items from conversations."""

    name = "Todo Extractor"
    SUPPORTED_ACCESS_LEVELS = ["conversation"]

    async def on_conversation_complete(self, context):
        await get_database()["todos"].insert_one({
            "user_id": context.user_id,
            "task": "buy milk",
            "completed": False,
            "created_at": datetime(2026, 11, 25, 9, 0),
        })
        context.metadata["todo_count"] = 1
        return PluginResult(success=True, message="Extracted 1 action items", data={"todos": ["buy milk"]})


class EverySnapshotTest(unittest.TestCase):
    def test_every_snapshot_is_one_json_rpc_message(self):
        files = sorted(SNAPSHOTS_DIR.glob("*.json"))
        self.assertGreaterEqual(len(files), 14)
        for path in files:
            with self.subTest(path.name):
                message = json.loads(path.read_text(encoding="utf-8"))
                self.assertEqual(message["jsonrpc"], "2.0")
                self.assertIsInstance(message["id"], int)
                kinds = [key for key in ("method", "result", "error") if key in message]
                self.assertEqual(len(kinds), 1, "exactly one of method, result and error")
                if "error" in message:
                    self.assertIsInstance(message["error"]["code"], int)
                    self.assertIsInstance(message["error"]["message"], str)


class HandshakeSnapshotTest(unittest.TestCase):
    def test_initialize_request_becomes_the_config_the_original_handed_plugins(self):
        params = snapshot("initialize_request")["params"]
        self.assertEqual(
            config_from_initialize(params, "todo_extractor_py"),
            {
                "todo_patterns": ["I need to (.+)"],
                "enabled": True,
                "events": ["conversation.complete"],
                "condition": {"type": "always"},
                "priority": 100,
                "plugin_id": "todo_extractor_py",
            },
        )

    def test_initialize_response_describes_the_plugin(self):
        config = config_from_initialize(snapshot("initialize_request")["params"], "todo_extractor_py")
        result = initialize_result(TodoExtractorPlugin(config), "todo_extractor_py")
        self.assertEqual(success_response(1, result), snapshot("initialize_response"))

    def test_incompatible_version_error_names_plugin_both_versions_and_sdk(self):
        message = incompatible_version_message("todo_extractor_py", "2.0", "chronicle-plugin-python 0.9.0", "1.0")
        self.assertEqual(
            error_response(1, RpcError(ErrorCode.INCOMPATIBLE_PROTOCOL, message)), snapshot("initialize_incompatible")
        )


class HandleEventSnapshotTest(unittest.TestCase):
    def test_handle_event_request_becomes_a_plugin_context(self):
        params = snapshot("handle_event_request")["params"]
        context = context_from_handle_event(params)
        self.assertIsInstance(context, PluginContext)
        self.assertIs(context.event, PluginEvent.CONVERSATION_COMPLETE)
        self.assertEqual(context.user_id, "user-1")
        self.assertEqual(context.data, params["data"])
        self.assertEqual(context.metadata, {"end_reason": "user_stopped"})
        self.assertEqual(context.services.context_id, "2")
        self.assertEqual(
            context.delivery,
            Delivery(
                event_id="5f1c2a9e0b7d-2a",
                plugin_id="todo_extractor_py",
                attempt=1,
                deadline_ms=1795600000000,
                idempotency_key="5f1c2a9e0b7d-2a:todo_extractor_py",
            ),
        )

    def test_delivery_fields_from_a_newer_host_are_skipped(self):
        params = snapshot("handle_event_request")["params"]
        newer = {**params, "delivery": {**params["delivery"], "trace_id": "t-1"}}
        self.assertEqual(context_from_handle_event(newer).delivery, context_from_handle_event(params).delivery)

    def test_plugin_result_becomes_the_handle_event_response(self):
        result = PluginResult(success=True, message="Extracted 1 action items", data={"todos": ["buy milk"]})
        metadata = {"end_reason": "user_stopped", "todo_count": 1}
        self.assertEqual(success_response(2, handle_event_result(result, metadata)), snapshot("handle_event_response"))

    def test_a_decline_is_a_null_result(self):
        self.assertEqual(success_response(3, handle_event_result(None, {})), snapshot("handle_event_decline"))

    def test_a_raising_handler_becomes_the_error_shape(self):
        try:
            raise ValueError("boom")
        except ValueError as error:
            failure = handler_failure(error)
        expected = snapshot("handle_event_error")
        answer = error_response(4, failure)
        self.assertEqual(answer["error"]["code"], expected["error"]["code"])
        self.assertEqual(answer["error"]["message"], expected["error"]["message"])
        self.assertEqual(answer["error"]["data"].keys(), expected["error"]["data"].keys())
        self.assertTrue(answer["error"]["data"]["traceback"].endswith("ValueError: boom\n"))


class ConversationSnapshotTest(unittest.IsolatedAsyncioTestCase):
    """Whole exchanges from the specification, played line by line against the runner."""

    async def asyncSetUp(self):
        self.runner = PluginRunner("todo_extractor_py", SNAPSHOTS_DIR)
        self.runner.plugin = TodoExtractorPlugin({"enabled": True})
        self.host = InProcessHost(self.runner.serve_request, "todo_extractor_py")

    async def asyncTearDown(self):
        await self.host.close()

    async def test_handle_event_with_a_service_call_in_the_middle(self):
        self.host.send(snapshot("handle_event_request"))
        self.assertEqual(await self.host.receive(), snapshot("service_insert_one_request"))
        self.host.send(snapshot("service_insert_one_response"))
        self.assertEqual(await self.host.receive(), snapshot("handle_event_response"))

    async def test_health_check(self):
        self.host.send(snapshot("health_check_request"))
        self.assertEqual(await self.host.receive(), snapshot("health_check_response"))

    async def test_cleanup(self):
        self.host.send(snapshot("cleanup_request"))
        self.assertEqual(await self.host.receive(), snapshot("cleanup_response"))

    async def test_a_denied_service_raises_service_error_with_the_hosts_code_and_message(self):
        pending = asyncio.ensure_future(get_database()["todos"].insert_one({"task": "buy milk"}))
        request = await self.host.receive()
        denied = {**snapshot("service_permission_denied"), "id": request["id"]}
        self.host.send(denied)
        with self.assertRaises(ServiceError) as raised:
            await pending
        self.assertEqual(raised.exception.code, -32030)
        self.assertEqual(str(raised.exception), denied["error"]["message"])
        self.assertIn("add `database`", raised.exception.message)
