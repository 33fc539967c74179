"""The guide's three example plugins in plugins/ and the `chronicle plugin new --lang python`
template, each run by the real runner from a copy in a temporary plugins folder."""

import subprocess
import sys
import unittest
from datetime import datetime

from support import REPO_ROOT, PluginProcess, PluginsDir, child_env, handle_event_params

TEMPLATE_DIR = REPO_ROOT / "crates" / "cli" / "templates" / "python_plugin"


class ExampleTestCase(unittest.TestCase):
    def run_copy(self, source, plugin_id, settings=None):
        """Starts the runner on a copy of `source` named `plugin_id`; returns it and its handshake."""
        plugins = PluginsDir(self)
        plugins.copy(source, plugin_id)
        plugin = PluginProcess(self, plugins.path, plugin_id)
        return plugin, plugin.initialize(settings=settings)

    def deliver(self, plugin, event, data, context_id="ctx-1"):
        plugin.request(2, "handle_event", handle_event_params(context_id, event=event, data=data, plugin_id=plugin.plugin_id))

    def answer_insert(self, plugin, inserted_id="doc-1"):
        """Answers the plugin's next request, which must be a db.insert_one; returns its params."""
        request = plugin.receive()
        self.assertEqual(request["method"], "db.insert_one", request)
        plugin.answer(request["id"], {"inserted_id": inserted_id})
        return request["params"]


class TodoExtractorTest(ExampleTestCase):
    def test_extracts_saves_and_reports_the_action_item(self):
        plugin, described = self.run_copy(REPO_ROOT / "plugins" / "todo_extractor_py", "todo_extractor_py")
        self.assertEqual(
            (described["events"], described["access_levels"], described["description"]),
            (["conversation.complete"], ["conversation"], "Extract and save action items from conversations."),
        )
        self.deliver(plugin, "conversation.complete", {"transcript": "I need to buy milk"})
        saved = self.answer_insert(plugin)
        self.assertEqual((saved["context_id"], saved["collection"]), ("ctx-1", "todos"))
        created_at = saved["document"].pop("created_at")
        self.assertIsInstance(datetime.fromisoformat(created_at), datetime)
        self.assertEqual(saved["document"], {"user_id": "user-1", "task": "buy milk", "completed": False})
        result = plugin.receive()["result"]["result"]
        self.assertEqual((result["success"], result["message"], result["data"]),
                         (True, "Extracted 1 action items", {"todos": ["buy milk"]}))

    def test_the_guides_unit_test_import_works_from_the_repository_root(self):
        """`from plugins.todo_extractor_py import ...`, as the guide's tests import plugins."""
        completed = subprocess.run(
            [sys.executable, "-c", "from plugins.todo_extractor_py import TodoExtractorPlugin; print(TodoExtractorPlugin.__name__)"],
            cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=10,
        )
        self.assertEqual(completed.stdout.strip(), "TodoExtractorPlugin", completed.stderr)


class KeywordAlerterTest(ExampleTestCase):
    def test_alerts_on_a_configured_keyword(self):
        plugin, described = self.run_copy(
            REPO_ROOT / "plugins" / "keyword_alerter_py", "keyword_alerter_py", settings={"keywords": ["urgent", "emergency"]}
        )
        self.assertEqual(described["events"], ["transcript.streaming", "transcript.batch"])
        self.deliver(plugin, "transcript.streaming", {"transcript": "This is URGENT, call me"})
        self.assertEqual(plugin.receive()["result"]["result"]["message"], "Alert sent for keyword: urgent")
        self.assertEqual(plugin.close_stdin(), 0)
        self.assertIn("WARNING keyword_alerter_py.plugin: Keyword alert: 'urgent'", plugin.stderr())


class AnalyticsTrackerTest(ExampleTestCase):
    def test_tracks_conversations_and_memories(self):
        plugin, described = self.run_copy(REPO_ROOT / "plugins" / "analytics_tracker", "analytics_tracker")
        self.assertEqual(described["events"], ["conversation.complete", "memory.processed"])
        self.assertEqual(described["access_levels"], ["conversation", "memory"])

        self.deliver(plugin, "conversation.complete", {"transcript": "I need to buy milk", "duration": 42.5})
        stored = self.answer_insert(plugin)["document"]
        self.assertIsInstance(datetime.fromisoformat(stored.pop("timestamp")), datetime)
        self.assertEqual(stored, {"event": "conversation_complete", "user_id": "user-1", "duration": 42.5, "word_count": 5})
        self.assertIs(plugin.receive()["result"]["result"]["success"], True)

        plugin.request(3, "handle_event", handle_event_params("ctx-2", event="memory.processed", data={"memory_count": 3}))
        stored = self.answer_insert(plugin)["document"]
        self.assertEqual((stored["event"], stored["memory_count"]), ("memory_processed", 3))
        self.assertIs(plugin.receive()["result"]["result"]["success"], True)


class PythonTemplateTest(ExampleTestCase):
    def test_the_template_runs_as_is(self):
        plugin, described = self.run_copy(TEMPLATE_DIR, "scaffold_example", settings={"min_words": 2})
        self.assertEqual(
            (described["name"], described["description"], described["events"]),
            ("Scaffold Example", "Counts the words of each finished conversation.", ["conversation.complete"]),
        )
        self.deliver(plugin, "conversation.complete", {"transcript": "I need to buy milk"})
        self.assertEqual(plugin.receive()["result"]["result"], {
            "success": True, "message": "5 words", "data": {"words": 5}, "should_continue": True})
        plugin.request(3, "handle_event", handle_event_params("ctx-2", data={"transcript": "Hi"}))
        self.assertIsNone(plugin.receive()["result"]["result"], "shorter than min_words: declined")

    def test_the_template_rendered_for_another_id_runs(self):
        """The CLI's textual replacements, applied as `chronicle plugin new weather_reporter --lang python` does."""
        plugins = PluginsDir(self)
        files = {}
        for path in TEMPLATE_DIR.iterdir():
            text = path.read_text(encoding="utf-8")
            files[path.name] = (
                text.replace("ScaffoldExample", "WeatherReporter")
                .replace("scaffold_example", "weather_reporter")
                .replace("Scaffold Example", "Weather Reporter")
            )
        plugins.add("weather_reporter", files)
        self.assertIn("class WeatherReporterPlugin(BasePlugin)", files["plugin.py"])
        plugin = PluginProcess(self, plugins.path, "weather_reporter")
        self.assertEqual(plugin.initialize()["name"], "Weather Reporter")
        self.assertEqual(plugin.close_stdin(), 0)
        self.assertIn("Weather Reporter plugin initialized", plugin.stderr())
