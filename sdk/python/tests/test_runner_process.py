"""`python3 -m chronicle_plugin` as the host runs it: a child process on a plugins folder, with
the test writing the host's requests to its stdin and reading its stdout."""

import json
import os
import subprocess
import sys
import time
import unittest

from support import TIMEOUT_SECONDS, PluginProcess, PluginsDir, child_env, handle_event_params, initialize_params

from chronicle_plugin.protocol import SDK_VERSION

PROBE_PLUGIN = '''
    """A plugin whose conversation handler does what the event's data.action says."""
    import asyncio
    import logging
    import os
    from datetime import datetime

    from advanced_omi_backend.database import get_database
    from advanced_omi_backend.plugins.base import BasePlugin, PluginConnectivityError, PluginResult
    from chronicle_plugin import ServiceError

    print("printed at import")
    logger = logging.getLogger(__name__)


    class ProbePlugin(BasePlugin):
        """Answers test requests."""

        SUPPORTED_ACCESS_LEVELS = ["conversation", "memory", "everything"]

        async def initialize(self):
            print("printed in initialize")
            if self.config.get("fail") == "connectivity":
                raise PluginConnectivityError("cannot reach example.invalid")
            if self.config.get("fail") == "config":
                raise ValueError("api_key is required")

        async def cleanup(self):
            logger.info("probe cleaned up")

        async def on_conversation_complete(self, context):
            action = context.data.get("action")
            if action == "echo":
                context.metadata["seen_by"] = "probe"
                return PluginResult(
                    success=True,
                    message=f"echo {context.data['transcript']}",
                    data={"event": context.event, "attempt": context.delivery.attempt,
                          "greeting": self.config.get("greeting")},
                    should_continue=False,
                )
            if action == "raise":
                raise ValueError("boom")
            if action == "insert":
                document = {"user_id": context.user_id, "task": "buy milk", "created_at": datetime(2026, 11, 25, 9, 0)}
                inserted = await get_database()["todos"].insert_one(document)
                return PluginResult(success=True, data={"inserted_id": inserted.inserted_id, "_id": document["_id"]})
            if action == "insert_denied":
                try:
                    await get_database()["todos"].insert_one({"task": "x"})
                except ServiceError as error:
                    return PluginResult(success=False, message=f"{error.code}: {error}")
            if action == "wait_for_host":
                released = await get_database()["gate"].find_one({"name": context.data["name"]})
                return PluginResult(success=True, message=f"released {released['name']}")
            if action == "print":
                print("printed by handler")
                os.write(1, b"written to fd 1\\n")
                return PluginResult(success=True)
            if action == "sleep":
                await asyncio.sleep(60)
            if action == "bad_return":
                return "yes"
            if action == "unsendable":
                context.metadata["lock"] = asyncio.Lock()
                return PluginResult(success=True)
            return None

        def on_memory_processed(self, context):
            return PluginResult(success=True, message=f"{context.data['memory_count']} memories")
'''


class RunnerTestCase(unittest.TestCase):
    def start(self, plugin_id="probe", files=None):
        plugins = PluginsDir(self)
        plugins.add(plugin_id, files or {"__init__.py": "from .plugin import ProbePlugin\n", "plugin.py": PROBE_PLUGIN})
        return PluginProcess(self, plugins.path, plugin_id)

    def handle(self, plugin, request_id, context_id, **data):
        return plugin.call(request_id, "handle_event", handle_event_params(context_id, data=data, plugin_id="probe"))


