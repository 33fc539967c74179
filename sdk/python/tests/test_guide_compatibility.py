"""The plugin development guide's imports and examples, as written, against the SDK."""

import asyncio
import importlib
import unittest
import unittest.mock

import support  # noqa: F401  (puts the SDK on sys.path)

import chronicle_plugin
from chronicle_plugin import BasePlugin, PluginContext, PluginEvent, PluginResult
from chronicle_plugin.base import handled_events
from chronicle_plugin.messages import initialize_result

# Every import the guide and the Python original's plugins use, with the names each must give.
GUIDE_IMPORTS = {
    "advanced_omi_backend.plugins": ["BasePlugin", "PluginContext", "PluginResult", "PluginEvent", "PluginServices"],
    "advanced_omi_backend.plugins.base": ["BasePlugin", "PluginContext", "PluginResult", "PluginConnectivityError"],
    "advanced_omi_backend.plugins.events": ["PluginEvent", "ButtonState", "ButtonActionType", "ConversationCloseReason"],
    "advanced_omi_backend.plugins.services": ["PluginServices"],
    "advanced_omi_backend.database": ["get_database"],
    "advanced_omi_backend.llm_client": ["async_generate"],
    "plugins.base": ["BasePlugin", "PluginContext", "PluginResult", "PluginConnectivityError"],
}


class ImportsTest(unittest.TestCase):
    def test_the_guides_imports_give_the_sdks_own_objects(self):
        for module_name, names in GUIDE_IMPORTS.items():
            module = importlib.import_module(module_name)
            for name in names:
                with self.subTest(f"from {module_name} import {name}"):
                    self.assertIs(getattr(module, name), getattr(chronicle_plugin, name))

    def test_the_public_names_and_versions(self):
        self.assertEqual(chronicle_plugin.__version__, "0.1.0")
        self.assertEqual(chronicle_plugin.PROTOCOL_VERSION, "1.0")
        for name in chronicle_plugin.__all__:
            self.assertTrue(hasattr(chronicle_plugin, name), name)


class EventsTest(unittest.TestCase):
    def test_the_events_compare_equal_to_their_names(self):
        self.assertEqual(
            [str(event) for event in PluginEvent],
            ["transcript.streaming", "transcript.batch", "conversation.complete", "conversation.starred",
             "memory.processed", "button.single_press", "button.double_press", "button.long_press",
             "plugin_action", "wake_word.detected"],
        )
        self.assertEqual(PluginEvent.BUTTON_SINGLE_PRESS, "button.single_press")
        self.assertIsInstance(PluginEvent.PLUGIN_ACTION, str)
        self.assertEqual(f"{PluginEvent.MEMORY_PROCESSED}", "memory.processed")


class MyPlugin(BasePlugin):
    """The guide's Quick Start handler."""

    async def on_conversation_complete(self, context: PluginContext):
        transcript = context.data.get("transcript", "")
        print(f"Processing: {transcript}")
        return PluginResult(success=True, message="Processing complete")


class GuideUnitTestExample(unittest.TestCase):
    """The guide's "Unit Tests" section, with pytest's asyncio marker replaced by asyncio.run."""

    def test_plugin_initialization(self):
        from plugins.base import PluginContext as GuidePluginContext

        self.assertIs(GuidePluginContext, PluginContext)
        config = {"enabled": True, "events": ["conversation.complete"]}
        plugin = MyPlugin(config)
        self.assertIs(plugin.enabled, True)

    def test_conversation_processing(self):
        async def scenario():
            plugin = MyPlugin({"enabled": True})
            await plugin.initialize()
            context = PluginContext(user_id="test-user", event="conversation.complete",
                                    data={"transcript": "Test transcript"})
            return await plugin.on_conversation_complete(context)

        with unittest.mock.patch("sys.stdout"):
            result = asyncio.run(scenario())
        self.assertIs(result.success, True)


class BasePluginTest(unittest.TestCase):
    def test_defaults_follow_the_python_original(self):
        plugin = BasePlugin({})
        self.assertEqual(
            (plugin.enabled, plugin.events, plugin.condition, plugin.priority),
            (False, [], {"type": "always"}, 100),
        )
        self.assertEqual(asyncio.run(plugin.health_check()), {"ok": True, "message": "No external service to check"})
        self.assertIsNone(asyncio.run(plugin.on_transcript(PluginContext("u", PluginEvent.TRANSCRIPT_BATCH, {}))))

    def test_deprecated_subscriptions_and_trigger_still_work(self):
        with self.assertLogs("chronicle_plugin.base", "WARNING") as logs:
            plugin = BasePlugin({"subscriptions": ["memory.processed"], "trigger": {"type": "wake_word"}})
        self.assertEqual(plugin.events, ["memory.processed"])
        self.assertEqual(plugin.condition, {"type": "wake_word"})
        self.assertEqual(len(logs.output), 2)

    def test_the_handlers_a_class_overrides_are_the_events_it_handles(self):
        class Buttons(BasePlugin):
            def on_button_event(self, context):
                return None

        self.assertEqual(handled_events(BasePlugin), [])
        self.assertEqual(handled_events(MyPlugin), [PluginEvent.CONVERSATION_COMPLETE])
        self.assertEqual(
            [str(event) for event in handled_events(Buttons)],
            ["button.single_press", "button.double_press", "button.long_press"],
        )

    def test_name_defaults_to_the_id_in_title_case_and_description_to_the_docstring(self):
        described = initialize_result(MyPlugin({}), "my_awesome_plugin")
        self.assertEqual(described["name"], "My Awesome Plugin")
        self.assertEqual(described["description"], "The guide's Quick Start handler.")

        class Undocumented(BasePlugin):
            pass

        self.assertEqual(initialize_result(Undocumented({}), "bare")["description"], "", "not BasePlugin's docstring")