class HandshakeTest(RunnerTestCase):
    def test_handshake_describes_the_plugin(self):
        plugin = self.start()
        self.assertEqual(
            plugin.initialize(),
            {
                "protocol_version": "1.0",
                "sdk_version": "chronicle-plugin-python 0.1.0",
                "name": "Probe",
                "description": "Answers test requests.",
                "access_levels": ["conversation", "memory"],
                "events": ["conversation.complete", "memory.processed"],
            },
        )

    def test_an_incompatible_host_protocol_is_refused_naming_both_versions(self):
        plugin = self.start()
        answer = plugin.call(1, "initialize", initialize_params("probe", protocol_version="2.0"))
        self.assertEqual(answer["error"]["code"], -32010)
        self.assertEqual(
            answer["error"]["message"],
            f"plugin `probe` speaks protocol 1.0 (SDK {SDK_VERSION}), which is not compatible with the host's protocol 2.0",
        )
        newer_minor = plugin.call(2, "initialize", initialize_params("probe", protocol_version="1.7"))
        self.assertIn("result", newer_minor, "the same major version is compatible")

    def test_an_unreachable_dependency_and_a_broken_config_are_told_apart(self):
        plugin = self.start()
        unreachable = plugin.call(1, "initialize", initialize_params("probe", settings={"fail": "connectivity"}))
        self.assertEqual(unreachable["error"], {"code": -32011, "message": "PluginConnectivityError: cannot reach example.invalid"})
        broken = plugin.call(2, "initialize", initialize_params("probe", settings={"fail": "config"}))
        self.assertEqual(broken["error"], {"code": -32012, "message": "ValueError: api_key is required"})
        self.assertIn("result", plugin.call(3, "initialize", initialize_params("probe")), "a retry may succeed")
        plugin.close_stdin()
        self.assertIn("Traceback", plugin.stderr())

    def test_requests_before_the_handshake_and_unknown_methods_are_refused(self):
        plugin = self.start()
        self.assertEqual(plugin.call(7, "health_check", {})["error"]["code"], -32600)
        plugin.initialize()
        self.assertEqual(plugin.call(8, "shutdown_now", {})["error"], {"code": -32601, "message": "unknown method `shutdown_now`"})


class HandleEventTest(RunnerTestCase):
    def setUp(self):
        self.plugin = self.start()
        self.plugin.initialize(settings={"greeting": "hello"})

    def test_result_and_metadata_round_trip(self):
        params = handle_event_params("ctx-1", data={"action": "echo", "transcript": "hi"}, metadata={"end_reason": "user_stopped"})
        answer = self.plugin.call(2, "handle_event", params)
        self.assertEqual(
            answer["result"],
            {
                "result": {"success": True, "message": "echo hi",
                           "data": {"event": "conversation.complete", "attempt": 1, "greeting": "hello"},
                           "should_continue": False},
                "metadata": {"end_reason": "user_stopped", "seen_by": "probe"},
            },
        )

    def test_a_decline_is_a_null_result_with_the_metadata_unchanged(self):
        params = handle_event_params("ctx-1", data={"action": "nothing"}, metadata={"k": [1, 2]})
        self.assertEqual(self.plugin.call(2, "handle_event", params)["result"], {"result": None, "metadata": {"k": [1, 2]}})

    def test_a_plain_def_handler_works_too(self):
        params = handle_event_params("ctx-1", event="memory.processed", data={"memory_count": 2})
        self.assertEqual(self.plugin.call(2, "handle_event", params)["result"]["result"]["message"], "2 memories")

    def test_a_raising_handler_is_a_handler_failure_with_its_traceback(self):
        error = self.handle(self.plugin, 2, "ctx-1", action="raise")["error"]
        self.assertEqual((error["code"], error["message"]), (-32020, "ValueError: boom"))
        self.assertIn('plugin.py", line', error["data"]["traceback"])
        self.assertIn("in on_conversation_complete", error["data"]["traceback"])
        self.assertNotIn("runner.py", error["data"]["traceback"], "the SDK's own frame is left out")
        self.assertEqual(self.plugin.close_stdin(), 0)
        self.assertIn("ValueError: boom", self.plugin.stderr())
        self.assertIn("Traceback", self.plugin.stderr())

    def test_a_handler_returning_something_else_is_a_handler_failure(self):
        error = self.handle(self.plugin, 2, "ctx-1", action="bad_return")["error"]
        self.assertEqual(error, {"code": -32020, "message": "handler returned str, expected PluginResult or None"})

    def test_metadata_json_cannot_hold_is_a_handler_failure(self):
        error = self.handle(self.plugin, 2, "ctx-1", action="unsendable")["error"]
        self.assertEqual(error["code"], -32020)
        self.assertTrue(error["message"].startswith("the handler's result or metadata cannot be sent: a Lock"), error)

    def test_get_database_insert_carries_the_events_context_id_and_returns_the_hosts_answer(self):
        self.plugin.request(2, "handle_event", handle_event_params("ctx-insert", data={"action": "insert"}))
        service_request = self.plugin.receive()
        self.assertEqual(service_request["method"], "db.insert_one")
        self.assertEqual(
            service_request["params"],
            {"context_id": "ctx-insert", "collection": "todos",
             "document": {"user_id": "user-1", "task": "buy milk", "created_at": "2026-11-25T09:00:00"}},
        )
        self.plugin.answer(service_request["id"], {"inserted_id": "doc-42"})
        answer = self.plugin.receive()
        self.assertEqual(answer["id"], 2)
        self.assertEqual(answer["result"]["result"]["data"], {"inserted_id": "doc-42", "_id": "doc-42"})

    def test_a_denied_service_raises_service_error_inside_the_plugin(self):
        self.plugin.request(2, "handle_event", handle_event_params("ctx-1", data={"action": "insert_denied"}))
        service_request = self.plugin.receive()
        denied = "plugin `probe` may not use insert_one: add `database` to its `permissions` in config/plugins.yml"
        self.plugin.send({"jsonrpc": "2.0", "id": service_request["id"], "error": {"code": -32030, "message": denied}})
        result = self.plugin.receive()["result"]["result"]
        self.assertEqual((result["success"], result["message"]), (False, f"-32030: {denied}"))

    def test_two_events_in_flight_are_answered_independently(self):
        self.plugin.request(2, "handle_event", handle_event_params("ctx-a", data={"action": "wait_for_host", "name": "a"}))
        held = self.plugin.receive()
        self.assertEqual((held["method"], held["params"]["context_id"]), ("db.find_one", "ctx-a"))
        # While event 2 waits for the host, event 3 is served in full.
        answer = self.handle(self.plugin, 3, "ctx-b", action="echo", transcript="second")
        self.assertEqual(answer["result"]["result"]["message"], "echo second")
        self.plugin.answer(held["id"], {"name": "a"})
        self.assertEqual(self.plugin.receive(), {"jsonrpc": "2.0", "id": 2, "result": {
            "result": {"success": True, "message": "released a", "data": {}, "should_continue": True},
            "metadata": {}}})

    def test_print_and_fd_1_writes_go_to_stderr_not_the_protocol(self):
        self.assertEqual(self.handle(self.plugin, 2, "ctx-1", action="print")["result"]["result"]["success"], True)
        self.assertEqual(self.plugin.close_stdin(), 0)
        self.assertEqual(self.plugin.remaining_stdout(), [])
        stderr = self.plugin.stderr()
        for printed in ("printed at import", "printed in initialize", "printed by handler", "written to fd 1"):
            self.assertIn(printed, stderr)

    def test_health_check_and_cleanup(self):
        self.assertEqual(self.plugin.call(2, "health_check", {})["result"], {"ok": True, "message": "No external service to check"})
        self.assertEqual(self.plugin.call(3, "cleanup", {}), {"jsonrpc": "2.0", "id": 3, "result": None})
        self.assertEqual(self.plugin.close_stdin(), 0)
        self.assertIn("probe cleaned up", self.plugin.stderr())

    def test_end_of_stdin_exits_0_even_with_a_handler_in_flight(self):
        self.plugin.request(2, "handle_event", handle_event_params("ctx-1", data={"action": "sleep"}))
        started = time.monotonic()
        self.assertEqual(self.plugin.close_stdin(), 0)
        self.assertLess(time.monotonic() - started, 5)


SEARCH_PLUGIN = '''
    """Searches from an async handler and from a plain def one."""
    from chronicle_plugin import BasePlugin, PluginResult, ServiceError


    class SearcherPlugin(BasePlugin):
        """Searches."""

        async def on_conversation_complete(self, context):
            try:
                found = await context.services.search(context.data["query"], kind="memory")
            except ServiceError as error:
                return PluginResult(success=False, message=f"{error.code}: {error}")
            return PluginResult(success=True, data={"ids": [hit.id for hit in found.hits], "ranking": found.ranking})

        def on_memory_processed(self, context):
            found = context.services.search_blocking("dentist yesterday", limit=3)
            return PluginResult(success=True, message=found.hits[0].snippet)
'''
SEARCH_ANSWER = {"searched_for": "dentist", "time_filter": None, "ranking": "bm25", "note": "by words", "hits": [
    {"kind": "memory", "id": "mem-1", "conversation_id": None, "time": "2026-11-24T18:00:00Z", "offset_seconds": None,
     "speaker": None, "score": 1.5, "snippet": "the <mark>dentist</mark>", "matched_by": "words"}]}


class SearchServiceTest(RunnerTestCase):
    def setUp(self):
        self.plugin = self.start("searcher", {"__init__.py": "from .plugin import SearcherPlugin\n",
                                              "plugin.py": SEARCH_PLUGIN})
        self.plugin.initialize()

    def test_an_async_handler_searches_with_its_events_context_id(self):
        params = handle_event_params("ctx-s", data={"query": "dentist"}, plugin_id="searcher")
        self.plugin.request(2, "handle_event", params)
        service_request = self.plugin.receive()
        self.assertEqual((service_request["method"], service_request["params"]),
                         ("search.query", {"context_id": "ctx-s", "query": "dentist", "kind": "memory", "limit": 10}))
        self.plugin.answer(service_request["id"], SEARCH_ANSWER)
        result = self.plugin.receive()["result"]["result"]
        self.assertEqual(result["data"], {"ids": ["mem-1"], "ranking": "bm25"})

    def test_a_denied_search_raises_service_error_inside_the_plugin(self):
        params = handle_event_params("ctx-s", data={"query": "dentist"}, plugin_id="searcher")
        self.plugin.request(2, "handle_event", params)
        service_request = self.plugin.receive()
        denied = "plugin `searcher` may not use search: add `search` to its `permissions` in config/plugins.yml"
        self.plugin.send({"jsonrpc": "2.0", "id": service_request["id"], "error": {"code": -32030, "message": denied}})
        result = self.plugin.receive()["result"]["result"]
        self.assertEqual((result["success"], result["message"]), (False, f"-32030: {denied}"))

    def test_a_plain_def_handler_searches_with_search_blocking(self):
        params = handle_event_params("ctx-m", event="memory.processed", data={"memory_count": 1}, plugin_id="searcher")
        self.plugin.request(2, "handle_event", params)
        service_request = self.plugin.receive()
        self.assertEqual((service_request["method"], service_request["params"]),
                         ("search.query", {"context_id": "ctx-m", "query": "dentist yesterday", "limit": 3}))
        self.plugin.answer(service_request["id"], SEARCH_ANSWER)
        answer = self.plugin.receive()
        self.assertEqual(answer["id"], 2)
        self.assertEqual(answer["result"]["result"]["message"], "the <mark>dentist</mark>")


class ClassSelectionTest(RunnerTestCase):
    def describe(self, plugin_id, files):
        plugin = self.start(plugin_id, files)
        return plugin, plugin.call(1, "initialize", initialize_params(plugin_id))

    def test_the_pascal_case_name_wins_over_other_subclasses(self):
        _, answer = self.describe("lights_on", {
            "__init__.py": "from .plugin import Helper, LightsOnPlugin\n",
            "plugin.py": '''
                from chronicle_plugin import BasePlugin
                class Helper(BasePlugin):
                    """The helper."""
                class LightsOnPlugin(BasePlugin):
                    """The PascalCase one."""
            ''',
        })
        self.assertEqual(answer["result"]["description"], "The PascalCase one.")

    def test_a_single_subclass_under_another_name_is_taken(self):
        _, answer = self.describe("keyword_alerter_py", {
            "__init__.py": "from .plugin import KeywordAlerterPlugin\n",
            "plugin.py": '''
                from advanced_omi_backend.plugins.base import BasePlugin
                class KeywordAlerterPlugin(BasePlugin):
                    """Named for another id."""
            ''',
        })
        self.assertEqual(answer["result"]["description"], "Named for another id.")

    def test_the_plugin_submodule_is_searched_when_init_exports_nothing(self):
        _, answer = self.describe("split_package", {
            "__init__.py": "",
            "plugin.py": 'from plugins.base import BasePlugin\nclass Anything(BasePlugin):\n    """In plugin.py."""\n',
        })
        self.assertEqual(answer["result"]["description"], "In plugin.py.")

    def test_a_folder_with_plugin_py_and_no_init_is_loaded_directly(self):
        _, answer = self.describe("bare_file", {
            "plugin.py": 'from chronicle_plugin import BasePlugin\nclass BareFilePlugin(BasePlugin):\n    """Loose file."""\n',
        })
        self.assertEqual(answer["result"]["description"], "Loose file.")

    def test_a_folder_without_a_plugin_class_is_a_clear_initialize_error(self):
        plugin, answer = self.describe("no_class", {"__init__.py": "VALUE = 1\n", "plugin.py": "class NoClassPlugin:\n    pass\n"})
        self.assertEqual(answer["error"]["code"], -32012)
        message = answer["error"]["message"]
        self.assertIn("no plugin class in no_class and no_class.plugin", message)
        self.assertIn("`NoClassPlugin`, a subclass of BasePlugin", message)
        self.assertEqual(plugin.close_stdin(), 0)

    def test_several_candidates_without_the_pascal_case_name_are_named(self):
        _, answer = self.describe("two_classes", {
            "__init__.py": "from chronicle_plugin import BasePlugin\nclass A(BasePlugin): pass\nclass B(BasePlugin): pass\n",
        })
        self.assertEqual(answer["error"]["code"], -32012)
        self.assertIn("two_classes.A, two_classes.B", answer["error"]["message"])
        self.assertIn("`TwoClassesPlugin`", answer["error"]["message"])

    def test_an_import_error_is_the_answer_to_initialize_with_the_traceback_on_stderr(self):
        plugin, answer = self.describe("broken_import", {"__init__.py": "import no_such_module_here\n"})
        self.assertEqual(answer["error"]["code"], -32012)
        self.assertIn("ModuleNotFoundError: No module named 'no_such_module_here'", answer["error"]["message"])
        self.assertEqual(plugin.close_stdin(), 0)
        self.assertIn("Traceback", plugin.stderr())


class ParentWatchdogTest(unittest.TestCase):
    def test_the_runner_exits_when_its_parent_dies(self):
        """The runner's parent is killed while this test still holds the runner's stdin open,
        so only the parent check can end the orphan, which then closes the stdout it shares
        with the dead parent."""
        plugins = PluginsDir(self)
        stdin_read, stdin_write = os.pipe()
        runner = [sys.executable, "-m", "chronicle_plugin", "--plugin-id", "absent", "--plugins-dir", str(plugins.path)]
        parent = subprocess.Popen(
            [sys.executable, "-c", "import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(60)", *runner],
            stdin=stdin_read, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=child_env(),
        )
        os.close(stdin_read)
        self.addCleanup(os.close, stdin_write)
        request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": initialize_params("absent")}
        os.write(stdin_write, (json.dumps(request) + "\n").encode())
        # An answer means the runner is serving, so its watchdog is running.
        self.assertEqual(json.loads(parent.stdout.readline())["id"], 1)
        parent.kill()
        stdout, stderr = parent.communicate(timeout=TIMEOUT_SECONDS)
        self.assertEqual(stdout, b"")
        self.assertIn(b"is gone; exiting", stderr)
